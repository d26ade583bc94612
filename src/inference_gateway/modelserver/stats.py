"""The scraper's counters, for the EPP's own metrics (``collector``): read them, never write
them. Apart from the scraper so that the collector and the lag watch need not import it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(slots=True)
class LagStats:
    """Counters for the EPP's own metrics; read them, never write them."""

    late_scrapes_total: int = 0
    """Scrapes started half an interval or more later than one interval after the last."""
    start_delay_seconds_total: float = 0.0
    """Summed delay of each scrape start past one interval after the previous start."""
    behind_windows_total: int = 0
    """Windows in which the scraper was found behind (each warned about, throttled)."""


@dataclass(slots=True)
class ScrapeStats:
    """Counters for the EPP's own metrics; read them, never write them."""

    scrapes_total: int = 0
    """Scrape attempts, successful or not."""
    errors_total: Counter[str] = field(default_factory=Counter)
    """Failed scrapes by reason: connection, timeout, http_status, http, too_large, parse,
    unexpected."""
    failing_endpoints: int = 0
    """Endpoints whose latest scrape failed."""
    parse_seconds_total: float = 0.0
    """CPU time spent decoding and parsing bodies (on the event loop's thread)."""
    lag: LagStats = field(default_factory=LagStats)
    """How far apart each endpoint's scrapes start (``_lag``): the interval kept or not."""
