"""The async adapter on an injected clock: fast path, waiting, priority order on release,
TTL (429 + Retry-After), capacity, cancellation, and stop (503 for everyone queued)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest

from inference_gateway.datastore.types import Endpoint, Metrics
from inference_gateway.requestcontrol.flowcontrol.admission import (
    FlowControl,
    QueueError,
    Ticket,
)
from inference_gateway.requestcontrol.flowcontrol.config import BandConfig, FlowControlConfig
from inference_gateway.requestcontrol.flowcontrol.gate import SaturationGate
from inference_gateway.requestcontrol.flowcontrol.types import FlowKey


class Pool:
    """One endpoint whose waiting count the test sets; the clock is ``now``."""

    def __init__(self) -> None:
        self.now = 100.0
        self.waiting = 0
        self.in_flight = 0
        self.dispatched: list[str] = []

    def endpoints(self, pool: str) -> Sequence[Endpoint]:
        m = Metrics(waiting=self.waiting, running=0, updated_at=self.now)
        return (Endpoint("p0", "10.0.0.1", 8000, metrics=m, in_flight=self.in_flight),)

    def clock(self) -> float:
        return self.now


def make(pool: Pool, **config: Any) -> FlowControl:
    return FlowControl(
        FlowControlConfig(**config), pool.endpoints, gate=SaturationGate(5, 0.8, 1.0),
        clock=pool.clock,
    )  # fmt: skip


def admit(
    fc: FlowControl, pool: Pool, name: str, priority: int = 0, flow: str = "f"
) -> Ticket | None:
    def resume(ticket: Ticket) -> str:
        pool.dispatched.append(name)
        pool.in_flight += 1  # the slot is taken synchronously, as the director does
        return name

    return fc.admit("pool", FlowKey(flow, priority), 10, resume, lambda _: None)


async def wait(fc: FlowControl, ticket: Ticket | None) -> Any:
    assert ticket is not None
    return await asyncio.wait_for(fc.wait(ticket), 5.0)


async def test_fast_path_when_nothing_queued_and_room() -> None:
    pool = Pool()
    fc = make(pool)
    assert admit(fc, pool, "a") is None
    assert fc.queued() == 0
    await fc.stop()


async def test_saturated_pool_holds_then_releases_in_priority_order() -> None:
    pool = Pool()
    pool.waiting = 9
    fc = make(pool)
    tickets = [admit(fc, pool, f"std-{i}") for i in range(3)]
    tickets.append(admit(fc, pool, "crit", priority=1))
    assert all(t is not None for t in tickets) and fc.queued() == 4
    assert pool.dispatched == []
    pool.waiting = 0
    pool.in_flight = 2  # room for 3 more (threshold 5) before the gate closes again
    fc.wake()
    assert await wait(fc, tickets[3]) == "crit"
    assert await wait(fc, tickets[0]) == "std-0"
    assert await wait(fc, tickets[1]) == "std-1"
    assert pool.dispatched == ["crit", "std-0", "std-1"]
    assert fc.queued() == 1  # the in-flight count closed the gate: no stale snapshot burst
    await fc.stop()
    with pytest.raises(QueueError) as info:
        await wait(fc, tickets[2])
    assert info.value.status == 503 and info.value.headers == {"retry-after": "1"}


async def test_ttl_expiry_answers_429_with_retry_after() -> None:
    pool = Pool()
    pool.waiting = 9
    fc = make(pool, default_ttl=2.0)
    assert admit(fc, pool, "first") is not None
    ticket = admit(fc, pool, "late")
    pool.now += 2.5  # no wake(): the dispatcher's bounded tick finds it expired
    with pytest.raises(QueueError) as info:
        await wait(fc, ticket)
    assert info.value.status == 429 and info.value.headers["retry-after"] == "1"
    assert info.value.why == "ttl" and fc.queued() == 0 and pool.dispatched == []
    assert fc._task is not None and not fc._task.done()
    await fc.stop()


async def test_full_band_refuses_at_once() -> None:
    pool = Pool()
    pool.waiting = 9
    fc = make(pool, bands={-1: BandConfig(-1, max_requests=1)})
    assert admit(fc, pool, "shed-1", priority=-1) is not None
    with pytest.raises(QueueError) as info:
        admit(fc, pool, "shed-2", priority=-1)
    assert info.value.status == 429 and info.value.why == "band-requests"
    assert admit(fc, pool, "std", priority=0) is not None
    await fc.stop()


async def test_cancelled_waiter_leaves_the_queue_and_is_never_dispatched() -> None:
    pool = Pool()
    pool.waiting = 9
    fc = make(pool)
    gone = admit(fc, pool, "gone")
    stays = admit(fc, pool, "stays")
    assert gone is not None
    waiter = asyncio.create_task(fc.wait(gone))
    await asyncio.sleep(0)  # let it start waiting (a scheduling point, not a delay)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert fc.queued() == 1
    pool.waiting = 0
    fc.wake()
    assert await wait(fc, stays) == "stays"
    assert pool.dispatched == ["stays"]
    await fc.stop()


async def test_stop_answers_every_queued_request_and_refuses_new_ones() -> None:
    pool = Pool()
    pool.waiting = 9
    fc = make(pool)
    tickets = [admit(fc, pool, str(i), priority=i % 3 - 1) for i in range(6)]
    await fc.stop()
    for t in tickets:
        with pytest.raises(QueueError) as info:
            await wait(fc, t)
        assert info.value.status == 503
    with pytest.raises(QueueError):
        admit(fc, pool, "after")
    assert pool.dispatched == []


async def test_gate_counts_requests_sent_since_the_last_scrape() -> None:
    gate = SaturationGate(queue_threshold=5, kv_threshold=0.8, staleness=1.0)
    ep = Endpoint("p", "10.0.0.1", 8000, metrics=Metrics(waiting=0, running=4, updated_at=0.0))
    assert gate.room([replace(ep, in_flight=8)], 0.5)  # 4 unseen < 5
    assert not gate.room([replace(ep, in_flight=9)], 0.5)  # 5 unseen
    assert not gate.room([ep], 1.5)  # stale
    full = replace(ep, metrics=replace(ep.metrics, kv_usage=0.9))
    assert not gate.room([full], 0.5)


class AgedPool(Pool):
    """The endpoint last answered ``age`` seconds ago; the gate's threshold is 1 s."""

    def __init__(self, age: float) -> None:
        super().__init__()
        self.age = age

    def endpoints(self, pool: str) -> Sequence[Endpoint]:
        m = Metrics(waiting=0, running=0, updated_at=self.now - self.age)
        return (Endpoint("p0", "10.0.0.1", 8000, metrics=m, in_flight=self.in_flight),)


@pytest.mark.parametrize(
    ("stall", "goes_now"),
    [(None, False), (0.4, False), (0.6, True)],
)
async def test_metrics_aged_by_the_epps_own_stall_do_not_hold_a_request(
    stall: float | None, goes_now: bool
) -> None:
    pool = AgedPool(age=1.5)
    fc = make(pool)
    if stall is not None:
        fc.stalled = lambda now, since: stall if since < now else 0.0
    ticket = admit(fc, pool, "a")
    assert (ticket is None) is goes_now
    if ticket is not None:
        pool.age = 0.0  # the next scrape answers: the dispatcher lets it go
        fc.wake()
        assert await wait(fc, ticket) == "a"
    await fc.stop()
