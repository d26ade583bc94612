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
        q, kv = self.queue_threshold, self.kv_threshold
        for e in endpoints:
            m = e.metrics
            if m.updated_at < oldest or m.kv_usage > kv:
                continue
            waiting = m.waiting
            unseen = e.in_flight - m.running
            if unseen > waiting:
                waiting = unseen
            if waiting < q or (q == 0 and waiting == 0):
                return True
        return False
