"""Upstream's predicted-latency configs (GIE's chart, llm-d's guides) on our predictor.

The configs are upstream's, rendered as their charts ship them (``tests/upstream``); the
rules each plugin is held to are upstream's (``plugins.latency_scorer``,
``plugins.latency_slo``)."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inference_gateway.app import epp_registry
from inference_gateway.datastore.types import Endpoint
from inference_gateway.scheduling.config import ConfigError, SchedulerConfig, load_config
from inference_gateway.scheduling.framework import CycleState, PluginHandle
from inference_gateway.scheduling.observe import objectives, observers
from inference_gateway.scheduling.plugins.latency_scorer import LatencyScorer, LatencyScorerParams
from inference_gateway.scheduling.plugins.latency_slo import (
    AffinityParams,
    PrefixCacheAffinityFilter,
    SloHeadroomTierFilter,
    TierParams,
)
from inference_gateway.scheduling.plugins.predicted_latency import (
    ApproxPrefixCacheProducer,
    ApproxPrefixParams,
    LatencyInfo,
    PredictedLatencyProducer,
    ProducerParams,
)
from inference_gateway.scheduling.scheduler import PluginScheduler, build_scheduler
from inference_gateway.scheduling.types import Criticality, LLMRequest, NoCapacityError
from tests.unit.scheduling.helpers import NOW, make_endpoint, make_request, names

UPSTREAM = Path(__file__).parents[2] / "upstream"
CONFIGS = (
    "predicted_latency_chart_v1.5.yaml",
    "predicted_latency_chart_v1.4.0.yaml",
    "llm_d_predicted_latency.yaml",
    "llm_d_predicted_latency_slo.yaml",
)


def _load(name: str) -> SchedulerConfig:
    return load_config(UPSTREAM / name, epp_registry())


def _scheduler(name: str, seed: int = 0) -> PluginScheduler:
    return build_scheduler(_load(name), rng=random.Random(seed))


def _request(i: int, headers: dict[str, str] | None = None, **kw: object) -> LLMRequest:
    base = make_request(prompt=f"question {i}: " + "w" * 300, **kw)  # type: ignore[arg-type]
    return replace(base, request_id=f"r{i}", headers=MappingProxyType(headers or {}))


def _serve(
    scheduler: PluginScheduler, speeds: dict[str, float], n: int, first: int = 0
) -> Counter[str]:
    """``n`` requests over four pods, one pick per tick; a request holds its pod for
    8 ticks x its speed and is then answered with the pod's true latencies, so the
    gateway's in-flight counts follow the picks as they do in the gateway."""
    pods = {name: make_endpoint(name, running=4, kv=0.3) for name in speeds}
    learners = observers(scheduler.post_pick)
    live: list[tuple[int, str, LLMRequest]] = []
    flight: Counter[str] = Counter()
    picked: Counter[str] = Counter()
    for i in range(first, first + n):
        now = NOW + i * 0.01
        for done in [x for x in live if x[0] <= i]:
            live.remove(done)
            _, pod, req = done
            flight[pod] -= 1
            for learner in learners:
                learner.observe_response(
                    req.request_id, pod, ttft=0.04 * speeds[pod] * (1 + flight[pod] / 10),
                    tpot=0.01 * speeds[pod], prompt_tokens=80, completion_tokens=200, now=now,
                )  # fmt: skip
        candidates = [replace(p, in_flight=flight[p.name]) for p in pods.values()]
        req = _request(i)
        pod = scheduler.schedule(req, candidates, now).primary.name
        picked[pod] += 1
        flight[pod] += 1
        live.append((i + int(8 * speeds[pod]), pod, req))
    return picked


@pytest.mark.parametrize("name", CONFIGS)
def test_upstream_predicted_latency_configs_load_and_route(name: str) -> None:
    scheduler = _scheduler(name)
    pods = [make_endpoint(f"p{i}", running=1, kv=0.1) for i in range(4)]
    decision = scheduler.schedule(_request(0), pods, NOW)
    assert decision.primary.name in names(pods)
    # The producer and the prefix index learn the pick even where no profile lists them.
    types = {getattr(p, "type", "") for p in scheduler.post_pick}
    assert types & {"predicted-latency-producer", "predicted-latency-scorer"}
    assert types & {"approx-prefix-cache-producer", "prefix-cache-scorer"}


