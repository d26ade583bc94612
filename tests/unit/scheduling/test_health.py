"""healthy-endpoint-filter: ejection after consecutive failures, half-open retry, backoff."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from pydantic import ValidationError

from inference_gateway.datastore.types import Endpoint
from inference_gateway.scheduling.config import load_config
from inference_gateway.scheduling.framework import NOW_KEY
from inference_gateway.scheduling.plugins.health import HealthParams, HealthyEndpointFilter
from inference_gateway.scheduling.registry import default_registry
from inference_gateway.scheduling.scheduler import build_scheduler
from tests.unit.scheduling.helpers import handle, make_endpoint, make_request, names


def health(threshold: int = 3, base: float = 5.0, cap: float = 60.0) -> HealthyEndpointFilter:
    params = HealthParams(
        consecutiveFailures=threshold, ejectionSeconds=base, maxEjectionSeconds=cap
    )
    return HealthyEndpointFilter("h", params, handle())


def failing(name: str, failures: int, at: float) -> Endpoint:
    return replace(make_endpoint(name), consecutive_failures=failures, last_failure_at=at)


def run(f: HealthyEndpointFilter, endpoints: list[Endpoint], now: float) -> list[str]:
    return sorted(names(f.filter(make_request(), endpoints, {NOW_KEY: now})))


def test_an_endpoint_is_ejected_at_the_threshold_for_the_ejection_time() -> None:
    f = health()
    good = make_endpoint("p0")
    assert run(f, [good, failing("p1", 2, 10.0)], 10.0) == ["p0", "p1"]
    assert run(f, [good, failing("p1", 3, 10.0)], 10.0) == ["p0"]
    assert run(f, [good, failing("p1", 3, 10.0)], 14.9) == ["p0"]
    assert run(f, [good, failing("p1", 3, 10.0)], 15.0) == ["p0", "p1"]


def test_a_failed_retry_doubles_the_ejection_up_to_the_cap() -> None:
    f = health(base=5.0, cap=12.0)
    assert run(f, [failing("p1", 3, 0.0), make_endpoint("p0")], 1.0) == ["p0"]
    # the retry after the window fails at t=6: ejected for 10 s this time
    assert run(f, [failing("p1", 4, 6.0), make_endpoint("p0")], 6.0) == ["p0"]
    assert run(f, [failing("p1", 4, 6.0), make_endpoint("p0")], 15.9) == ["p0"]
    assert run(f, [failing("p1", 4, 6.0), make_endpoint("p0")], 16.0) == ["p0", "p1"]
    # the next failed retry would be 20 s; the cap keeps it at 12
    assert run(f, [failing("p1", 5, 17.0), make_endpoint("p0")], 28.9) == ["p0"]
    assert run(f, [failing("p1", 5, 17.0), make_endpoint("p0")], 29.0) == ["p0", "p1"]


def test_failures_of_requests_already_in_flight_do_not_escalate() -> None:
    f = health(base=5.0)
    assert run(f, [failing("p1", 3, 0.0), make_endpoint("p0")], 0.0) == ["p0"]
    # three more in-flight requests fail inside the window: still the first 5 s window
    assert run(f, [failing("p1", 6, 2.0), make_endpoint("p0")], 4.9) == ["p0"]
    assert run(f, [failing("p1", 6, 2.0), make_endpoint("p0")], 5.0) == ["p0", "p1"]


def test_one_success_clears_the_record_and_the_next_ejection_starts_over() -> None:
    f = health(base=5.0)
    run(f, [failing("p1", 3, 0.0)], 0.0)
    run(f, [failing("p1", 4, 6.0)], 6.0)  # a failed retry: round 1 (10 s)
    assert run(f, [make_endpoint("p1"), make_endpoint("p0")], 17.0) == ["p0", "p1"]
    assert run(f, [failing("p1", 3, 20.0), make_endpoint("p0")], 24.9) == ["p0"]
    assert run(f, [failing("p1", 3, 20.0), make_endpoint("p0")], 25.0) == ["p0", "p1"]


def test_when_every_endpoint_is_ejected_all_are_kept() -> None:
    f = health()
    eps = [failing("p0", 3, 1.0), failing("p1", 9, 1.0)]
    assert run(f, eps, 1.0) == ["p0", "p1"]


def test_without_a_clock_in_the_cycle_nothing_is_ejected() -> None:
    f = health()
    assert names(f.filter(make_request(), [failing("p1", 9, 0.0)], {})) == ["p1"]


def test_params_are_validated() -> None:
    with pytest.raises(ValidationError):
        HealthParams(consecutiveFailures=0)
    with pytest.raises(ValidationError):
        HealthParams(ejectionSeconds=10, maxEjectionSeconds=5)


@pytest.mark.parametrize("config", ["default", "scorer-mix", "least-request"])
def test_built_in_configs_avoid_an_ejected_endpoint(config: str) -> None:
    scheduler = build_scheduler(load_config(config, default_registry()), rng=random.Random(1))
    now = 100.0
    eps = [failing("p0", 3, now - 1), make_endpoint("p1"), make_endpoint("p2")]
    picked = {scheduler.schedule(make_request(), eps, now).endpoints[0].name for _ in range(40)}
    assert picked == {"p1", "p2"}


@pytest.mark.parametrize("config", ["round-robin", "random"])
def test_baselines_keep_sending_to_a_failing_endpoint(config: str) -> None:
    scheduler = build_scheduler(load_config(config, default_registry()), rng=random.Random(1))
    eps = [failing("p0", 3, 99.0), make_endpoint("p1")]
    picked = {scheduler.schedule(make_request(), eps, 100.0).endpoints[0].name for _ in range(40)}
    assert "p0" in picked
