"""How late the event loop runs a timer: the EPP's measure of its own stalls.

Everything in the EPP shares one loop: the ext_proc streams, the scheduler and the timers that
start each metrics scrape. When the loop runs late, every scrape starts late and all pods'
metrics age together; past the saturation detector's staleness threshold (200 ms) Sheddable
requests would be refused as if the pool were saturated, though no pod is. Through real Envoy
on a 2-core box running the load generator, the simulators and the gateway, stalls of
100-180 ms happened a few times a minute, and a run's refusals fell inside one (issue 17).
So the monitor also keeps the last stalls, and ``stalled`` says how much of a recent span the
loop was stalled, the stall still going on included (a request handled right after a stall
runs before the monitor's own wake-up): the Director does not count that time against the
pods' metrics.

A stall has two causes that call for different fixes: the EPP's own work (a large pool
change, a GC pass) or the machine not running the process (a CPU limit, a busy node). The
warning says how much of the stall the loop's thread spent on the CPU, which tells them apart.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque

from prometheus_client import CollectorRegistry

from inference_gateway.observability.loop_metrics import LoopHistogram
from inference_gateway.throttled_log import Throttled

log = logging.getLogger(__name__)

LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0)
DEFAULT_INTERVAL = 0.025
DEFAULT_WARN_ABOVE = 0.1
"""Half the default staleness threshold: two missed 50 ms scrapes."""
STALL_AT_LEAST = 0.005
"""Lateness below this is timer jitter, not a stall."""
KEPT_STALLS = 64


class LoopLagMonitor:
    """Sleeps ``interval`` at a time and records how late each wake-up came.

    Times are ``time.monotonic``, the clock the scraper stamps metrics with."""

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        interval: float = DEFAULT_INTERVAL,
        warn_above: float = DEFAULT_WARN_ABOVE,
        warn_every: float = 10.0,
    ) -> None:
        self.interval = interval
        self.warn_above = warn_above
        self.worst = 0.0
        self.lag = LoopHistogram(
            "inference_extension_event_loop_lag_seconds",
            "How late the EPP's event loop ran a timer, in seconds: while it is late, scrapes "
            "start late and metrics look stale.",
            (),
            registry,
            buckets=LAG_BUCKETS,
        )
        self._lag = self.lag.labels()
        self._warn = Throttled(log, every=warn_every)
        self._stalls: deque[tuple[float, float]] = deque(maxlen=KEPT_STALLS)
        self._due = math.inf
        """When the pending wake-up is due (inf while the monitor is not sleeping)."""

    def stalled(self, now: float, since: float) -> float:
        """Seconds of ``(since, now)`` the loop spent stalled, the current stall included.

        Only the last ``KEPT_STALLS`` stalls are kept, so a long span may be undercounted;
        that errs toward calling metrics stale, which is the detector's own side."""
        total = 0.0
        for start, end in self._stalls:
            if end > since and start < now:
                total += min(end, now) - max(start, since)
        if now - self._due >= STALL_AT_LEAST:
            total += now - max(self._due, since)
        return total

    async def run(self) -> None:
        interval = self.interval
        try:
            while True:
                due = self._due = time.monotonic() + interval
                cpu = time.thread_time()
                await asyncio.sleep(interval)
                woke = time.monotonic()
                self._due = math.inf
                lag = max(0.0, woke - due)
                self._lag.observe(lag)
                if lag >= STALL_AT_LEAST:
                    self._stalls.append((due, woke))
                if lag > self.worst:
                    self.worst = lag
                if lag >= self.warn_above:
                    ran = time.thread_time() - cpu
                    self._warn(
                        "event loop stalled %.0f ms (its thread ran %.0f ms of that and waited "
                        "for a CPU the rest): scrapes started late, so the pods' metrics aged "
                        "without their fault",
                        lag * 1000,
                        ran * 1000,
                    )
        finally:
            self._due = math.inf


__all__ = ["LAG_BUCKETS", "LoopLagMonitor"]
