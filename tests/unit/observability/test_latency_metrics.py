"""Actual against predicted TTFT and TPOT, under upstream's names, from a real Director
running the ``predicted`` config: what each request got, what the predictor said on the pod
it picked, and SLO violations for requests that carried objectives."""

from __future__ import annotations

import random

import pytest

from inference_gateway.datastore import Metrics
from inference_gateway.observability import EppMetrics
from inference_gateway.observability.metrics import OBJECTIVE_SUBSYSTEM
from inference_gateway.requestcontrol import Director
from inference_gateway.requestcontrol.pipeline import build_director
from inference_gateway.scheduling.config import load_config
from inference_gateway.scheduling.plugins.latency import LatencyPredictor
from tests.unit.requestcontrol.builders import (
    FakeClock,
    chat,
    make_store,
    model,
    stream_response,
)

S = OBJECTIVE_SUBSYSTEM
LABELS = {"model_name": "llama", "target_model_name": "llama"}


def _director(config: str) -> tuple[Director, EppMetrics, FakeClock, dict[str, object]]:
    clock = FakeClock()
    store = make_store(models=[model("llama")])
    for e in store.all_endpoints():
        store.set_metrics(e.hostport, Metrics(updated_at=clock.now))
    metrics = EppMetrics(store, clock=clock, subsystem=S)
    director, plugins = build_director(
        store, load_config(config), rng=random.Random(0), metrics=metrics, clock=clock
    )
    return director, metrics, clock, dict(plugins)


def _stream(director: Director, clock: FakeClock, headers: dict[str, str]) -> None:
    """A streamed response: first token after 0.2 s, then 40 tokens 10 ms apart."""
    stream_response(director.route_now(chat("llama", headers=headers)), clock)


def value(metrics: EppMetrics, name: str, labels: dict[str, str] | None = None) -> float | None:
    return metrics.registry.get_sample_value(name, labels if labels is not None else LABELS)


def test_actual_and_predicted_latency_and_slo_violations_per_model() -> None:
    director, metrics, clock, plugins = _director("predicted")
    (predictor,) = [p for p in plugins.values() if isinstance(p, LatencyPredictor)]
    said: list[tuple[float, float]] = []
    prediction = predictor.prediction

    def spy(request_id: str) -> tuple[float, float] | None:
        found = prediction(request_id)
        if found is not None:
            said.append(found)
        return found

    predictor.prediction = spy  # type: ignore[method-assign]
    headers = {"x-request-id": "r1", "x-slo-ttft-ms": "100", "x-slo-tpot-ms": "50"}
    _stream(director, clock, headers)
    _stream(director, clock, {"x-request-id": "r2"})  # no objectives: no violation counted
    assert len(said) == 2
    assert value(metrics, f"{S}_request_ttft_seconds_count") == 2
    assert value(metrics, f"{S}_request_ttft_seconds_sum") == pytest.approx(0.4)
    assert value(metrics, f"{S}_request_predicted_ttft_seconds_sum") == pytest.approx(
        said[0][0] + said[1][0]
    )
    assert value(metrics, f"{S}_request_tpot_seconds_sum") == pytest.approx(0.02)
    assert value(metrics, f"{S}_request_predicted_tpot_seconds_sum") == pytest.approx(
        said[0][1] + said[1][1]
    )
    violations = f"{S}_request_slo_violation_total"
    assert value(metrics, violations, {**LABELS, "type": "ttft"}) == 1  # 200 ms > 100 ms
    assert value(metrics, violations, {**LABELS, "type": "tpot"}) == 0  # 10 ms < 50 ms
    gauge = f"{S}_inference_request_metric"
    assert value(metrics, gauge, {**LABELS, "type": "ttft"}) == pytest.approx(0.2)
    assert value(metrics, gauge, {**LABELS, "type": "predicted_tpot"}) == pytest.approx(said[1][1])
    assert value(metrics, gauge, {**LABELS, "type": "ttft_slo_violation"}) == 1


def test_without_a_predictor_the_families_stay_empty() -> None:
    director, metrics, clock, _ = _director("default")
    _stream(director, clock, {"x-request-id": "r1", "x-slo-ttft-ms": "100"})
    assert value(metrics, f"{S}_request_ttft_seconds_count") is None
    text = metrics.render().decode()
    assert f"# TYPE {S}_request_predicted_ttft_seconds histogram" in text
