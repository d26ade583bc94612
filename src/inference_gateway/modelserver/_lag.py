"""Notices when the scraper cannot keep its interval, while the EPP runs.

Scraping costs CPU on the event loop's thread (~70 us a scrape, ``bench scrape``), so one
EPP keeps a 50 ms interval for ~700 pods at most; past that, or on a starved box, every
pod is scraped less often than asked and its metrics age past the staleness thresholds
(the saturation detector then refuses Sheddable traffic as "stale"). The startup check
(``app._staleness``) can only compare configured numbers; this one measures the gap
between two scrape starts of the same endpoint. Not how late a scrape starts against its
due time: the next one is due an interval after the last one ends, and on a saturated loop
the time goes into the scrape itself (its response waits for the loop), so starts stayed
on time while 1,000 pods were scraped 12 times a second instead of 20. Gaps after a
failed scrape do not count (a hung endpoint waits out its timeout: that is its failure,
logged as such).

Judged per window, not per scrape: one slow start (a GC pass, a burst of requests) is
harmless, a window where a tenth of them come half an interval late or more is not.
"""

from __future__ import annotations

import logging

from inference_gateway.modelserver.stats import LagStats
from inference_gateway.throttled_log import Throttled

log = logging.getLogger("inference_gateway.modelserver.scraper")

LATE_SHARE = 0.1
"""A window with at least this share of late scrapes is behind."""
LATE_AFTER = 0.5
"""A scrape is late when it starts this many intervals or more after its due gap."""


class LagWatch:
    """Fed the gap before every scrape start; warns when a window shows the scraper behind."""

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

    def started(self, gap: float, now: float, endpoints: int) -> None:
        """A scrape started ``gap`` seconds after the previous one of its endpoint, at loop
        time ``now``."""
        delay = gap - self._interval
        if delay < 0.0:
            delay = 0.0
        stats = self.stats
        stats.start_delay_seconds_total += delay
        if delay >= LATE_AFTER * self._interval:
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
            "least %.0f ms later than the %.0f ms interval, the worst by %.0f ms, over %d "
            "endpoints; metrics will age past the staleness thresholds and Sheddable "
            "requests be refused as stale. Either the EPP lacks CPU (the event-loop lag "
            "warnings and metric show it) or the model servers answer slowly; give the EPP "
            "more CPU, or raise --refresh-metrics-interval and the saturation detector's "
            "metricsStalenessThreshold to twice it",
            late,
            count,
            self._window,
            LATE_AFTER * self._interval * 1000,
            self._interval * 1000,
            worst * 1000,
            endpoints,
        )
