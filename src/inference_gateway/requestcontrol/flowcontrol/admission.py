"""The async side of flow control: requests wait on a future, one task dispatches them.

``admit`` is synchronous and is the fast path: with nothing queued for the pool and room
in it, it returns None and the caller schedules at once, as without flow control. Otherwise
the request is queued with a continuation (``resume``: schedule it and take the pod slot)
and gets a ``Ticket``; ``wait`` awaits it. Dispatch runs ``resume`` synchronously, one
request at a time, so the EPP's in-flight count already includes every dispatched request
when the gate is asked again. A request holds no pod slot while it waits.

Dispatch cycles run on ``wake`` (a request finished, or metrics changed) and on a bounded
tick while anything is queued (``TICK_SECONDS``), which also expires requests past their
TTL (429 with ``Retry-After``). A waiter that is cancelled (the client hung up, so Envoy
cancelled the ext_proc stream) leaves its queue at once. ``stop`` answers every queued
request 503 with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from inference_gateway.aio import spawn, stop
from inference_gateway.datastore.types import Endpoint
from inference_gateway.requestcontrol.capacity import Stalled, attentive_now
from inference_gateway.requestcontrol.flowcontrol.config import FlowControlConfig
from inference_gateway.requestcontrol.flowcontrol.gate import Gate, SaturationGate
from inference_gateway.requestcontrol.flowcontrol.queues import FlowQueues
from inference_gateway.requestcontrol.flowcontrol.types import (
    CapacityError,
    FlowKey,
    Outcome,
    QueueItem,
)
from inference_gateway.requestcontrol.flowcontrol.usage import (
    NO_LIMIT,
    UsageLimitPolicy,
    dispatch_ceiling,
)
from inference_gateway.requestcontrol.types import GatewayError

log = logging.getLogger(__name__)

TICK_SECONDS = 0.02
"""Longest pause between dispatch cycles while requests wait: below the 50 ms scrape
period, so a pod that reports room is used within one scrape plus this."""
RETRY_AFTER_SECONDS = 1
"""What a 429/503 from the queue tells the client: the queue turns over in about that."""


@dataclass(frozen=True, slots=True)
class QueueLabels:
    """Where a queued request is going, for upstream's metric labels."""

    pool: str = ""
    model: str = ""
    target: str = ""


NO_LABELS = QueueLabels()


class FlowMetrics(Protocol):
    def enqueued(self, key: FlowKey, size: int, where: QueueLabels) -> None: ...

    def left(
        self, key: FlowKey, size: int, outcome: str, waited: float, where: QueueLabels
    ) -> None: ...

    def rejected(self, key: FlowKey, reason: str) -> None: ...

    def saturation(self, pool: str, value: float) -> None: ...


class NullFlowMetrics:
    def enqueued(self, key: FlowKey, size: int, where: QueueLabels) -> None:
        pass

    def left(
        self, key: FlowKey, size: int, outcome: str, waited: float, where: QueueLabels
    ) -> None:
        pass

    def rejected(self, key: FlowKey, reason: str) -> None:
        pass

    def saturation(self, pool: str, value: float) -> None:
        pass


class QueueError(GatewayError):
    """A 429/503 from flow control; ``headers`` go on the error response."""

    def __init__(self, status: int, message: str, *, why: str) -> None:
        code, reason = (
            ("rate_limit_exceeded", "ResourceExhausted")
            if status == 429
            else ("service_unavailable", "ServiceUnavailable")
        )
        super().__init__(status, message, code=code, reason=reason)
        self.why = why
        self.headers = {"retry-after": str(RETRY_AFTER_SECONDS)}


@dataclass(slots=True, eq=False)
class Ticket:
    pool: str
    item: QueueItem[Ticket]
    resume: Callable[[Ticket], Any]
    """Schedules the request and takes its pod slot; run by the dispatcher."""
    abandon: Callable[[Any], None]
    """Gives back what ``resume`` returned when the waiter left before taking it."""
    future: asyncio.Future[Any] = field(repr=False)
    where: QueueLabels = NO_LABELS
    held_by: str = ""
    """Why it was queued: ``others-ahead`` (the queue was not empty), ``pool-saturated``
    (no pod had room), ``usage-limit`` (room, but not under its band's ceiling)."""
    why: str = ""
    waited: float = 0.0