def test_the_chart_profile_runs_the_producer_first_and_never_scores_with_it() -> None:
    config = _load("predicted_latency_chart_v1.5.yaml")
    (profile,) = config.profiles
    assert profile.producers == ("predicted-latency-producer",)
    assert profile.filters == (
        "strict-affinity-filter",
        "slo-headroom-tier-filter",
        "loose-affinity-filter",
    )
    assert profile.scorers == (("latency-scorer", 1.0),)
    assert profile.picker == "weighted-random-picker"
    # v1.5's chart declares prefix-cache-scorer: the producer reads it, no second index.
    assert "approx-prefix-cache-producer" not in config.plugins


def test_missing_producers_are_added_as_upstream_adds_them() -> None:
    text = (
        "apiVersion: inference.networking.x-k8s.io/v1alpha1\nkind: EndpointPickerConfig\n"
        "plugins: [{type: latency-scorer}]\n"
    )
    config = load_config(text)
    assert {p.type for p in config.plugins.values()} >= {
        "latency-scorer",
        "predicted-latency-producer",
        "approx-prefix-cache-producer",
    }


def test_v1_4_monolith_and_its_feature_gate_load_as_our_scorer() -> None:
    config = _load("predicted_latency_chart_v1.4.0.yaml")
    assert config.feature_gates == ("prepareDataPlugins",)
    assert dict(config.profiles[0].scorers) == {"predicted-latency-scorer": 1.0}


def test_unknown_upstream_parameters_are_still_errors() -> None:
    text = (
        "apiVersion: llm-d.ai/v1alpha1\nkind: EndpointPickerConfig\n"
        "plugins: [{type: latency-scorer, parameters: {ttftWieght: 1}}]\n"
    )
    with pytest.raises(ConfigError, match=r"plugins\[0\]\.parameters\.ttftWieght"):
        load_config(text)


@pytest.mark.parametrize("name", [CONFIGS[2], CONFIGS[0]])
def test_the_upstream_pipeline_learns_a_slow_pod_within_a_bounded_number_of_requests(
    name: str,
) -> None:
    slow = {"p0": 3.0, "p1": 1.0, "p2": 1.0, "p3": 1.0}
    scheduler = _scheduler(name)
    _serve(scheduler, slow, 60)
    later = _serve(scheduler, slow, 300, first=60)
    assert later["p0"] < 0.1 * 300
    # The control: pods of one speed share the same traffic evenly.
    even = _serve(_scheduler(name), dict.fromkeys(slow, 1.0), 360)
    assert min(even.values()) > 0.15 * 360


def _producer(**params: object) -> PredictedLatencyProducer:
    return PredictedLatencyProducer(
        "predicted-latency-producer", ProducerParams.model_validate(params), _handle()
    )


def _handle(**plugins: object) -> PluginHandle:
    return PluginHandle(
        rng=random.Random(0),
        lookup=plugins.__getitem__,
        types={name: name for name in plugins},
    )


def _teach(
    producer: PredictedLatencyProducer, pods: list[Endpoint], speeds: dict[str, float]
) -> None:
    for i in range(20):
        pod = pods[i % len(pods)]
        req, state = _request(1000 + i), CycleState()
        producer.infos(req, [pod], state)
        producer.on_picked(req, pod, state)
        s = speeds[pod.name]
        producer.observe_response(
            req.request_id, pod.name, ttft=0.04 * s, tpot=0.01 * s, prompt_tokens=80,
            completion_tokens=200, now=NOW,
        )  # fmt: skip


