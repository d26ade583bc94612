"""The scraper notices, while it runs, when it cannot keep its interval (``_lag``)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from inference_gateway.datastore.store import Datastore
from inference_gateway.modelserver._lag import LagWatch
from inference_gateway.modelserver.collector import ScraperCollector
from inference_gateway.modelserver.scraper import MetricsScraper
from inference_gateway.modelserver.stats import LagStats

from .conftest import FakeModelServer, eventually
from .test_scraper import add_pod, add_pool, two_pods, vllm_text

StartServer = Callable[[str, str], Awaitable[FakeModelServer]]
BEHIND = "the metrics scraper is behind"


INTERVAL = 0.05


def watched() -> tuple[LagWatch, LagStats]:
    """A watch with 1 s windows whose warning is throttled to one a minute."""
    stats = LagStats()
    return LagWatch(INTERVAL, stats, window=1.0, warn_every=60.0), stats


def feed(watch: LagWatch, delays: list[float], now: float) -> None:
    """Scrape starts ``delay`` past one interval after their endpoint's previous start."""
    for delay in delays:
        watch.started(INTERVAL + delay, now, endpoints=700)


def test_a_window_with_a_tenth_of_starts_late_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    watch, stats = watched()
    with caplog.at_level(logging.WARNING):
        # 9 late of 91: just under a tenth (the closing start counts in its window)...
        feed(watch, [0.03] * 9 + [0.024] * 81, 0.0)
        feed(watch, [0.0], 1.0)
        assert stats.behind_windows_total == 0
        # ...then 10 of 90.
        feed(watch, [0.026] * 10 + [0.0] * 79, 1.5)
        feed(watch, [0.0], 2.0)
    assert stats.late_scrapes_total == 19
    assert stats.behind_windows_total == 1
    (line,) = [r.getMessage() for r in caplog.records if BEHIND in r.getMessage()]
    assert "10 of 90 scrapes" in line and "25 ms later than the 50 ms interval" in line
    assert "700 endpoints" in line and "--refresh-metrics-interval" in line
    expected = 9 * 0.03 + 81 * 0.024 + 10 * 0.026
    assert stats.start_delay_seconds_total == pytest.approx(expected)


def test_later_behind_windows_are_counted_but_the_warning_is_throttled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    watch, stats = watched()
    with caplog.at_level(logging.WARNING):
        for k in range(500):  # ten windows, all behind
            feed(watch, [0.2], k * 0.02)
    assert stats.behind_windows_total == 9
    assert len([r for r in caplog.records if BEHIND in r.getMessage()]) == 1


def test_starts_at_or_inside_the_interval_count_as_on_time() -> None:
    watch, stats = watched()
    for k in range(200):
        watch.started(INTERVAL - 0.004 if k % 2 else INTERVAL, k * 0.02, endpoints=3)
    assert (stats.late_scrapes_total, stats.start_delay_seconds_total) == (0, 0.0)
    assert stats.behind_windows_total == 0


async def test_a_starved_loop_is_reported_and_exported(
    servers: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    """CPU work that holds the loop past the interval makes due scrapes start late."""
    store, _, b = await two_pods(servers)
    loop = asyncio.get_running_loop()
    stalls = 0

    def hog() -> None:
        nonlocal stalls
        time.sleep(0.06)  # stands in for CPU work on the loop's thread
        stalls += 1
        if stalls < 200:
            loop.call_later(0.001, hog)

    scraper = MetricsScraper(store, interval=0.02, lag_window=0.3)
    registry = CollectorRegistry()
    registry.register(ScraperCollector(scraper.stats))
    with caplog.at_level(logging.WARNING):
        async with scraper:
            await eventually(lambda: store.metrics(f"127.0.0.12:{b.port}") is not None)
            loop.call_soon(hog)
            await eventually(lambda: scraper.stats.lag.behind_windows_total >= 1, within=10.0)
            stalls = 200
    assert any(BEHIND in r.getMessage() and "2 endpoints" in r.getMessage() for r in caplog.records)
    text = generate_latest(registry).decode()
    late = float(scraper.stats.lag.late_scrapes_total)
    assert f"inference_gateway_model_server_scrape_late_total {late}" in text
    assert scraper.stats.lag.late_scrapes_total > 0


async def test_a_hung_endpoint_is_not_the_scraper_falling_behind(servers: StartServer) -> None:
    """Its scrapes are minutes apart, but each follows a failure (its own, logged)."""
    a = await servers("127.0.0.11", vllm_text(1))
    store = Datastore()
    add_pool(store, a.port)
    add_pod(store, "a", "127.0.0.11")
    a.hang = True
    async with MetricsScraper(store, interval=0.1, timeout=0.15, lag_window=0.2) as scraper:
        await eventually(lambda: scraper.stats.errors_total["timeout"] >= 4, within=10.0)
        assert scraper.stats.lag.late_scrapes_total == 0