class FlowControl:
    def __init__(
        self,
        config: FlowControlConfig,
        endpoints: Callable[[str], Sequence[Endpoint]],
        *,
        gate: Gate | None = None,
        usage: UsageLimitPolicy = NO_LIMIT,
        clock: Callable[[], float] = time.monotonic,
        metrics: FlowMetrics | None = None,
    ) -> None:
        self.config = config
        self._endpoints = endpoints
        self.gate: Gate = gate if gate is not None else SaturationGate()
        self.usage = usage
        self.clock = clock
        self.metrics: FlowMetrics = metrics if metrics is not None else NullFlowMetrics()
        self.queues: dict[str, FlowQueues[Ticket]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopped = False
        self.stalled: Stalled | None = None
        """The EPP's own loop stalls, not counted against the pods' metrics (``capacity``)."""

    # --- request side -----------------------------------------------------------------
    def admit(
        self,
        pool: str,
        key: FlowKey,
        size: int,
        resume: Callable[[Ticket], Any],
        abandon: Callable[[Any], None],
        endpoints: Sequence[Endpoint] | None = None,
        where: QueueLabels = NO_LABELS,
        slo_ttft: float | None = None,
    ) -> Ticket | None:
        """None: go now. Else queued: ``await wait(ticket)``. Raises ``QueueError``.

        ``endpoints`` are the pool's endpoints when the caller has them at hand; ``where``
        labels the queue metrics; ``slo_ttft`` is the request's TTFT objective (seconds).
        """
        queues = self.queues.get(pool)
        now = self.clock()
        held_by = "others-ahead"
        if queues is None or not queues.count:
            if endpoints is None:
                endpoints = self._endpoints(pool)
            ceiling = self.usage.ceiling(key.priority)
            if self._room(endpoints, now, ceiling):
                return None
            held_by = "pool-saturated"
            if ceiling < 1.0 and self._room(endpoints, now):
                held_by = "usage-limit"
        if self._stopped:
            raise QueueError(503, "the gateway is shutting down", why="shutdown")
        if queues is None:
            queues = self.queues[pool] = FlowQueues(self.config)
        try:
            item, displaced = queues.enqueue(key, size, now, slo_ttft=slo_ttft)
        except CapacityError as e:
            self.metrics.rejected(key, e.limit)
            raise QueueError(429, f"{e}; retry later", why=e.limit) from e
        loop = asyncio.get_running_loop()
        ticket = Ticket(pool, item, resume, abandon, loop.create_future(), where, held_by)
        item.payload = ticket
        self.metrics.enqueued(key, size, where)
        for victim in displaced:
            self._answer(victim, QueueError(429, "displaced by a higher priority", why="displaced"))
        self._ensure_running()
        self._wake.set()  # the dispatcher may be idle (nothing was queued): tick again
        self._dispatch(pool, queues)
        return ticket

    async def wait(self, ticket: Ticket) -> Any:
        """The result of the request's ``resume``; raises its error or the queue's."""
        try:
            return await ticket.future
        except asyncio.CancelledError:
            self.cancel(ticket)
            raise

    def cancel(self, ticket: Ticket) -> None:
        """The waiter left (or never came): leave the queue, or give back what the
        dispatcher already took for it."""
        future = ticket.future
        queues = self.queues.get(ticket.pool)
        if queues is not None and queues.remove(ticket.item, Outcome.CANCELLED):
            self._left(ticket.item, Outcome.CANCELLED)
            future.cancel()
        elif future.done() and not future.cancelled() and future.exception() is None:
            ticket.abandon(future.result())
        elif future.done() and not future.cancelled():
            future.exception()  # retrieved: nobody will await it now

    def wake(self) -> None:
        """Something changed (a request finished, new metrics): run a dispatch cycle soon."""
        if self._task is not None and any(q.count for q in self.queues.values()):
            self._wake.set()

    def idle(self, pool: str) -> bool:
        """Nothing is queued for ``pool``: a request may take the fast path if there is room."""
        queues = self.queues.get(pool)
        return queues is None or not queues.count

    def queued(self) -> int:
        return sum(q.count for q in self.queues.values())

    # --- lifecycle --------------------------------------------------------------------
    async def stop(self) -> None:
        """Answer every queued request 503 (with ``Retry-After``); from now on a request
        that cannot go at once gets 503 instead of queueing."""
        self._stopped = True
        for queues in self.queues.values():
            for item in queues.drain(Outcome.SHUTDOWN):
                self._left(item, Outcome.SHUTDOWN)
                self._fail(item, QueueError(503, "the gateway is shutting down", why="shutdown"))
        if self._task is not None:
            task, self._task = self._task, None
            await stop(task)

    def restart(self) -> None:
        """Queue again after ``stop`` (the ext_proc server serves again)."""
        self._stopped = False

    def _ensure_running(self) -> None:
        if self._task is None and not self._stopped:
            self._task = spawn(self._run(), name="flow-control-dispatch")

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            timeout = TICK_SECONDS
            for pool, queues in list(self.queues.items()):
                self._expire(queues)
                if queues.count:
                    self.metrics.saturation(
                        pool, self.gate.saturation(self._endpoints(pool), self.clock())
                    )
                self._dispatch(pool, queues)
                timeout = min(timeout, max(0.0, queues.next_deadline() - self.clock()))
            if not self.queued():
                timeout = math.inf
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), None if timeout == math.inf else timeout)

    def _expire(self, queues: FlowQueues[Ticket]) -> None:
        for item in queues.expire(self.clock()):
            self._answer(item, QueueError(429, "timed out waiting for capacity", why="ttl"))

    def _room(self, endpoints: Sequence[Endpoint], now: float, ceiling: float = 1.0) -> bool:
        """Whether some endpoint has room, judged again at the attentive time (``capacity``)
        when there is none: a stall of the EPP's own loop aged every pod's metrics."""
        if self.gate.room(endpoints, now, ceiling):
            return True
        excused = attentive_now(endpoints, now, self.stalled)
        return excused < now and bool(self.gate.room(endpoints, excused, ceiling))

    def _dispatch(self, pool: str, queues: FlowQueues[Ticket]) -> None:
        while queues.count and self._room(
            self._endpoints(pool), self.clock(), self._ceiling(queues)
        ):
            item = queues.next_item()
            if item is None:
                return
            self._left(item, Outcome.DISPATCHED)
            ticket = item.payload
            assert ticket is not None
            if ticket.future.done():
                continue
            try:
                ticket.future.set_result(ticket.resume(ticket))
            except GatewayError as e:
                ticket.future.set_exception(e)
            except Exception as e:
                log.exception("flow control: dispatching a request failed")
                ticket.future.set_exception(e)

    def _ceiling(self, queues: FlowQueues[Ticket]) -> float:
        return dispatch_ceiling(self.usage, queues.bands())

    def _answer(self, item: QueueItem[Ticket], err: QueueError) -> None:
        assert item.outcome is not None
        self._left(item, item.outcome)
        self._fail(item, err)

    def _left(self, item: QueueItem[Ticket], outcome: Outcome) -> None:
        waited = self.clock() - item.enqueued_at
        ticket = item.payload
        where = NO_LABELS
        if ticket is not None:
            ticket.waited = waited
            ticket.why = outcome.value
            where = ticket.where
        self.metrics.left(item.key, item.size, outcome.value, waited, where)

    @staticmethod
    def _fail(item: QueueItem[Ticket], err: QueueError) -> None:
        ticket = item.payload
        if ticket is not None and not ticket.future.done():
            ticket.future.set_exception(err)
            ticket.future.exception()  # retrieved: a waiter that left must not log it
