from __future__ import annotations

import pytest

from inference_gateway.scheduling.framework import NoParams, Plugin, Scorer
from inference_gateway.scheduling.plugins.lora import LoraAffinityScorer
from inference_gateway.scheduling.plugins.scorers import (
    InflightLoadScorer,
    KVCacheUtilizationScorer,
    QueueScorer,
    RunningRequestsSizeScorer,
)
from tests.unit.scheduling.helpers import handle, make_endpoint, make_request


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0, 5, 10], [1.0, 0.5, 0.0]),
        ([4, 4], [1.0, 1.0]),
        ([7], [1.0]),
        ([], []),
        ([2, 10, 6], [1.0, 0.0, 0.5]),
    ],
)
@pytest.mark.parametrize("field", ["waiting", "running", "in_flight"])
def test_min_max_inverted_scorers(values: list[int], expected: list[float], field: str) -> None:
    cls: type[Plugin] = {
        "waiting": QueueScorer,
        "running": RunningRequestsSizeScorer,
        "in_flight": InflightLoadScorer,
    }[field]
    scorer: Scorer = cls("s", NoParams(), handle())  # type: ignore[assignment]
    eps = [make_endpoint(f"p{i}", **{field: v}) for i, v in enumerate(values)]  # type: ignore[arg-type]
    assert scorer.score(make_request(), eps, {}) == pytest.approx(expected)


@pytest.mark.parametrize(("kv", "expected"), [(0.0, 1.0), (0.25, 0.75), (1.0, 0.0)])
def test_kv_cache_utilization_scorer(kv: float, expected: float) -> None:
    scorer = KVCacheUtilizationScorer("kv", NoParams(), handle())
    assert scorer.score(make_request(), [make_endpoint("p0", kv=kv)], {}) == [
        pytest.approx(expected)
    ]


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        (make_endpoint("p0", adapters={"sql"}, max_adapters=1), 1.0),
        (make_endpoint("p1", adapters={"chat"}, max_adapters=2), 0.8),
        (make_endpoint("p2", waiting_adapters={"sql"}, max_adapters=1), 0.6),
        (make_endpoint("p3", adapters={"chat"}, max_adapters=1), 0.0),
        (make_endpoint("p4"), 0.0),
    ],
)
def test_lora_affinity_scorer(endpoint: object, expected: float) -> None:
    scorer = LoraAffinityScorer("lora", NoParams(), handle())
    assert scorer.score(make_request(target="sql"), [endpoint], {}) == [expected]  # type: ignore[list-item]
