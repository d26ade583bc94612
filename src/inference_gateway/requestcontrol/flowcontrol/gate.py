"""The dispatch gates: when a queued request may go to the scheduler, and to which pods.

``room(endpoints, now, ceiling)`` returns the endpoints a request may be scheduled on now
(empty: wait). ``ceiling`` is the request's band's usage limit (``usage.py``): below 1.0
the pool's saturation must stay under it, which keeps headroom for higher bands.

- ``SaturationGate`` (the ``saturation-detector``): an endpoint has room while its metrics
  are fresh (the detector's staleness threshold), KV use is at most the threshold, and
  fewer than ``queueDepthThreshold`` requests wait. "Waiting" is the larger of what the pod
  last reported and what the EPP itself knows it sent: ``in_flight - running`` counts the
  requests sent since the last scrape that the pod cannot have started, so a burst between
  two scrapes fills each pod up to the threshold and then waits, instead of all passing on
  one stale snapshot. Ceilings compare against the detector's utilization.
- ``UtilizationGate`` (upstream's ``utilization-detector``): the pool has room while its
  mean utilization is under ``ceiling``; an endpoint while it passes the detector's filter.
  Both count the EPP's unseen in-flight requests as waiting, as above.
- ``ConcurrencyGate`` (``concurrency-detector``): the pool has room while its in-flight
  requests are under ``ceiling`` of its ideal capacity; an endpoint while it is under the
  detector's hard per-endpoint limit.

Pure: the caller passes the endpoints and ``now``; the one other read is the concurrency
gate's optional running in-flight totals, which only let it skip its pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from inference_gateway.datastore.types import Endpoint
from inference_gateway.scheduling.concurrency import ConcurrencyDetector
from inference_gateway.scheduling.saturation import Detector, SaturationDetector, utilization
from inference_gateway.scheduling.utilization import UtilizationDetector


class LoadWatcher(Protocol):
    def load_watch(self, level: int) -> Callable[[], tuple[int, int]]: ...


class Gate(Protocol):
    def room(
        self, endpoints: Sequence[Endpoint], now: float, ceiling: float = 1.0
    ) -> list[Endpoint]:
        """The endpoints a request under ``ceiling`` may go to now; empty: it waits."""
        ...

    def saturation(self, endpoints: Sequence[Endpoint], now: float) -> float: ...


@dataclass(frozen=True, slots=True)
class SaturationGate:
    queue_threshold: int = 5
    kv_threshold: float = 0.8
    staleness: float = 0.2

    @classmethod
    def like(cls, detector: SaturationDetector) -> SaturationGate:
        """The gate with the configured detector's thresholds."""
        return cls(detector.queue, detector.kv, detector.staleness)

    def saturation(self, endpoints: Sequence[Endpoint], now: float) -> float:
        return utilization(endpoints, now, self.queue_threshold, self.kv_threshold, self.staleness)

    def room(
        self, endpoints: Sequence[Endpoint], now: float, ceiling: float = 1.0
    ) -> list[Endpoint]:
        if ceiling < 1.0 and self.saturation(endpoints, now) >= ceiling:
            return []
        # One comprehension (CPython 3.11 runs it about twice as fast as a loop with
        # append): this runs for every request on the fast path. max(waiting, unseen) <
        # limit is both under it.
        oldest = now - self.staleness
        kv, limit = self.kv_threshold, max(self.queue_threshold, 1)
        return [
            e
            for e in endpoints
            if (m := e.metrics).updated_at >= oldest
            and m.kv_usage <= kv
            and m.waiting < limit
            and e.in_flight - m.running < limit
        ]


@dataclass(frozen=True, slots=True)
class ConcurrencyGate:
    max_concurrency: int = 100
    limit: int = 100
    """Per-endpoint hard limit (``maxConcurrency * (1 + headroom)``)."""
    load: Callable[[], tuple[int, int]] | None = field(default=None, compare=False)
    """``Datastore.load_watch(limit)``, if any: (in-flight requests across every pool,
    endpoints at or over the limit), kept as counts change. They bound the candidates'
    from above, so when they are under the limits every candidate has room and the gate
    answers in O(1) instead of a pass over the candidates."""

    @classmethod
    def like(
        cls, detector: ConcurrencyDetector, load: Callable[[], tuple[int, int]] | None = None
    ) -> ConcurrencyGate:
        return cls(detector.max_concurrency, detector.limit, load)

    def saturation(self, endpoints: Sequence[Endpoint], now: float) -> float:
        if not endpoints:
            return 1.0
        return sum(e.in_flight for e in endpoints) / (len(endpoints) * self.max_concurrency)

    def room(
        self, endpoints: Sequence[Endpoint], now: float, ceiling: float = 1.0
    ) -> list[Endpoint]:
        if self.load is not None and endpoints:
            total, full = self.load()
            if not full and total < ceiling * len(endpoints) * self.max_concurrency:
                return endpoints if isinstance(endpoints, list) else list(endpoints)
        counts = [e.in_flight for e in endpoints]
        if not counts or sum(counts) >= ceiling * len(counts) * self.max_concurrency:
            return []
        limit = self.limit
        if max(counts) < limit:  # the common case, no pod at its limit: one pass only
            return endpoints if isinstance(endpoints, list) else list(endpoints)
        return [e for e, n in zip(endpoints, counts, strict=True) if n < limit]


@dataclass(frozen=True, slots=True)
class UtilizationGate:
    queue_threshold: int = 5
    kv_threshold: float = 0.8
    staleness: float = 0.2
    headroom: float = 0.0

    @classmethod
    def like(cls, detector: UtilizationDetector) -> UtilizationGate:
        return cls(detector.queue, detector.kv, detector.staleness, detector.headroom)

    def saturation(self, endpoints: Sequence[Endpoint], now: float) -> float:
        return utilization(
            endpoints,
            now,
            self.queue_threshold,
            self.kv_threshold,
            self.staleness,
            unseen=True,
        )

    def room(
        self, endpoints: Sequence[Endpoint], now: float, ceiling: float = 1.0
    ) -> list[Endpoint]:
        if self.saturation(endpoints, now) >= ceiling:
            return []
        scale = 1.0 + self.headroom
        q, kv, oldest = (
            self.queue_threshold * scale,
            self.kv_threshold * scale,
            now - self.staleness,
        )
        out = []
        for e in endpoints:
            m = e.metrics
            waiting = max(m.waiting, e.in_flight - m.running)
            if m.updated_at >= oldest and waiting < q and m.kv_usage < kv:
                out.append(e)
        return out


def gate_for(detector: Detector, datastore: LoadWatcher | None = None) -> Gate:
    """The dispatch gate with the configured detector's rule and thresholds (the
    datastore's running in-flight totals: see ``ConcurrencyGate``)."""
    if isinstance(detector, ConcurrencyDetector):
        load = datastore.load_watch(detector.limit) if datastore is not None else None
        return ConcurrencyGate.like(detector, load)
    if isinstance(detector, UtilizationDetector):
        return UtilizationGate.like(detector)
    assert isinstance(detector, SaturationDetector)
    return SaturationGate.like(detector)