def test_the_producer_attaches_headroom_as_upstream_does() -> None:
    pods = [make_endpoint("p0"), make_endpoint("p1")]
    producer = _producer()
    _teach(producer, pods, {"p0": 4.0, "p1": 1.0})
    slow, fast = (producer.infos(_request(1), pods, {})[p.name] for p in pods)
    assert slow.ttft > 2.0 * fast.ttft
    # No SLO header: the objective is 0, so every endpoint is invalid with headroom -TTFT.
    assert (fast.ttft_headroom, fast.ttft_valid) == (-fast.ttft, False)
    # TPOT is judged only in streamingMode.
    assert (fast.tpot_headroom, fast.tpot_valid) == (0.0, True)
    slo = {"x-slo-ttft-ms": str((slow.ttft + fast.ttft) / 2), "x-slo-tpot-ms": "1"}
    slow, fast = (producer.infos(_request(2, slo), pods, {})[p.name] for p in pods)
    assert (fast.valid, slow.valid) == (True, False)
    streaming = _producer(streamingMode=True)
    _teach(streaming, pods, {"p0": 4.0, "p1": 1.0})
    info = streaming.infos(_request(3, slo), pods, {})["p1"]
    assert info.tpot_headroom == pytest.approx(1.0 - info.tpot) and not info.tpot_valid


def test_llm_d_slo_headers_are_read_first_then_upstreams() -> None:
    assert objectives({"x-llm-d-slo-ttft-ms": "200", "x-slo-ttft-ms": "900"}) == (0.2, None)
    assert objectives({"x-slo-ttft-ms": "900", "x-llm-d-slo-tpot-ms": "20"}) == (0.9, 0.02)
    assert objectives({"x-llm-d-slo-ttft-ms": "junk", "x-slo-ttft-ms": "900"}) == (0.9, None)


@pytest.mark.parametrize("raw", ["junk", "", "-5", "0", "nan", "inf", "-inf", "1e400"])
def test_an_objective_that_is_not_a_positive_finite_number_is_absent(raw: str) -> None:
    assert objectives({"x-llm-d-slo-ttft-ms": raw, "x-slo-tpot-ms": raw}) == (None, None)


def _consumers(
    pods: list[Endpoint], speeds: dict[str, float], **producer_params: object
) -> tuple[PredictedLatencyProducer, PluginHandle]:
    producer = _producer(**producer_params)
    _teach(producer, pods, speeds)
    prefix = ApproxPrefixCacheProducer(
        "approx-prefix-cache-producer", ApproxPrefixParams(), _handle()
    )
    return producer, _handle(
        **{"predicted-latency-producer": producer, "approx-prefix-cache-producer": prefix}
    )


def test_latency_scorer_without_slo_ranks_by_predicted_ttft_idle_first() -> None:
    pods = [make_endpoint(f"p{i}", in_flight=2) for i in range(3)]
    _, handle = _consumers(pods, {"p0": 3.0, "p1": 1.0, "p2": 2.0})
    scorer = LatencyScorer("latency-scorer", LatencyScorerParams(), handle)
    scores = scorer.score(_request(1), pods, {})
    assert scores[1] > scores[2] > scores[0]
    assert (scores[1], scores[0]) == (1.01, 0.01)  # upstream's range; the framework clamps
    # An idle pod (none of the gateway's requests in flight) is scored alone.
    idle = [pods[0], pods[1], replace(pods[2], in_flight=0)]
    assert scorer.score(_request(2), idle, {}) == [0.0, 0.0, 0.51]


@pytest.mark.parametrize(("strategy", "winner"), [("least", "p2"), ("most", "p1")])
def test_latency_scorer_scores_only_pods_meeting_the_slo_by_headroom(
    strategy: str, winner: str
) -> None:
    pods = [make_endpoint(f"p{i}", in_flight=1) for i in range(3)]
    producer, handle = _consumers(pods, {"p0": 6.0, "p1": 1.0, "p2": 2.0})
    infos = producer.infos(_request(0), pods, {})
    slo = {"x-slo-ttft-ms": str((infos["p2"].ttft + infos["p0"].ttft) / 2)}
    params = LatencyScorerParams(headroomSelectionStrategy=strategy)
    scores = LatencyScorer("latency-scorer", params, handle).score(_request(1, slo), pods, {})
    assert scores[0] == 0.0  # predicted to miss: unscored while others meet it
    assert names(pods)[scores.index(max(scores))] == winner


