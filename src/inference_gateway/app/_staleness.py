"""Whether the scrape interval leaves metrics fresh for the rules that read their age.

The saturation detector calls a pod stale (so, for the 429 rule, full) when its metrics are
older than ``metricsStalenessThreshold`` (200 ms upstream), and the scheduler prefers pods
scraped within its own threshold (0.5 s). Between two scrapes a pod's metrics age by up to
the interval, so an interval raised for a big pool (one core scrapes ~700 pods every 50 ms,
docs/benchmarks) without raising the thresholds makes every pod stale for most of each
interval: Sheddable requests are refused on an idle pool and nothing says why.
"""

from __future__ import annotations

MARGIN = 2.0
"""A threshold should hold this many intervals: a scrape is due one interval after the
last one started, and it takes time itself."""


def staleness_warnings(
    interval: float, detector: float | None, scheduler: float | None
) -> list[str]:
    """One message per threshold under ``MARGIN`` intervals (None: no such threshold)."""
    out: list[str] = []
    floor = MARGIN * interval
    if detector is not None and detector < floor:
        out.append(
            f"metrics are scraped every {interval * 1000:.0f} ms but the saturation detector"
            f" calls them stale after {detector * 1000:.0f} ms: every pod will look stale for"
            f" part of each interval and Sheddable requests will be refused (429) on an idle"
            f" pool; set its metricsStalenessThreshold to at least {floor * 1000:.0f} ms"
        )
    if scheduler is not None and scheduler < floor:
        out.append(
            f"metrics are scraped every {interval * 1000:.0f} ms but the scheduler prefers"
            f" pods scraped within {scheduler * 1000:.0f} ms: most pods will be left out of"
            f" most picks; scrape at least every {scheduler / MARGIN * 1000:.0f} ms"
        )
    return out
