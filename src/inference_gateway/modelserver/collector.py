"""The scraper's counters as a Prometheus collector, for whoever owns the EPP's registry.

Nothing here registers itself: the observability layer creates ``ScraperCollector(scraper.stats)``
and adds it to its own ``CollectorRegistry``; values are read at collection time.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from inference_gateway.modelserver.stats import ScrapeStats


class ScraperCollector:
    def __init__(
        self, stats: ScrapeStats, *, prefix: str = "inference_gateway_model_server"
    ) -> None:
        self._stats = stats
        self._prefix = prefix

    def describe(self) -> Iterator[Metric]:
        return self.collect()

    def collect(self) -> Iterator[Metric]:
        p, s = self._prefix, self._stats
        yield CounterMetricFamily(
            f"{p}_scrapes", "Metrics scrapes attempted.", value=s.scrapes_total
        )
        errors = CounterMetricFamily(
            f"{p}_scrape_errors", "Metrics scrapes that failed, by reason.", labels=["reason"]
        )
        for reason, count in sorted(s.errors_total.items()):
            errors.add_metric([reason], count)
        yield errors
        yield GaugeMetricFamily(
            f"{p}_scrape_failing_endpoints",
            "Endpoints whose latest metrics scrape failed (their metrics are going stale).",
            value=s.failing_endpoints,
        )
        yield CounterMetricFamily(
            f"{p}_scrape_parse_seconds",
            "Time spent parsing metrics bodies on the event loop.",
            value=s.parse_seconds_total,
        )
        yield CounterMetricFamily(
            f"{p}_scrape_late",
            "Scrapes started half an interval or more late: the scraper is behind.",
            value=s.lag.late_scrapes_total,
        )
        yield CounterMetricFamily(
            f"{p}_scrape_start_delay_seconds",
            "Summed delay of each scrape start past one interval after the previous one.",
            value=s.lag.start_delay_seconds_total,
        )
        yield CounterMetricFamily(
            f"{p}_scrape_behind_windows",
            "Windows (10 s) in which a tenth of the scrapes started half an interval late.",
            value=s.lag.behind_windows_total,
        )
