"""The pure flow-control core: ordering, fairness, TTL, capacity, cancellation, stop.

Time is whatever the test passes as ``now``; nothing sleeps.
"""

from __future__ import annotations

import math

import pytest

from inference_gateway.requestcontrol.flowcontrol.config import (
    BandConfig,
    FlowControlConfig,
)
from inference_gateway.requestcontrol.flowcontrol.queues import FlowQueues
from inference_gateway.requestcontrol.flowcontrol.types import CapacityError, FlowKey, Outcome

RR = "round-robin-fairness-policy"
EDF = "edf-ordering-policy"


def queues(**kw: object) -> FlowQueues[str]:
    bands = kw.pop("bands", None)
    template = kw.pop("template", BandConfig(0))
    config = FlowControlConfig(bands=bands, template=template, **kw)  # type: ignore[arg-type]
    return FlowQueues(config)


def drain_names(q: FlowQueues[str]) -> list[str]:
    out: list[str] = []
    for _ in range(1000):
        item = q.next_item()
        if item is None:
            return out
        assert item.payload is not None and item.outcome is Outcome.DISPATCHED
        out.append(item.payload)
    raise AssertionError("queue never emptied")


def test_highest_band_first_then_arrival_order() -> None:
    q = queues()
    q.enqueue(FlowKey("a", 0), 10, 0.0, "std-1")
    q.enqueue(FlowKey("a", -1), 10, 1.0, "shed-1")
    q.enqueue(FlowKey("a", 0), 10, 2.0, "std-2")
    q.enqueue(FlowKey("a", 1), 10, 3.0, "crit-1")
    assert drain_names(q) == ["crit-1", "std-1", "std-2", "shed-1"]
    assert len(q) == 0 and q.bytes == 0


def test_critical_after_fifty_standard_goes_first() -> None:
    q = queues()
    for i in range(50):
        q.enqueue(FlowKey("default-flow", 0), 100, float(i), f"std-{i}")
    q.enqueue(FlowKey("default-flow", 1), 100, 50.0, "crit")
    assert q.next_item().payload == "crit"  # type: ignore[union-attr]
    assert drain_names(q) == [f"std-{i}" for i in range(50)]


def test_global_strict_fairness_serves_band_in_arrival_order_across_flows() -> None:
    q = queues()
    for i, flow in enumerate(["heavy", "heavy", "heavy", "light", "heavy"]):
        q.enqueue(FlowKey(flow, 0), 1, float(i), f"{flow}-{i}")
    assert drain_names(q) == ["heavy-0", "heavy-1", "heavy-2", "light-3", "heavy-4"]


def test_round_robin_fairness_alternates_flows() -> None:
    q = queues(template=BandConfig(0, fairness=RR))
    for i in range(6):
        q.enqueue(FlowKey("heavy", 0), 1, float(i), f"h{i}")
    q.enqueue(FlowKey("light", 0), 1, 6.0, "l0")
    q.enqueue(FlowKey("light", 0), 1, 7.0, "l1")
    assert drain_names(q) == ["h0", "l0", "h1", "l1", "h2", "h3", "h4", "h5"]


def test_round_robin_keeps_turns_when_a_flow_empties_and_returns() -> None:
    q = queues(template=BandConfig(0, fairness=RR))
    q.enqueue(FlowKey("a", 0), 1, 0.0, "a0")
    q.enqueue(FlowKey("b", 0), 1, 0.0, "b0")
    q.enqueue(FlowKey("c", 0), 1, 0.0, "c0")
    q.enqueue(FlowKey("b", 0), 1, 0.0, "b1")
    assert q.next_item().payload == "a0"  # type: ignore[union-attr]
    q.enqueue(FlowKey("a", 0), 1, 1.0, "a1")  # "a" emptied and rejoins at the end
    assert drain_names(q) == ["b0", "c0", "a1", "b1"]


def test_edf_ordering_serves_earliest_deadline_first() -> None:
    q = queues(template=BandConfig(0, ordering=EDF))
    q.enqueue(FlowKey("a", 0), 1, 0.0, "long", ttl=10.0)
    q.enqueue(FlowKey("a", 0), 1, 1.0, "short", ttl=2.0)
    q.enqueue(FlowKey("a", 0), 1, 2.0, "none")
    assert drain_names(q) == ["short", "long", "none"]


def test_slo_deadline_ordering_serves_earliest_ttft_deadline_first_then_the_rest() -> None:
    q = queues(template=BandConfig(0, ordering="slo-deadline-ordering-policy"))
    q.enqueue(FlowKey("a", 0), 1, 0.0, "no-slo-1")
    q.enqueue(FlowKey("a", 0), 1, 1.0, "loose", slo_ttft=10.0)  # due at 11
    q.enqueue(FlowKey("b", 0), 1, 2.0, "tight", slo_ttft=2.0)  # due at 4, another flow
    q.enqueue(FlowKey("a", 0), 1, 3.0, "tight-too", slo_ttft=1.0)  # also due at 4
    q.enqueue(FlowKey("a", 0), 1, 4.0, "no-slo-2")
    # Equal deadlines by arrival; requests without an objective after, by arrival.
    assert drain_names(q) == ["tight", "tight-too", "loose", "no-slo-1", "no-slo-2"]


