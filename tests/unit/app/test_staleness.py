"""A scrape interval the staleness thresholds cannot hold is named at startup."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from inference_gateway.app import Epp, EppSettings
from inference_gateway.app._staleness import staleness_warnings
from inference_gateway.extproc.server import ExtProcSettings
from tests.unit.extproc.test_plugins_in_config_file import POOL


def test_upstreams_defaults_hold() -> None:
    assert staleness_warnings(0.05, 0.2, 0.5) == []


def test_an_interval_past_half_the_detectors_threshold_is_named() -> None:
    (detector,) = staleness_warnings(0.25, 0.2, 0.5)
    assert "250 ms" in detector and "200 ms" in detector and "at least 500 ms" in detector
    assert "429" in detector


def test_the_schedulers_threshold_is_checked_too() -> None:
    warnings = staleness_warnings(1.0, 0.2, 0.5)
    assert len(warnings) == 2
    assert "prefers pods scraped within 500 ms" in warnings[1]


def test_a_missing_threshold_is_not_checked() -> None:
    assert staleness_warnings(10.0, None, None) == []


@pytest.mark.parametrize(("interval", "warned"), [(0.05, False), (0.3, True)])
async def test_the_epp_logs_it_at_startup(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, interval: float, warned: bool
) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(POOL)
    settings = EppSettings(
        pool_file=path,
        grpc=ExtProcSettings(host="127.0.0.1", port=0),
        scrape_interval=interval,
    )
    with caplog.at_level(logging.WARNING, logger="inference_gateway.app.epp"):
        async with Epp(settings):
            pass
    named = [r for r in caplog.records if "saturation detector calls them stale" in r.message]
    assert bool(named) is warned
