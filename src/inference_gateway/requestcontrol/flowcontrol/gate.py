"""The saturation gate that decides when a queued request may go to the scheduler.

The pool has room while some endpoint has fresh metrics (the detector's staleness
threshold), KV use at most the detector's threshold, and fewer than
``queueDepthThreshold`` requests waiting. "Waiting" is the larger of what the pod last
reported and what the EPP itself knows it sent: ``in_flight - running`` counts the requests
sent since the last scrape that the pod cannot have started, so a burst between two
scrapes fills each pod up to the threshold and then waits, instead of all passing on one
stale snapshot. Pure: the caller passes the endpoints and ``now``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from inference_gateway.datastore.types import Endpoint
from inference_gateway.scheduling.saturation import SaturationDetector


@dataclass(frozen=True, slots=True)
class SaturationGate:
    queue_threshold: int = 5
    kv_threshold: float = 0.8
    staleness: float = 0.2

    @classmethod
    def like(cls, detector: SaturationDetector) -> SaturationGate:
        """The gate with the configured detector's thresholds."""
        return cls(detector.queue, detector.kv, detector.staleness)

    def has_room(self, endpoints: Sequence[Endpoint], now: float) -> bool:
        oldest = now - self.staleness
        return any(self._fits(e, oldest) for e in endpoints)

    def with_room(self, endpoints: Sequence[Endpoint], now: float) -> list[Endpoint]:
        """The endpoints that have room: the candidates a released request is scheduled
        on, so it goes where the gate saw room rather than where a stale scrape says the
        queue is short (the scheduler's filters do not count in-flight requests)."""
        # The body of ``_fits`` inlined: this runs for every request on the fast path.
        oldest = now - self.staleness
        kv, limit = self.kv_threshold, max(self.queue_threshold, 1)
        out = []
        for e in endpoints:
            m = e.metrics
            if m.updated_at < oldest or m.kv_usage > kv:
                continue
            waiting = m.waiting
            unseen = e.in_flight - m.running
            if unseen > waiting:
                waiting = unseen
            if waiting < limit:
                out.append(e)
        return out

    def _fits(self, e: Endpoint, oldest: float) -> bool:
        m = e.metrics
        if m.updated_at < oldest or m.kv_usage > self.kv_threshold:
            return False
        waiting = m.waiting
        unseen = e.in_flight - m.running
        if unseen > waiting:
            waiting = unseen
        return waiting < max(self.queue_threshold, 1)
