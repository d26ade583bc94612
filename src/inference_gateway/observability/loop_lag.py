"""How late the event loop runs a timer: the EPP's measure of its own stalls.

Everything in the EPP shares one loop: the ext_proc streams, the scheduler and the timers that
start each metrics scrape. When the loop runs late, every scrape starts late and all pods'
metrics age together; past the saturation detector's staleness threshold (200 ms) Sheddable
requests are refused as if the pool were saturated, though no pod is. Through real Envoy on a
2-core box running the load generator, the simulators and the gateway, stalls of 100-180 ms
happened a few times a minute, and a run's refusals fell inside one (issue 17).

A stall has two causes that call for different fixes: the EPP's own work (a large pool
change, a GC pass) or the machine not running the process (a CPU limit, a busy node). The
warning says how much of the stall the loop's thread spent on the CPU, which tells them apart.
"""

from __future__ import annotations

import asyncio
import logging
import time

from prometheus_client import CollectorRegistry

from inference_gateway.observability.loop_metrics import LoopHistogram
from inference_gateway.throttled_log import Throttled

log = logging.getLogger(__name__)

LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0)
DEFAULT_INTERVAL = 0.025
DEFAULT_WARN_ABOVE = 0.1
"""Half the default staleness threshold: two missed 50 ms scrapes."""


class LoopLagMonitor:
    """Sleeps ``interval`` at a time and records how late each wake-up came."""

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

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.interval
        while True:
            due = loop.time() + interval
            cpu = time.thread_time()
            await asyncio.sleep(interval)
            lag = max(0.0, loop.time() - due)
            self._lag.observe(lag)
            if lag > self.worst:
                self.worst = lag
            if lag >= self.warn_above:
                ran = time.thread_time() - cpu
                self._warn(
                    "event loop stalled %.0f ms (its thread ran %.0f ms of that and waited for "
                    "a CPU the rest): scrapes started late, so pods' metrics may have looked "
                    "stale and Sheddable requests been refused",
                    lag * 1000,
                    ran * 1000,
                )


__all__ = ["LAG_BUCKETS", "LoopLagMonitor"]
