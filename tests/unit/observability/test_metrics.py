"""EppMetrics read back from its own registry, driven by a real Director and Datastore."""

from __future__ import annotations

import json
import random

import pytest

from inference_gateway.datastore import Metrics
from inference_gateway.observability import EppMetrics, buckets
from inference_gateway.requestcontrol import Director, GatewayError
from inference_gateway.scheduling.config import load_config
from inference_gateway.scheduling.scheduler import build_scheduler
from tests.unit.requestcontrol.builders import FakeClock, chat, make_director, make_store, model

LABELS = {"model_name": "llama", "target_model_name": "adapter"}


def sample(m: EppMetrics, name: str, labels: dict[str, str] | None = None) -> float | None:
    return m.registry.get_sample_value(name, labels or {})


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def metrics(clock: FakeClock) -> EppMetrics:
    return EppMetrics(clock=clock, commit="abc", build_ref="v0")


def director_with(metrics: EppMetrics, clock: FakeClock) -> Director:
    store = make_store(models=[model("llama", targets=[("adapter", None)])])
    return make_director(store, clock=clock, metrics=metrics)


def test_successful_request_records_everything(metrics: EppMetrics, clock: FakeClock) -> None:
    director = director_with(metrics, clock)
    request = chat("llama")
    routed = director.route_now(request)
    assert sample(metrics, "inference_model_request_total", LABELS) == 1
    assert sample(metrics, "inference_model_running_requests", {"model_name": "llama"}) == 1
    assert sample(metrics, "inference_model_request_sizes_sum", LABELS) == len(request.body)
    routed.response_started(200, {"content-type": "application/json"}, None)
    body = json.dumps(
        {
            "model": "adapter",
            "usage": {
                "prompt_tokens": 100,
                "completion_tokens": 20,
                "prompt_tokens_details": {"cached_tokens": 64},
            },
        }
    ).encode()
    routed.response_chunk(body, True)
    clock.now += 2.0
    routed.finish()
    assert sample(metrics, "inference_model_running_requests", {"model_name": "llama"}) == 0
    assert sample(metrics, "inference_model_request_duration_seconds_sum", LABELS) == 2.0
    assert sample(metrics, "inference_model_response_sizes_sum", LABELS) == len(body)
    assert sample(metrics, "inference_model_input_tokens_sum", LABELS) == 100
    assert sample(metrics, "inference_model_output_tokens_sum", LABELS) == 20
    assert sample(metrics, "inference_model_prompt_cached_tokens_sum", LABELS) == 64
    ntpot = "inference_model_normalized_time_per_output_token_seconds_sum"
    assert sample(metrics, ntpot, LABELS) == pytest.approx(0.1)
    assert (
        sample(metrics, "inference_extension_scheduler_attempts_total", {"status": "success"}) == 1
    )
    assert sample(metrics, "inference_extension_scheduler_e2e_duration_seconds_count") == 1
    assert (
        sample(
            metrics,
            "inference_model_request_error_total",
            {**LABELS, "error_code": "ModelServerError"},
        )
        is None
    )


def test_no_ntpot_without_output_tokens(metrics: EppMetrics, clock: FakeClock) -> None:
    director = director_with(metrics, clock)
    routed = director.route_now(chat("llama"))
    routed.response_started(200, {}, None)
    routed.response_chunk(b'{"usage":{"prompt_tokens":3,"completion_tokens":0}}', True)
    routed.finish()
    ntpot = "inference_model_normalized_time_per_output_token_seconds_count"
    assert sample(metrics, ntpot, LABELS) == 0
    assert sample(metrics, "inference_model_output_tokens_count", LABELS) == 1


@pytest.mark.parametrize(
    ("status", "error", "code"),
    [
        (500, None, "ModelServerError"),
        (404, None, "ModelServerError"),
        (200, "Canceled", "Canceled"),
    ],
)
def test_response_errors_count_once(
    metrics: EppMetrics, clock: FakeClock, status: int, error: str | None, code: str
) -> None:
    director = director_with(metrics, clock)
    routed = director.route_now(chat("llama"))
    routed.response_started(status, {}, None)
    routed.finish(error=error)
    routed.finish(error=error)
    labels = {**LABELS, "error_code": code}
    assert sample(metrics, "inference_model_request_error_total", labels) == 1
    assert sample(metrics, "inference_model_request_duration_seconds_count", LABELS) == 0
    assert sample(metrics, "inference_model_running_requests", {"model_name": "llama"}) == 0