def test_ttl_expiry_takes_out_only_expired_requests() -> None:
    q = queues(default_ttl=5.0)
    a, _ = q.enqueue(FlowKey("a", 0), 7, 0.0, "a")
    b, _ = q.enqueue(FlowKey("a", 0), 9, 2.0, "b")
    assert q.next_deadline() == 5.0
    assert q.expire(4.999) == []
    assert q.expire(5.0) == [a] and a.outcome is Outcome.EVICTED_TTL
    assert len(q) == 1 and q.bytes == 9
    assert q.next_deadline() == 7.0
    assert drain_names(q) == ["b"]
    assert q.expire(100.0) == [] and b.outcome is Outcome.DISPATCHED


def test_no_ttl_means_no_deadline() -> None:
    q = queues()
    item, _ = q.enqueue(FlowKey("a", 0), 1, 0.0, "a")
    assert item.deadline == math.inf and q.next_deadline() == math.inf
    assert q.expire(1e9) == []


@pytest.mark.parametrize(
    ("band", "limit"),
    [
        (BandConfig(0, max_requests=2), "band-requests"),
        (BandConfig(0, max_bytes=250), "band-bytes"),
    ],
)
def test_band_capacity_refuses_the_newcomer(band: BandConfig, limit: str) -> None:
    q = queues(bands={0: band})
    q.enqueue(FlowKey("a", 0), 100, 0.0, "a")
    q.enqueue(FlowKey("a", 0), 100, 0.0, "b")
    with pytest.raises(CapacityError) as info:
        q.enqueue(FlowKey("a", 0), 100, 0.0, "c")
    assert info.value.limit == limit
    assert len(q) == 2
    q.enqueue(FlowKey("a", 1), 100, 0.0, "other band")  # another band is unaffected


def test_global_capacity_displaces_newest_lower_priority_request() -> None:
    q = queues(max_requests=3)
    q.enqueue(FlowKey("a", -1), 1, 0.0, "shed-old")
    q.enqueue(FlowKey("a", -1), 1, 1.0, "shed-new")
    q.enqueue(FlowKey("a", 0), 1, 2.0, "std")
    _, displaced = q.enqueue(FlowKey("a", 1), 1, 3.0, "crit")
    assert [d.payload for d in displaced] == ["shed-new"]
    assert displaced[0].outcome is Outcome.EVICTED_DISPLACED
    assert drain_names(q) == ["crit", "std", "shed-old"]


def test_global_capacity_refuses_when_nothing_lower_is_queued() -> None:
    q = queues(max_bytes=10)
    q.enqueue(FlowKey("a", 1), 6, 0.0, "crit")
    q.enqueue(FlowKey("a", -1), 4, 0.0, "shed")
    with pytest.raises(CapacityError) as info:
        q.enqueue(FlowKey("a", -1), 1, 0.0, "shed-2")  # same band: never displaces its own
    assert info.value.limit == "global-bytes"
    with pytest.raises(CapacityError):
        q.enqueue(FlowKey("a", 0), 5, 0.0, "too big even without the sheddable one")
    assert len(q) == 2 and q.bytes == 10


def test_cancelled_request_leaves_at_once_and_is_never_dispatched() -> None:
    q = queues(template=BandConfig(0, fairness=RR))
    a, _ = q.enqueue(FlowKey("a", 0), 5, 0.0, "a")
    b, _ = q.enqueue(FlowKey("b", 0), 5, 0.0, "b")
    assert q.remove(a, Outcome.CANCELLED)
    assert len(q) == 1 and q.bytes == 5 and a.outcome is Outcome.CANCELLED
    assert not q.remove(a, Outcome.CANCELLED)
    assert drain_names(q) == ["b"]
    assert not q.remove(b, Outcome.CANCELLED)


def test_drain_takes_everything_highest_band_first() -> None:
    q = queues(default_ttl=1.0)
    q.enqueue(FlowKey("a", 0), 1, 0.0, "std")
    q.enqueue(FlowKey("b", 1), 1, 0.0, "crit")
    q.enqueue(FlowKey("a", -1), 1, 0.0, "shed")
    out = q.drain(Outcome.SHUTDOWN)
    assert [i.payload for i in out] == ["crit", "std", "shed"]
    assert all(i.outcome is Outcome.SHUTDOWN for i in out)
    assert len(q) == 0 and q.next_item() is None and q.expire(10.0) == []


def test_empty_flows_are_forgotten() -> None:
    q = queues()
    for i in range(100):
        item, _ = q.enqueue(FlowKey(f"tenant-{i}", 0), 1, 0.0, str(i))
        q.remove(item, Outcome.CANCELLED)
    assert q.band(0).flows == {} and q.band(0).active == []
