"""Metric names per API generation, upstream buckets, and the prefix-indexer metrics."""

from __future__ import annotations

import random

from prometheus_client.parser import text_string_to_metric_families

from inference_gateway.observability.metrics import (
    MODEL_SUBSYSTEM,
    OBJECTIVE_SUBSYSTEM,
    EppMetrics,
    metrics_subsystem,
)
from inference_gateway.observability.prefix_collector import PrefixIndexerCollector
from inference_gateway.scheduling.framework import PluginHandle
from inference_gateway.scheduling.plugins.prefix import PrefixCacheScorer, PrefixParams
from tests.unit.scheduling.helpers import make_endpoint, make_request


def samples(metrics: EppMetrics) -> dict[str, float]:
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            key = s.name + "".join(f"|{k}={v}" for k, v in sorted(s.labels.items()))
            out[key] = s.value
    return out


def test_a_v1_pool_counts_under_inference_objective_and_v1alpha2_under_inference_model() -> None:
    assert metrics_subsystem("inference.networking.k8s.io") == OBJECTIVE_SUBSYSTEM
    assert metrics_subsystem("inference.networking.x-k8s.io") == MODEL_SUBSYSTEM
    assert metrics_subsystem(None) == MODEL_SUBSYSTEM
    for subsystem in (OBJECTIVE_SUBSYSTEM, MODEL_SUBSYSTEM):
        metrics = EppMetrics(subsystem=subsystem)
        metrics.request_routed("m", "t", 100)
        names = {k.partition("|")[0] for k in samples(metrics)}
        assert f"{subsystem}_request_total" in names
        assert f"{subsystem}_running_requests" in names
        other = MODEL_SUBSYSTEM if subsystem == OBJECTIVE_SUBSYSTEM else OBJECTIVE_SUBSYSTEM
        assert not any(n.startswith(other) for n in names)


def test_token_buckets_are_upstreams_including_32778() -> None:
    metrics = EppMetrics()
    metrics.request_completed(
        "m", "t", seconds=1.0, response_bytes=10, prompt_tokens=32770,
        completion_tokens=1, cached_tokens=32770,
    )  # fmt: skip
    got = samples(metrics)
    for family in ("inference_model_input_tokens", "inference_model_prompt_cached_tokens"):
        base = f"{family}_bucket|le={{}}|model_name=m|target_model_name=t"
        assert got[base.format("16384.0")] == 0
        assert got[base.format("32778.0")] == 1  # 32770 <= 32778: upstream's bucket, not 32768
        assert base.format("32768.0") not in got


def test_predicted_latency_families_have_upstreams_names_and_buckets() -> None:
    metrics = EppMetrics(subsystem=OBJECTIVE_SUBSYSTEM)
    metrics.first_token("m", "t", ttft=0.3, predicted=0.25, slo=0.2)
    metrics.decoded("m", "t", tpot=0.00205, predicted=0.004, slo=None)
    got = samples(metrics)
    labels = "|model_name=m|target_model_name=t"
    ttft = "inference_objective_request_ttft_seconds_bucket|le={}" + labels
    assert (got[ttft.format("0.2")], got[ttft.format("0.4")]) == (0, 1)
    tpot = "inference_objective_request_tpot_seconds_bucket|le={}" + labels
    assert (got[tpot.format("0.0005")], got[tpot.format("0.00205")]) == (0, 1)
    predicted = "inference_objective_request_predicted_tpot_seconds_bucket|le={}" + labels
    assert (got[predicted.format("0.00205")], got[predicted.format("0.005")]) == (0, 1)
    violation = "inference_objective_request_slo_violation_total" + labels
    assert got[violation + "|type=ttft"] == 1
    assert violation + "|type=tpot" not in got  # no objective: not even a zero
    gauge = "inference_objective_inference_request_metric" + labels + "|type={}"
    assert got[gauge.format("predicted_ttft")] == 0.25
    assert got[gauge.format("ttft_slo_violation")] == 1


def test_prefix_indexer_metrics_follow_the_scorer() -> None:
    scorer = PrefixCacheScorer(
        "prefix", PrefixParams(blockSize=4), PluginHandle(rng=random.Random(0))
    )
    metrics = EppMetrics()
    metrics.registry.register(PrefixIndexerCollector([scorer]))
    a, b = make_endpoint("a"), make_endpoint("b")
    first = make_request(prompt="x" * 16)
    state: dict[str, object] = {}
    scorer.score(first, [a, b], state)  # nothing indexed yet: a 0 of 16 bytes match
    scorer.on_picked(first, a, state)
    second = make_request(prompt="x" * 8 + "y" * 8)
    scorer.score(second, [a, b], {})  # 8 of 16 bytes held by a
    got = samples(metrics)
    assert got["inference_extension_prefix_indexer_size"] == 4  # 4 blocks on one server
    assert got["inference_extension_prefix_indexer_hit_ratio_count"] == 2
    assert got["inference_extension_prefix_indexer_hit_ratio_sum"] == 0.5
    assert got["inference_extension_prefix_indexer_hit_bytes_sum"] == 8
    assert got["inference_extension_prefix_indexer_hit_bytes_bucket|le=0.0"] == 1
    # Read once: the next scrape sees no new matches.
    assert samples(metrics)["inference_extension_prefix_indexer_hit_ratio_count"] == 2