def test_route_errors_count_with_known_labels(metrics: EppMetrics, clock: FakeClock) -> None:
    director = director_with(metrics, clock)
    with pytest.raises(GatewayError):
        director.route_now(chat("gpt-x"))
    with pytest.raises(GatewayError):
        director.route_now(chat("llama", subset=[]))
    errors = "inference_model_request_error_total"
    assert (
        sample(
            metrics,
            errors,
            {"model_name": "gpt-x", "target_model_name": "", "error_code": "NotFound"},
        )
        == 1
    )
    assert sample(metrics, errors, {**LABELS, "error_code": "ServiceUnavailable"}) == 1
    assert sample(metrics, "inference_model_request_total", LABELS) is None


def test_scheduler_failure_attempt(metrics: EppMetrics, clock: FakeClock) -> None:
    store = make_store(pods=1, models=[model("llama", criticality="Sheddable")])
    store.set_metrics("127.0.0.11:8000", Metrics(waiting=99, updated_at=clock.now))
    from inference_gateway.scheduling.saturation import SaturationDetector

    director = make_director(store, clock=clock, metrics=metrics, admission=SaturationDetector())
    with pytest.raises(GatewayError):
        director.route_now(chat("llama"))
    assert (
        sample(metrics, "inference_extension_scheduler_attempts_total", {"status": "failure"}) == 1
    )


def test_plugin_durations_from_the_real_scheduler(metrics: EppMetrics, clock: FakeClock) -> None:
    ticks = iter(range(1000))
    scheduler = build_scheduler(
        load_config("least-request"),
        rng=random.Random(0),
        observer=metrics.observe_plugin,
        perf_counter=lambda: next(ticks) * 0.001,
    )
    store = make_store(models=[model("llama")])
    director = make_director(store, clock=clock, metrics=metrics, scheduler=scheduler)
    director.route_now(chat("llama"))
    rendered = metrics.render().decode()
    assert "inference_extension_plugin_duration_seconds_count{" in rendered
    assert 'plugin_type="inflight-load-scorer"' in rendered


def test_info_and_bucket_bounds(metrics: EppMetrics) -> None:
    assert sample(metrics, "inference_extension_info", {"commit": "abc", "build_ref": "v0"}) == 1
    assert buckets.REQUEST_SIZES[0] == 64 and buckets.REQUEST_SIZES[-1] == 1073741824
    assert buckets.INPUT_TOKENS[:3] == (1, 8, 16) and buckets.INPUT_TOKENS[-1] == 1048576
    assert buckets.OUTPUT_TOKENS[-1] == 8192
    assert len(buckets.REQUEST_DURATION) == 35
    metrics.request_routed("m", "t", 100)
    le = "inference_model_request_sizes_bucket"
    assert sample(metrics, le, {"model_name": "m", "target_model_name": "t", "le": "64.0"}) == 0
    assert sample(metrics, le, {"model_name": "m", "target_model_name": "t", "le": "128.0"}) == 1
    assert (
        sample(metrics, le, {"model_name": "m", "target_model_name": "t", "le": "1.073741824e+09"})
        == 1
    )


def test_registries_are_independent() -> None:
    one, two = EppMetrics(), EppMetrics()
    one.request_routed("m", "m", 1)
    assert (
        two.registry.get_sample_value(
            "inference_model_request_total", {"model_name": "m", "target_model_name": "m"}
        )
        is None
    )


def test_pool_gauges_use_fresh_endpoints_only(clock: FakeClock) -> None:
    store = make_store(pods=3, models=[model("llama")])
    metrics = EppMetrics(store, clock=clock, fresh_within=2.0)
    store.set_metrics(
        "127.0.0.11:8000", Metrics(waiting=4, running=10, kv_usage=0.5, updated_at=clock.now - 1)
    )
    store.set_metrics(
        "127.0.0.12:8000", Metrics(waiting=2, running=6, kv_usage=0.3, updated_at=clock.now)
    )
    store.set_metrics(
        "127.0.0.13:8000", Metrics(waiting=100, running=99, kv_usage=1.0, updated_at=clock.now - 5)
    )
    pool = {"name": "pool"}
    assert sample(metrics, "inference_pool_ready_pods", pool) == 2
    assert sample(metrics, "inference_pool_average_kv_cache_utilization", pool) == pytest.approx(
        0.4
    )
    assert sample(metrics, "inference_pool_average_queue_size", pool) == 3
    assert sample(metrics, "inference_pool_average_running_requests", pool) == 8
    per_pod = "inference_pool_per_pod_queue_size"
    assert sample(metrics, per_pod, {"name": "pool", "model_server_pod": "pod-0"}) == 4
    assert sample(metrics, per_pod, {"name": "pool", "model_server_pod": "pod-2"}) is None
    clock.now += 10
    assert sample(metrics, "inference_pool_ready_pods", pool) == 0
    assert sample(metrics, "inference_pool_average_queue_size", pool) == 0
