"""The loop-lag monitor sees a stall of the event loop and says so, once per period."""

from __future__ import annotations

import logging
import time

import pytest
from prometheus_client import CollectorRegistry

from inference_gateway.aio import spawn, stop
from inference_gateway.observability.loop_lag import LoopLagMonitor
from tests.loop_helpers import hold_the_loop, until


def _count_at_least(monitor: LoopLagMonitor, seconds: float) -> int:
    child = monitor.lag.labels()
    return sum(n for bound, n in zip(child.bounds, child.counts, strict=True) if bound > seconds)


async def test_a_blocked_loop_is_measured_and_warned_about_once_per_period(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = CollectorRegistry()
    monitor = LoopLagMonitor(registry, interval=0.005, warn_above=0.1, warn_every=3600.0)
    task = spawn(monitor.run(), name="lag")
    try:
        child = monitor.lag.labels()
        await until(lambda: sum(child.counts) >= 2)
        caplog.set_level(logging.WARNING, "inference_gateway.observability.loop_lag")
        for stalls in (1, 2):
            hold_the_loop(0.15)
            await until(lambda: _count_at_least(monitor, 0.1) >= stalls)  # noqa: B023
        stalled = [r for r in caplog.records if "event loop stalled" in r.getMessage()]
        assert len(stalled) == 1, [r.getMessage() for r in stalled]
        assert monitor.worst >= 0.14
    finally:
        await stop(task)
    text = registry.get_sample_value(
        "inference_extension_event_loop_lag_seconds_bucket", {"le": "0.1"}
    )
    total = registry.get_sample_value("inference_extension_event_loop_lag_seconds_count")
    assert text is not None and total is not None and total - text >= 2


async def test_stalled_counts_the_stall_going_on_and_then_the_recorded_one() -> None:
    monitor = LoopLagMonitor(CollectorRegistry(), interval=0.005)
    task = spawn(monitor.run(), name="lag")
    try:
        child = monitor.lag.labels()
        await until(lambda: sum(child.counts) >= 2)
        before = time.monotonic()
        hold_the_loop(0.2)
        now = time.monotonic()
        assert monitor.stalled(now, before) >= 0.19  # going on: the monitor has not woken
        assert monitor.stalled(now, now - 0.05) == pytest.approx(0.05)
        await until(lambda: _count_at_least(monitor, 0.1) >= 1)
        after = time.monotonic()
        assert monitor.stalled(after, before) >= 0.19  # recorded when it woke
        assert monitor.stalled(after, before - 10.0) >= 0.19
        assert monitor.stalled(before, before - 10.0) < 0.1  # the span before it
    finally:
        await stop(task)
