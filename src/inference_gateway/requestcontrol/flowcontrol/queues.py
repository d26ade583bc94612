"""The flow-control core: priority bands of flows of queued requests, and who goes next.

Pure and synchronous (no asyncio, no clock of its own: every call takes ``now``), so the
ext_proc server and the virtual-time benchmark run the same code. ``next_item`` is one
step of upstream's dispatch cycle: the highest non-empty band, then the band's fairness
policy picks a flow, then the band's ordering policy picks the flow's next request. The
caller decides whether the pool has room before each step (the saturation gate).

Capacity: a band holds at most ``maxRequests`` requests and ``maxBytes`` bytes, the whole
system at most the global limits. A request over its band's limit is refused. A request
over a global limit displaces the newest request of the lowest band below its own priority
when there is one (that one is refused instead), so a full queue of Sheddable requests
never keeps a Critical one out; otherwise it is refused.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from inference_gateway.requestcontrol.flowcontrol.config import BandConfig, FlowControlConfig
from inference_gateway.requestcontrol.flowcontrol.policies import (
    FAIRNESS_POLICIES,
    ORDERING_POLICIES,
    FairnessPolicy,
    FlowQueue,
    OrderingPolicy,
)
from inference_gateway.requestcontrol.flowcontrol.types import (
    CapacityError,
    FlowKey,
    Outcome,
    QueueItem,
)

T = TypeVar("T")


@dataclass(slots=True, eq=False)
class Flow(Generic[T]):
    key: FlowKey
    queue: FlowQueue
    count: int = 0
    bytes: int = 0

    @property
    def head(self) -> QueueItem[T] | None:
        return self.queue.peek()


@dataclass(slots=True, eq=False)
class Band(Generic[T]):
    config: BandConfig
    ordering: OrderingPolicy
    fairness: FairnessPolicy
    active: list[Flow[T]] = field(default_factory=list)
    """Flows with queued requests, in the order they became active (round-robin order)."""
    flows: dict[str, Flow[T]] = field(default_factory=dict)
    cursor: int = -1
    count: int = 0
    bytes: int = 0
    arrivals: deque[QueueItem[T]] = field(default_factory=deque)
    """Every item in arrival order (lazily pruned): the newest is the one displaced."""

    @property
    def priority(self) -> int:
        return self.config.priority


class FlowQueues(Generic[T]):
    """All queued requests; not thread-safe (one event loop, or one simulation, owns it)."""

    def __init__(self, config: FlowControlConfig) -> None:
        self.config = config
        self._bands: dict[int, Band[T]] = {}
        self._order: list[Band[T]] = []
        """Bands by priority, highest first."""
        self._deadlines: list[tuple[float, int, QueueItem[T]]] = []
        self._seq = 0
        self.count = 0
        self.bytes = 0

    def __len__(self) -> int:
        return self.count

    def band(self, priority: int) -> Band[T]:
        found = self._bands.get(priority)
        if found is None:
            cfg = self.config.band(priority)
            found = Band(cfg, ORDERING_POLICIES[cfg.ordering](), FAIRNESS_POLICIES[cfg.fairness]())
            self._bands[priority] = found
            self._order = sorted(self._bands.values(), key=lambda b: -b.config.priority)
        return found

    def bands(self) -> list[Band[T]]:
        return list(self._order)

    # --- arrival ----------------------------------------------------------------------
    def enqueue(
        self,
        key: FlowKey,
        size: int,
        now: float,
        payload: T | None = None,
        *,
        ttl: float = 0.0,
        slo_ttft: float | None = None,
    ) -> tuple[QueueItem[T], list[QueueItem[T]]]:
        """Queue a request; returns it and any requests it displaced (refused, now out).

        Raises ``CapacityError`` when it does not fit. ``ttl`` 0 takes the configured
        default; the default 0 means no deadline. ``slo_ttft`` is the request's TTFT
        objective in seconds (``slo-deadline-ordering-policy`` orders by it).
        """
        band = self.band(key.priority)
        cfg = band.config
        if cfg.max_requests and band.count + 1 > cfg.max_requests:
            raise CapacityError(f"priority band {key.priority} is full", limit="band-requests")
        if cfg.max_bytes and band.bytes + size > cfg.max_bytes:
            raise CapacityError(f"priority band {key.priority} is full", limit="band-bytes")
        displaced = self._make_room(key.priority, size)
        ttl = ttl or self.config.default_ttl
        self._seq += 1
        item: QueueItem[T] = QueueItem(
            key, size, now, now + ttl if ttl > 0 else math.inf, payload, self._seq
        )
        if slo_ttft is not None:
            item.slo_deadline = now + slo_ttft
        flow = band.flows.get(key.fairness_id)
        if flow is None:
            flow = band.flows[key.fairness_id] = Flow(key, band.ordering.new_queue())
            band.active.append(flow)
        flow.queue.push(item)
        band.arrivals.append(item)
        self._account(band, flow, item, +1)
        if item.deadline != math.inf:
            heapq.heappush(self._deadlines, (item.deadline, item.seq, item))
        return item, displaced

    def _make_room(self, priority: int, size: int) -> list[QueueItem[T]]:
        """Displace the newest requests of lower bands until ``size`` more fits globally."""
        c = self.config
        count, nbytes = self.count, self.bytes

        def over() -> str | None:
            if c.max_requests and count + 1 > c.max_requests:
                return "global-requests"
            if c.max_bytes and nbytes + size > c.max_bytes:
                return "global-bytes"
            return None

        limit = over()
        if limit is None:
            return []
        victims: list[QueueItem[T]] = []
        for band in reversed(self._order):
            if band.config.priority >= priority or limit is None:
                break
            for item in reversed(band.arrivals):
                if not item.live:
                    continue
                victims.append(item)
                count, nbytes = count - 1, nbytes - item.size
                limit = over()
                if limit is None:
                    break
        if limit is not None:
            raise CapacityError("the flow-control queue is full", limit=limit)
        for item in victims:
            self.remove(item, Outcome.EVICTED_DISPLACED)
        return victims

    # --- departure --------------------------------------------------------------------
    def next_item(self) -> QueueItem[T] | None:
        """Take the request that goes next (marked dispatched), or None when empty."""
        for band in self._order:
            if band.count:
                flows = band.active
                i = band.fairness.pick(flows, band.ordering, band.cursor)
                flow = flows[i]
                item = flow.queue.pop()
                assert item is not None
                band.cursor = i
                self._leave(band, flow, item, Outcome.DISPATCHED)
                return item
        return None

    def remove(self, item: QueueItem[T], outcome: Outcome) -> bool:
        """Take ``item`` out (cancelled, expired, displaced); False if it already left."""
        if not item.live:
            return False
        band = self._bands[item.key.priority]
        flow = band.flows[item.key.fairness_id]
        self._leave(band, flow, item, outcome)
        return True

    def expire(self, now: float) -> list[QueueItem[T]]:
        """Take out every request whose deadline has passed."""
        out: list[QueueItem[T]] = []
        heap = self._deadlines
        while heap and (heap[0][0] <= now or not heap[0][2].live):
            _, _, item = heapq.heappop(heap)
            if self.remove(item, Outcome.EVICTED_TTL):
                out.append(item)
        return out

    def next_deadline(self) -> float:
        heap = self._deadlines
        while heap and not heap[0][2].live:
            heapq.heappop(heap)
        return heap[0][0] if heap else math.inf

    def drain(self, outcome: Outcome) -> list[QueueItem[T]]:
        """Take out everything (a stop), highest priority first, oldest first in a band."""
        out: list[QueueItem[T]] = []
        for band in self._order:
            for item in list(band.arrivals):
                if self.remove(item, outcome):
                    out.append(item)
            band.arrivals.clear()
        self._deadlines.clear()
        return out

    def _leave(self, band: Band[T], flow: Flow[T], item: QueueItem[T], outcome: Outcome) -> None:
        item.outcome = outcome
        self._account(band, flow, item, -1)
        if flow.count == 0:
            i = band.active.index(flow)
            del band.active[i]
            del band.flows[flow.key.fairness_id]
            if i <= band.cursor:
                band.cursor -= 1
        arrivals = band.arrivals
        if band.count == 0:
            arrivals.clear()
            band.cursor = -1
        while arrivals and not arrivals[0].live:
            arrivals.popleft()

    def _account(self, band: Band[T], flow: Flow[T], item: QueueItem[T], sign: int) -> None:
        flow.count += sign
        flow.bytes += sign * item.size
        band.count += sign
        band.bytes += sign * item.size
        self.count += sign
        self.bytes += sign * item.size
