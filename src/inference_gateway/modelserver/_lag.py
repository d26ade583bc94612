"""Notices when the scraper cannot keep its interval, while the EPP runs.

Scraping costs CPU on the event loop's thread (~70 us a scrape, ``bench scrape``), so one
EPP keeps a 50 ms interval for ~700 pods at most; past that, or on a starved box, due
scrapes start later and later and every pod's metrics age past the staleness thresholds
(the saturation detector then refuses Sheddable traffic as "stale"). The startup check
(``app._staleness``) can only compare configured numbers; this one measures: how late each
due scrape starts. A slow or hung endpoint does not count (its next scrape is due one
interval after it ends), only a driver that is late to start them.

Judged per window, not per scrape: one late start (a GC pass, a burst of requests) is
harmless, a window where a tenth of them start a whole interval late is not.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from inference_gateway.throttled_log import Throttled

log = logging.getLogger("inference_gateway.modelserver.scraper")

LATE_SHARE = 0.1
"""A window with at least this share of scrapes started an interval late or more is behind."""


@dataclass(slots=True)
class LagStats:
    """Counters for the EPP's own metrics; read them, never write them."""

    late_scrapes_total: int = 0
    """Scrapes that started at least one interval after they were due."""
    start_delay_seconds_total: float = 0.0
    """Summed delay between each scrape's due time and its start (divide by the scrapes)."""
    behind_windows_total: int = 0
    """Windows in which the scraper was found behind (each warned about, throttled)."""


class LagWatch:
    """Fed the delay of every scrape start; warns when a window shows the scraper behind."""

    __slots__ = ("_count", "_interval", "_late", "_until", "_warn", "_window", "_worst", "stats")

    def __init__(
        self, interval: float, stats: LagStats, *, window: float = 10.0, warn_every: float = 60.0
    ) -> None:
        self._interval = interval
        self._window = window
        self._warn = Throttled(log, every=warn_every)
        self._until: float | None = None
        self._count = self._late = 0
        self._worst = 0.0
        self.stats = stats

    def started(self, delay: float, now: float, endpoints: int) -> None:
        """A due scrape started ``delay`` seconds after its due time, at loop time ``now``."""
        if delay < 0.0:
            delay = 0.0
        stats = self.stats
        stats.start_delay_seconds_total += delay
        late = delay >= self._interval
        if late:
            stats.late_scrapes_total += 1
            self._late += 1
        if delay > self._worst:
            self._worst = delay
        self._count += 1
        if self._until is None:
            self._until = now + self._window
        elif now >= self._until:
            self._close_window(endpoints)
            self._until = now + self._window

    def _close_window(self, endpoints: int) -> None:
        count, late, worst = self._count, self._late, self._worst
        self._count = self._late = 0
        self._worst = 0.0
        if late < LATE_SHARE * count:
            return
        self.stats.behind_windows_total += 1
        self._warn(
            "the metrics scraper is behind: %d of %d scrapes in the last %.0fs started at "
            "least one interval (%.0f ms) late, the worst by %.0f ms, over %d endpoints; "
            "metrics will age past the staleness thresholds and Sheddable requests be "
            "refused as stale. Give the EPP more CPU, or raise --refresh-metrics-interval "
            "and the saturation detector's metricsStalenessThreshold to twice it",
            late,
            count,
            self._window,
            self._interval * 1000,
            worst * 1000,
            endpoints,
        )