def test_tier_filter_keeps_the_pods_meeting_the_slo_and_sometimes_explores() -> None:
    pods = [make_endpoint(f"p{i}") for i in range(3)]
    producer, handle = _consumers(pods, {"p0": 6.0, "p1": 1.0, "p2": 1.0})
    infos = producer.infos(_request(0), pods, {})
    slo = {"x-slo-ttft-ms": str((infos["p1"].ttft + infos["p0"].ttft) / 2)}
    keep = SloHeadroomTierFilter("tier", TierParams(epsilonExploreNeg=0.0), handle)
    assert names(keep.filter(_request(1, slo), pods, {})) == ["p1", "p2"]
    assert names(keep.filter(_request(2), pods, {})) == ["p0", "p1", "p2"]  # no SLO: all
    explore = SloHeadroomTierFilter("tier", TierParams(epsilonExploreNeg=1.0), handle)
    assert names(explore.filter(_request(3, slo), pods, {})) == ["p0"]


def _prefixed(filter_: PrefixCacheAffinityFilter, handle: PluginHandle, holder: Endpoint) -> None:
    prefix = handle.plugin("approx-prefix-cache-producer")
    assert isinstance(prefix, ApproxPrefixCacheProducer)
    state: CycleState = {}
    prefix.shares(_request(0), state)
    prefix.on_picked(_request(0), holder, state)


def test_affinity_filter_sticks_to_the_prefix_unless_it_is_much_slower() -> None:
    pods = [make_endpoint(f"p{i}") for i in range(3)]
    _, handle = _consumers(pods, {"p0": 1.0, "p1": 1.0, "p2": 1.0})
    sticky = PrefixCacheAffinityFilter(
        "f", AffinityParams(affinityThreshold=0.99, explorationProbability=0.0), handle
    )
    _prefixed(sticky, handle, pods[2])
    assert names(sticky.filter(_request(0), pods, {})) == ["p2"]
    assert names(sticky.filter(_request(5), pods, {})) == ["p0", "p1", "p2"]  # no match
    # The holder's queue makes it predicted more than maxTTFTPenaltyMs slower: all pass.
    swamped = [pods[0], pods[1], replace(pods[2], in_flight=60, metrics=replace(
        pods[2].metrics, waiting=400, running=60))]  # fmt: skip
    gate = PrefixCacheAffinityFilter(
        "g",
        AffinityParams(affinityThreshold=0.99, explorationProbability=0.0, maxTTFTPenaltyMs=50),
        handle,
    )
    assert names(gate.filter(_request(0), swamped, {})) == ["p0", "p1", "p2"]
    off = PrefixCacheAffinityFilter(
        "h",
        AffinityParams(affinityThreshold=0.99, explorationProbability=0.0, maxTTFTPenaltyMs=0),
        handle,
    )
    assert names(off.filter(_request(0), swamped, {})) == ["p2"]


def test_approx_prefix_parameters_are_tokens() -> None:
    got = ApproxPrefixParams(maxPrefixTokensToMatch=262144).prefix_params()
    assert (got.blockSize, got.maxPrefixBlocksToMatch) == (64, 16384)
    assert ApproxPrefixParams(blockSizeTokens=32).prefix_params().blockSize == 128


def _saturated(n: int = 3) -> list[Endpoint]:
    return [make_endpoint(f"p{i}", running=30, waiting=20, kv=0.9, in_flight=50) for i in range(n)]


@pytest.mark.parametrize(
    ("criticality", "headers", "idle", "refused"),
    [
        (Criticality.SHEDDABLE, {"x-llm-d-slo-ttft-ms": "1"}, False, True),
        (Criticality.SHEDDABLE, {"x-slo-ttft-ms": "1"}, True, False),  # an idle pod
        (Criticality.SHEDDABLE, {}, False, False),  # no objective: nothing to miss
        (Criticality.STANDARD, {"x-llm-d-slo-ttft-ms": "1"}, False, False),
        # Met. In streamingMode (this config) TPOT is judged too, as upstream: an absent
        # TPOT objective is 0 and nothing meets it.
        (
            Criticality.SHEDDABLE,
            {"x-llm-d-slo-ttft-ms": "6e5", "x-slo-tpot-ms": "900"},
            False,
            False,
        ),
        (Criticality.SHEDDABLE, {"x-llm-d-slo-ttft-ms": "6e5"}, False, True),
    ],
)
def test_the_admitter_refuses_sheddable_requests_no_pod_can_serve_in_time(
    criticality: Criticality, headers: dict[str, str], idle: bool, refused: bool
) -> None:
    scheduler = _scheduler("llm_d_predicted_latency_slo.yaml")
    pods = _saturated()
    if idle:
        pods[1] = make_endpoint("p1", running=0, kv=0.5)
    request = _request(1, headers, criticality=criticality)
    if refused:
        with pytest.raises(NoCapacityError, match="latency objectives"):
            scheduler.schedule(request, pods, NOW)
    else:
        assert scheduler.schedule(request, pods, NOW).primary.name in names(pods)


@pytest.mark.parametrize(
    ("criticality", "headers", "refused"),
    [
        (Criticality.SHEDDABLE, {"x-slo-ttft-ms": "1", "x-slo-tpot-ms": "1"}, True),
        # The monolith streams by default: without a TPOT objective it does not judge.
        (Criticality.SHEDDABLE, {"x-slo-ttft-ms": "1"}, False),
        (Criticality.CRITICAL, {"x-slo-ttft-ms": "1", "x-slo-tpot-ms": "1"}, False),
        (Criticality.SHEDDABLE, {"x-slo-ttft-ms": "6e5", "x-slo-tpot-ms": "6e5"}, False),
    ],
)
def test_the_v1_4_monolith_refuses_as_upstreams_did(
    criticality: Criticality, headers: dict[str, str], refused: bool
) -> None:
    scheduler = _scheduler("predicted_latency_chart_v1.4.0.yaml")
    request = _request(1, headers, criticality=criticality)
    if refused:
        with pytest.raises(NoCapacityError, match="latency objectives"):
            scheduler.schedule(request, _saturated(), NOW)
        cold = [*_saturated(2), make_endpoint("p2", running=3, kv=0.01)]
        assert scheduler.schedule(request, cold, NOW).primary.name in names(cold)
    else:
        assert scheduler.schedule(request, _saturated(), NOW).primary.name.startswith("p")


class _Given(PredictedLatencyProducer):
    """A producer whose predictions are given: the scorer's rules on any headrooms."""

    given: dict[str, LatencyInfo] = {}

    def infos(
        self, request: LLMRequest, endpoints: Sequence[Endpoint], cycle_state: CycleState
    ) -> dict[str, LatencyInfo]:
        return self.given


_headroom = st.one_of(st.just(0.0), st.floats(-1e4, 1e4, allow_nan=False))


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(st.tuples(_headroom, _headroom, st.integers(0, 3)), min_size=1, max_size=12),
    strategy=st.sampled_from(["least", "most"]),
    weights=st.tuples(st.floats(0, 2), st.floats(0, 2)),
)
def test_latency_scorer_always_leaves_the_picker_a_choice(
    rows: list[tuple[float, float, int]], strategy: str, weights: tuple[float, float]
) -> None:
    pods = [make_endpoint(f"p{i}") for i in range(len(rows))]
    producer = _Given("predicted-latency-producer", ProducerParams(), _handle())
    producer.given = {
        p.name: LatencyInfo(100.0, 10.0, t, q, t > 0, q > 0, d)
        for p, (t, q, d) in zip(pods, rows, strict=True)
    }
    params = LatencyScorerParams(
        headroomSelectionStrategy=strategy, ttftWeight=weights[0], tpotWeight=weights[1]
    )
    scorer = LatencyScorer("s", params, _handle(**{"predicted-latency-producer": producer}))
    scores = scorer.score(_request(0), pods, {})
    assert len(scores) == len(pods)
    assert all(s == 0.0 or 0.01 <= s <= 1.01 for s in scores), scores
    assert max(scores) > 0.0
    meets = [t >= 0 and q >= 0 for t, q, _ in rows]
    if any(meets):
        assert all(s == 0.0 for s, ok in zip(scores, meets, strict=True) if not ok)
