"""The ``latency-predictor`` scorer: load scoring before data, learning slow pods, SLOs."""

from __future__ import annotations

import random
from dataclasses import replace
from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inference_gateway.datastore.types import Endpoint
from inference_gateway.scheduling.config import load_config
from inference_gateway.scheduling.explain import format_explanation
from inference_gateway.scheduling.framework import NOTES_KEY, NOW_KEY, CycleState, PluginHandle
from inference_gateway.scheduling.latency_model import Rls, SpeedTable
from inference_gateway.scheduling.observe import ResponseObserver, observers
from inference_gateway.scheduling.plugins._latency_parts import LatencyParams
from inference_gateway.scheduling.plugins.latency import LatencyPredictor
from inference_gateway.scheduling.plugins.prefix import PrefixCacheScorer, PrefixParams
from inference_gateway.scheduling.scheduler import build_scheduler
from inference_gateway.scheduling.types import LLMRequest
from tests.unit.scheduling.helpers import NOW, handle, make_endpoint, make_request

FAST_TPOT = 0.008
"""Ground truth of the synthetic pool below: TPOT = speed x (8 ms + 5 ms per 100 in flight)."""


def _predictor(**params: object) -> LatencyPredictor:
    return LatencyPredictor("lp", LatencyParams.model_validate(params), handle())


def _request(
    i: int, *, prompt: str = "x" * 400, headers: dict[str, str] | None = None
) -> LLMRequest:
    return replace(
        make_request(prompt=prompt),
        request_id=f"r{i}",
        headers=MappingProxyType(headers or {}),
    )


def _teach_adapter(lp: LatencyPredictor, target: str, holder: Endpoint) -> None:
    """One pick of ``target`` landing where it is resident: now it is a known adapter."""
    req = make_request(target=target)
    state: CycleState = {}
    lp.score(req, [holder], state)
    lp.on_picked(req, holder, state)


def _serve(
    lp: LatencyPredictor,
    pods: list[Endpoint],
    speeds: dict[str, float],
    n: int,
    *,
    now: float = NOW,
    first_id: int = 0,
) -> None:
    """``n`` requests per pod: pick (record features), then report the true latencies."""
    rng = random.Random(7)
    for i in range(first_id, first_id + n * len(pods)):
        pod = pods[i % len(pods)]
        loaded = replace(pod, in_flight=rng.randint(0, 40))
        req = _request(i)
        state: CycleState = {}
        lp.score(req, [loaded], state)
        lp.on_picked(req, loaded, state)
        s = speeds[pod.name]
        tpot = s * (FAST_TPOT + 0.05 * loaded.in_flight / 100)
        lp.observe_response(
            req.request_id, pod.name, ttft=s * 0.04, tpot=tpot, prompt_tokens=100,
            completion_tokens=200, now=now,
        )  # fmt: skip


@pytest.mark.parametrize(
    ("loads", "best"),
    [
        ({"in_flight": [0, 30, 60]}, 0),
        ({"in_flight": [50, 5, 50]}, 1),
        ({"waiting": [9, 9, 0]}, 2),
        ({"kv": [0.9, 0.1, 0.5]}, 1),
    ],
)
def test_without_observations_it_scores_like_a_load_scorer(
    loads: dict[str, list[float]], best: int
) -> None:
    field, values = next(iter(loads.items()))
    eps = [make_endpoint(f"p{i}", **{field: v}) for i, v in enumerate(values)]  # type: ignore[arg-type]
    scores = _predictor().score(make_request(prompt="x" * 400), eps, {})
    assert max(range(len(eps)), key=scores.__getitem__) == best
    assert scores[best] == 1.0
    assert all(s <= 1.0 for s in scores)  # below 0 is clamped by the framework


def test_learns_a_slow_pod_within_a_bounded_number_of_requests() -> None:
    pods = [make_endpoint(f"p{i}") for i in range(4)]
    speeds = {"p0": 3.0, "p1": 1.0, "p2": 1.0, "p3": 1.0}
    lp = _predictor()
    _serve(lp, pods, speeds, n=10)
    cands = lp.predict(make_request(prompt="x" * 400), pods, {})
    tpots = [c[3] for c in cands]
    for fast in tpots[1:]:
        assert tpots[0] / fast == pytest.approx(3.0, rel=0.25)
    assert tpots[1] == pytest.approx(FAST_TPOT, rel=0.25)
    scores = lp.score(make_request(prompt="x" * 400), pods, {})
    assert scores[0] < min(scores[1:])
    # Even with the fast pods busier, the 3x slower idle pod still loses.
    busy = [pods[0]] + [replace(p, in_flight=20) for p in pods[1:]]
    scores = lp.score(make_request(prompt="x" * 400), busy, {})
    assert scores[0] < min(scores[1:])


def test_a_pod_learned_slow_is_tried_again_once_the_fast_ones_queue() -> None:
    """An idle pod learned 3x slower gets no request while the fast pods have room (the
    100-pod benchmark sends it none at 50-90 % load), but wins once they queue, so its
    speed is relearned when its capacity is needed."""
    pods = [make_endpoint(f"p{i}") for i in range(4)]
    lp = _predictor()
    _serve(lp, pods, {"p0": 3.0, "p1": 1.0, "p2": 1.0, "p3": 1.0}, n=10)
    queued = [pods[0]] + [
        make_endpoint(p.name, waiting=40, running=60, kv=0.9, in_flight=100) for p in pods[1:]
    ]
    scores = lp.score(make_request(prompt="x" * 400), queued, {})
    assert scores[0] == 1.0 and max(scores[1:]) < 1.0


@pytest.mark.parametrize(("holder_speed", "moves"), [(1.0, False), (3.0, True)])
def test_an_adapter_moves_off_its_pod_only_when_that_pod_is_much_slower(
    holder_speed: float, moves: bool
) -> None:
    """A free slot elsewhere costs a load and the slot (``coldSlotCost``) where slots are
    short (three adapters known, two slots a pod): worth it to leave a 3x slower pod, not an
    equal one."""
    holder = make_endpoint("p0", adapters=["a"], max_adapters=2)
    free = make_endpoint("p1", max_adapters=2)
    lp = _predictor()
    _serve(lp, [holder, free], {"p0": holder_speed, "p1": 1.0}, n=10)
    for other in ("b", "c"):
        _teach_adapter(lp, other, make_endpoint("p9", adapters=[other], max_adapters=2))
    _teach_adapter(lp, "a", holder)
    stay, move = lp.predict(make_request(target="a"), [holder, free], {})
    assert move[0][4] == 1.0 and stay[0][4] == 0.0  # cold on the free pod only
    assert (move[5] < stay[5]) is moves
    assert lp.costs(make_request(target="a"), [holder, free], {}) == pytest.approx(
        [stay[5], move[5]], rel=1e-12
    )
    without = _predictor(coldSlotCost=0.0)
    _serve(without, [holder, free], {"p0": holder_speed, "p1": 1.0}, n=10)
    for other in ("b", "c"):
        _teach_adapter(without, other, make_endpoint("p9", adapters=[other], max_adapters=2))
    _teach_adapter(without, "a", holder)
    cheap = without.predict(make_request(target="a"), [holder, free], {})[1][5]
    assert move[5] - cheap == pytest.approx(move[3] * (lp.output_tokens - 1.0), rel=1e-9)


@pytest.mark.parametrize(("known", "charged"), [(("a", "b"), False), (("a", "b", "c"), True)])
def test_a_slot_is_charged_for_only_where_slots_are_short(
    known: tuple[str, ...], charged: bool
) -> None:
    """Two slots a pod: with two adapters known, loading one leaves room for the other, so
    the slot costs nobody (the standalone example, where charging for it kept light load on
    a third of 100 pods); with three, it may be the one a later request needs."""
    free = make_endpoint("p1", max_adapters=2)
    costs = []
    for cold_slot in (1.0, 0.0):
        lp = _predictor(coldSlotCost=cold_slot)
        _serve(lp, [free], {"p1": 1.0}, n=10)
        for name in known:
            _teach_adapter(lp, name, make_endpoint("p9", adapters=[name], max_adapters=2))
        (cand,) = lp.predict(make_request(target="a"), [free], {})
        assert cand[0][4] == 1.0  # cold there either way: it pays the load
        assert lp.costs(make_request(target="a"), [free], {}) == pytest.approx([cand[5]])
        costs.append(cand[5])
    assert (costs[0] > costs[1]) is charged


@pytest.mark.parametrize("memory", ["60s", None])
def test_a_pod_silent_for_the_speed_memory_is_forgotten_then_relearned_at_once(
    memory: str | None,
) -> None:
    """A pod learned slow gets nothing while the fast pods have room, so only forgetting
    can show that it recovered: after ``speedMemory`` without a response it is priced like
    the others again (found by a sweep at most an eighth of the memory later) until one
    request probes it, then as before until that response teaches its speed in full."""
    pods = [make_endpoint(f"p{i}") for i in range(3)]
    lp = _predictor(speedMemory=memory, publishEveryObservations=1)
    _serve(lp, pods, {"p0": 3.0, "p1": 1.0, "p2": 1.0}, n=10)

    def tpot_ratio() -> float:
        cands = lp.predict(make_request(prompt="x" * 400), pods, {})
        return cands[0][3] / cands[1][3]

    fast = {"p1": 1.0, "p2": 1.0}
    _serve(lp, pods[1:], fast, n=5, now=NOW + 59.0, first_id=100)
    assert tpot_ratio() == pytest.approx(3.0, rel=0.25)
    assert lp.score(make_request(prompt="x" * 400), pods, {})[0] == 0.0
    _serve(lp, pods[1:], fast, n=5, now=NOW + 59.0 + 7.5, first_id=200)
    if memory is None:
        assert tpot_ratio() == pytest.approx(3.0, rel=0.25)
        return
    assert lp.tpot.speeds.observations("p0") == 0
    assert lp.ttft.speeds.observations("p0") == 0
    assert tpot_ratio() == pytest.approx(1.0, rel=0.25)
    assert lp.score(make_request(prompt="x" * 400), pods, {})[0] > 0.8
    probe = _request(300)
    state: CycleState = {}
    lp.score(probe, pods[:1], state)
    lp.on_picked(probe, pods[0], state)  # the one probe: priced as before until it answers
    assert tpot_ratio() == pytest.approx(3.0, rel=0.25)
    assert lp.score(make_request(prompt="x" * 400), pods, {})[0] == 0.0
    lp.observe_response(  # it recovered: its first response is learned in full
        probe.request_id, "p0", ttft=0.04, tpot=FAST_TPOT, prompt_tokens=100,
        completion_tokens=200, now=NOW + 68.0,
    )  # fmt: skip
    assert tpot_ratio() == pytest.approx(1.0, rel=0.25)


def test_a_probe_that_teaches_nothing_is_tried_again_after_another_silence() -> None:
    pods = [make_endpoint(f"p{i}") for i in range(3)]
    lp = _predictor(speedMemory="60s", publishEveryObservations=1)
    _serve(lp, pods, {"p0": 3.0, "p1": 1.0, "p2": 1.0}, n=10)
    fast = {"p1": 1.0, "p2": 1.0}
    _serve(lp, pods[1:], fast, n=5, now=NOW + 30.0, first_id=100)
    _serve(lp, pods[1:], fast, n=5, now=NOW + 68.0, first_id=200)  # p0 reset: probed
    probe = _request(300)
    state: CycleState = {NOW_KEY: NOW + 68.0}
    lp.score(probe, pods, state)
    lp.on_picked(probe, pods[0], state)
    lp.observe_response(  # the probe failed: nothing measured
        probe.request_id, "p0", ttft=None, tpot=None, prompt_tokens=None,
        completion_tokens=None, now=NOW + 69.0,
    )  # fmt: skip
    assert lp.score(make_request(prompt="x" * 400), pods, {})[0] == 0.0
    _serve(lp, pods[1:], fast, n=5, now=NOW + 120.0, first_id=400)
    assert lp.score(make_request(prompt="x" * 400), pods, {})[0] == 0.0  # not 60 s yet
    _serve(lp, pods[1:], fast, n=5, now=NOW + 136.0, first_id=500)
    assert lp.score(make_request(prompt="x" * 400), pods, {})[0] > 0.8  # probed again


def test_a_pod_that_joins_a_learned_pool_is_priced_like_its_peers_until_it_answers() -> None:
    """A pod that joins later (a scale-up) starts at the median of the learned pods, not at
    the prior of 1.0 (the pool's typical pod only while the speeds' scale is pinned near
    1: it may wander by ``_GAUGE_SLACK``, and 1.0 is the mean, not the median), and its first
    response is learned in full. Pods there before any response keep the prior and learn
    together."""
    pods = [make_endpoint(f"p{i}") for i in range(4)]
    lp = _predictor(publishEveryObservations=1)
    for pod in pods[:3]:
        lp.joined(pod.name)
    assert lp.tpot.speeds.pods() == [] and lp.ttft.speeds.pods() == []
    _serve(lp, pods[:3], {"p0": 1.0, "p1": 1.0, "p2": 2.0}, n=10)
    learned = [lp.tpot.speeds.get(p.name) for p in pods[:3]]
    assert sorted(learned)[1] != 1.0
    lp.joined("p3")
    assert lp.tpot.speeds.get("p3") == sorted(learned)[1]
    assert lp.ttft.speeds.get("p3") == sorted(lp.ttft.speeds.get(p.name) for p in pods[:3])[1]
    cands = lp.predict(make_request(prompt="x" * 400), pods, {})
    for predicted in (2, 3):  # TTFT and TPOT: each the median of the peers'
        assert cands[3][predicted] == pytest.approx(sorted(c[predicted] for c in cands[:3])[1])
    _serve(lp, pods[3:], {"p3": 3.0}, n=1, first_id=100)  # one response: learned in full
    cands = lp.predict(make_request(prompt="x" * 400), pods, {})
    assert cands[3][3] / cands[0][3] == pytest.approx(3.0, rel=0.25)
    lp.forget("p3")  # gone, and back: a newcomer again
    lp.joined("p3")
    assert lp.tpot.speeds.get("p3") == sorted(lp.tpot.speeds.get(p.name) for p in pods[:3])[1]


def test_a_slow_pod_that_recovers_is_followed() -> None:
    pods = [make_endpoint("p0"), make_endpoint("p1")]
    lp = _predictor()
    _serve(lp, pods, {"p0": 3.0, "p1": 1.0}, n=10)
    _serve(lp, pods, {"p0": 1.0, "p1": 1.0}, n=40)
    cands = lp.predict(make_request(), pods, {})
    assert cands[0][3] / cands[1][3] == pytest.approx(1.0, rel=0.15)


def test_learning_reaches_the_scorer_in_batches() -> None:
    """Every response is learned at once, but the scorer (and its cost cache) reads the
    model only as published: at the first response, then every ``publishEveryObservations``
    responses, or at a pick ``publishInterval`` after the last publication."""
    pods = [make_endpoint("p0"), make_endpoint("p1")]
    lp = _predictor(publishEveryObservations=4, publishInterval="2s")

    def tpots(now: float = NOW) -> list[float]:
        lp.score(make_request(), pods, {NOW_KEY: now})
        return [c[3] for c in lp.predict(make_request(), pods, {})]

    prior = tpots()
    _serve(lp, pods[:1], {"p0": 3.0}, n=1)  # the first response is published at once
    first = tpots()
    assert first[0] > 2 * prior[0]
    _serve(lp, pods[:1], {"p0": 3.0}, n=3)
    assert tpots() == first  # learned, not yet published
    assert lp.tpot.speeds.observations("p0") == 4
    _serve(lp, pods[:1], {"p0": 3.0}, n=1)  # the fourth since the last publication
    fourth = tpots()
    assert fourth != first
    _serve(lp, pods[:1], {"p0": 3.0}, n=1)
    assert tpots(NOW + 1.9) == fourth
    assert tpots(NOW + 2.0) != fourth  # published by the pick, the interval being up
    _serve(lp, pods[:1], {"p0": 3.0}, n=1)
    lp.forget("p0")  # a pod that left takes its learned speed along, published or not
    after = tpots(NOW + 2.0)
    assert after[0] == after[1]


@pytest.mark.parametrize(
    ("headers", "expect_meeting"),
    [
        ({"x-slo-tpot-ms": "20"}, [True, False]),
        ({"x-slo-tpot-ms": "100"}, [True, True]),
        ({"x-slo-tpot-ms": "1"}, [False, False]),
        ({"x-slo-ttft-ms": "10000", "x-slo-tpot-ms": "20"}, [True, False]),
        ({"x-slo-tpot-ms": "junk"}, None),
    ],
)
def test_slo_headers_split_candidates_at_one_half(
    headers: dict[str, str], expect_meeting: list[bool] | None
) -> None:
    pods = [make_endpoint("p0"), make_endpoint("p1")]
    lp = _predictor()
    _serve(lp, pods, {"p0": 1.0, "p1": 4.0}, n=10)
    scores = lp.score(_request(99, headers=headers), pods, {})
    if expect_meeting is None:  # unparsable: plain predicted-e2e scoring
        assert scores == lp.score(_request(99), pods, {})
        return
    assert [s >= 0.5 for s in scores] == expect_meeting


def test_prefix_share_lowers_predicted_ttft() -> None:
    prefix = PrefixCacheScorer("prefix", PrefixParams(), handle())
    lp = LatencyPredictor(
        "lp",
        LatencyParams(prefixScorer="prefix"),
        PluginHandle(rng=random.Random(0), lookup={"prefix": prefix}.get),
    )
    pods = [make_endpoint("p0"), make_endpoint("p1")]
    req = make_request(prompt="y" * 64 * 100)
    prefix.on_picked(req, pods[1], {})
    cands = lp.predict(req, pods, {})
    assert cands[1][0][1] == 0.0  # no uncached tokens left on p1
    assert cands[0][2] > cands[1][2]


@pytest.mark.parametrize("externality", [0.0, 1.0])
def test_a_prompt_away_from_its_prefix_pays_its_prefill_for_each_request_there(
    externality: float,
) -> None:
    """Every request already on a pod waits once for a new prompt's prefill (the engine
    computes it in their steps), so sending a prompt away from the pod that holds its
    prefix costs its own extra TTFT plus that much again per request in flight there:
    without it, at overload, `predicted` hit the prefix cache 0.83 of the time against
    scorer-mix's 0.96 and lost 5 % of p90 e2e to it (docs/benchmarks, session 23)."""
    prefix = PrefixCacheScorer("prefix", PrefixParams(), handle())
    lp = LatencyPredictor(
        "lp",
        LatencyParams(prefixScorer="prefix", externality=externality),
        PluginHandle(rng=random.Random(0), lookup={"prefix": prefix}.get),
    )
    req = make_request(prompt="y" * 64 * 100)
    holder, other = make_endpoint("p0", in_flight=30), make_endpoint("p1", in_flight=30)
    prefix.on_picked(req, holder, {})
    stay, move = lp.predict(req, [holder, other], {})
    own = move[2] - stay[2]  # the prompt's prefill: the only TTFT difference
    assert own > 0.0
    assert move[5] - stay[5] == pytest.approx(own * (1.0 + externality * 30), rel=1e-9)
    assert lp.costs(req, [holder, other], {}) == pytest.approx([stay[5], move[5]], rel=1e-12)


def test_the_prefill_others_wait_for_is_priced_at_the_pods_step_speed() -> None:
    """A pod whose first tokens come 3x later (a queue the features miss, not slower
    steps) pays its own later TTFT, not 30 in-flight requests' worth of it: the prefill
    externality scales with the TPOT speed. Scaled by the TTFT speed, queueing noise in a
    uniform 100-pod pool at overload sent long prompts to a few pods (docs/benchmarks)."""
    lp = _predictor()
    pods = [make_endpoint("p0", in_flight=30), make_endpoint("p1", in_flight=30)]
    for i in range(40):
        pod = pods[i % 2]
        req = _request(i, prompt="x" * 4000)
        state: CycleState = {}
        lp.score(req, [pod], state)
        lp.on_picked(req, pod, state)
        lp.observe_response(
            req.request_id, pod.name, ttft=0.1 * (3.0 if pod.name == "p1" else 1.0),
            tpot=0.02, prompt_tokens=1000, completion_tokens=200, now=NOW,
        )  # fmt: skip
    assert lp.ttft.speeds.get("p1") > 2.0 * lp.ttft.speeds.get("p0")
    assert lp.tpot.speeds.get("p1") == pytest.approx(lp.tpot.speeds.get("p0"), rel=1e-6)
    fast, late = lp.predict(_request(99, prompt="x" * 4000), pods, {})
    assert late[5] - fast[5] == pytest.approx(late[2] - fast[2], rel=1e-9)


@pytest.mark.parametrize(
    ("adapters", "max_adapters", "cold", "blocked"),
    [
        (["a"], 2, 0.0, 0.0),
        (["b"], 2, 1.0, 0.0),
        (["b", "c"], 2, 1.0, 1.0),
    ],
)
def test_lora_features(adapters: list[str], max_adapters: int, cold: float, blocked: float) -> None:
    lp = _predictor()
    holder = make_endpoint("p9", adapters=["a"], max_adapters=2)
    ep = make_endpoint("p0", adapters=adapters, max_adapters=max_adapters)
    unknown = lp.predict(make_request(target="a"), [ep, holder], {})
    assert unknown[0][0][4:] == (0.0, 0.0)  # not yet known to be an adapter
    _teach_adapter(lp, "a", holder)
    cands = lp.predict(make_request(target="a"), [ep, holder], {})
    assert cands[0][0][4:] == (cold, blocked)
    if cold:
        assert cands[0][2] > cands[1][2]


def test_streaming_reports_are_counted_once_and_pending_is_bounded() -> None:
    lp = _predictor(maxPending=3)
    pod = make_endpoint("p0")
    for i in range(5):
        req = _request(i)
        state: CycleState = {}
        lp.score(req, [pod], state)
        lp.on_picked(req, pod, state)
    assert lp.prediction("r0") is None and lp.prediction("r1") is None
    assert lp.prediction("r4") is not None
    assert sum(lp._pending.counts["p0"].values()) == 3  # the dropped ones are not counted
    lp.observe_response("r4", "p0", ttft=0.5, tpot=None, prompt_tokens=None,
                        completion_tokens=None, now=NOW, final=False)  # fmt: skip
    assert lp.ttft.speeds.observations("p0") == 1
    assert lp.prediction("r4") is not None
    lp.observe_response("r4", "p0", ttft=0.5, tpot=0.01, prompt_tokens=10,
                        completion_tokens=20, now=NOW)  # fmt: skip
    assert lp.ttft.speeds.observations("p0") == 1
    assert lp.tpot.speeds.observations("p0") == 1
    assert lp.prediction("r4") is None
    # A response from another pod than the one picked teaches nothing about either.
    lp.observe_response("r3", "p1", ttft=9.0, tpot=1.0, prompt_tokens=10,
                        completion_tokens=20, now=NOW)  # fmt: skip
    assert lp.tpot.speeds.pods() == ["p0"]
    lp.forget("p0")
    assert lp.tpot.speeds.pods() == []


def test_explanation_shows_each_candidates_predictions() -> None:
    scheduler = build_scheduler(load_config("predicted"), rng=random.Random(0))
    eps = [make_endpoint("p0", in_flight=3), make_endpoint("p1", in_flight=9)]
    decision = scheduler.schedule(make_request(prompt="z" * 300), eps, NOW)
    predicted = decision.explanation["predicted"]
    assert isinstance(predicted, dict)
    assert set(predicted) == {"p0", "p1"}
    assert set(predicted["p0"]) == {"ttft", "tpot"}
    line = format_explanation(decision)
    assert "ttft=" in line and "tpot=" in line and "ms" in line
    found = observers([p for prof in scheduler.profiles.values() for p, _ in prof.scorers])
    assert [o.name for o in found] == ["latency-predictor"]
    assert isinstance(found[0], ResponseObserver)


def test_notes_are_only_in_the_cycle_state_of_their_own_pick() -> None:
    lp = _predictor()
    state: CycleState = {}
    lp.score(make_request(), [make_endpoint("p0")], state)
    assert state[NOTES_KEY]["lp"](make_endpoint("p0")).keys() == {"ttft", "tpot"}


@pytest.mark.parametrize("lora", [False, True])
@pytest.mark.parametrize("prefix_shared", [False, True])
def test_the_scoring_hot_path_computes_what_predict_does(lora: bool, prefix_shared: bool) -> None:
    prefix = PrefixCacheScorer("prefix", PrefixParams(), handle())
    lp = LatencyPredictor(
        "lp", LatencyParams(prefixScorer="prefix"),
        PluginHandle(rng=random.Random(0), lookup={"prefix": prefix}.get),
    )  # fmt: skip
    rng = random.Random(4)
    pods = [
        make_endpoint(f"p{i}", waiting=rng.choice([0, 0, 3, 12]), running=rng.randint(0, 60),
                      kv=rng.random(), in_flight=rng.randint(0, 70),
                      adapters=["a"] if i % 3 == 0 else [], max_adapters=2)
        for i in range(12)
    ]  # fmt: skip
    _serve(lp, pods, {p.name: 1.0 + (i % 3) for i, p in enumerate(pods)}, n=3)
    if lora:
        _teach_adapter(lp, "a", pods[0])
    req = make_request(prompt="q" * 64 * 20, target="a" if lora else "llama")
    if prefix_shared:
        prefix.on_picked(req, pods[5], {})
    state: CycleState = {}
    fast = lp.costs(req, pods, state)
    assert fast == pytest.approx([c[5] for c in lp.predict(req, pods, state)], rel=1e-12)


def test_rls_recovers_a_linear_law_and_keeps_weights_non_negative() -> None:
    rls = Rls([0.0, 0.0, 0.0])
    rng = random.Random(3)
    for _ in range(300):
        x = [1.0, rng.random(), rng.random()]
        rls.update(x, 0.02 + 0.5 * x[1])
    assert rls.w[0] == pytest.approx(0.02, abs=5e-3)
    assert rls.w[1] == pytest.approx(0.5, abs=5e-3)
    assert rls.w[2] == pytest.approx(0.0, abs=5e-3)
    assert rls.predict([1.0, 0.3, 0.7]) == pytest.approx(0.17, rel=0.03)
    falling = Rls([0.0, 0.0])
    for _ in range(100):
        x = [1.0, rng.random()]
        falling.update(x, 0.1 - 0.05 * x[1])
    assert 0.0 <= falling.w[1] < 1e-3
    assert 0.05 <= falling.w[0] <= 0.11  # within the range of the data (a projection, not NNLS)


def test_rls_clips_outliers_but_follows_a_real_change() -> None:
    """A TTFT stretched by a wait the features cannot see must not drag the shared weights;
    a law that really changes must still be learned."""
    rls = Rls([0.0, 0.0])
    rng = random.Random(5)
    for _ in range(200):
        x = [1.0, rng.random()]
        rls.update(x, 0.02 + 0.5 * x[1] + rng.uniform(-0.002, 0.002))
    before = list(rls.w)
    rls.update([1.0, 0.5], 5.0)  # one response 20x slower than the law says
    assert abs(rls.w[0] - before[0]) + abs(rls.w[1] - before[1]) < 0.005  # unclipped: 0.025
    for _ in range(2000):  # the pool really slows down 2x (forgetting: ~4,000 of memory)
        x = [1.0, rng.random()]
        rls.update(x, 0.04 + 1.0 * x[1])
    assert rls.w[1] == pytest.approx(1.0, rel=0.1)
    exact = Rls([0.0, 0.0])  # zero residuals must not freeze the fit
    for i in range(2000):
        x = [1.0, (i % 10) / 10]
        exact.update(x, (0.1 if i < 100 else 0.3) * x[1])
    assert exact.w[1] == pytest.approx(0.3, rel=0.1)


def test_requests_waiting_for_a_lora_slot_are_not_a_queue_ahead() -> None:
    """vLLM serves requests whose adapter is loaded ahead of those waiting for a slot, so
    those are not a FIFO queue in front of this request, only of one whose adapter is cold."""
    lp = _predictor()
    fifo = make_endpoint("p0", waiting=8, running=20, in_flight=28)
    lora_wait = make_endpoint("p0", waiting=8, running=20, in_flight=28, waiting_adapters=["b"])
    req = make_request()
    state: CycleState = {}
    ((*_, queued, _),) = lp.predict(req, [fifo], state)
    ((*_, not_queued, _),) = lp.predict(req, [lora_wait], state)
    assert queued > 0.0 and not_queued == 0.0
    assert lp.costs(req, [lora_wait], state) == pytest.approx(
        [lp.predict(req, [lora_wait], state)[0][5]], rel=1e-12
    )
    # A request whose own adapter is cold there waits with them.
    _teach_adapter(lp, "c", make_endpoint("p9", adapters=["c"]))
    cold_req = make_request(target="c")
    ((*_, behind, _),) = lp.predict(cold_req, [lora_wait], {})
    assert behind > 0.0


def test_an_adapter_that_only_waits_at_a_pod_is_cold_there() -> None:
    """Its requests wait for a slot like those of an adapter not there at all, behind the
    queue, instead of counting as loaded."""
    lp = _predictor()
    _teach_adapter(lp, "a", make_endpoint("p9", adapters=["a"], max_adapters=2))
    waits = make_endpoint(
        "p0", adapters=["b", "c"], waiting_adapters=["a"], max_adapters=2,
        waiting=4, running=8, in_flight=12,
    )  # fmt: skip
    runs = make_endpoint(
        "p1", adapters=["a", "c"], waiting_adapters=["a"], max_adapters=2,
        waiting=4, running=8, in_flight=12,
    )  # fmt: skip
    req = make_request(target="a")
    (waiting_here, running_here) = lp.predict(req, [waits, runs], {})
    assert waiting_here[0][4:] == (1.0, 1.0)  # cold, every slot busy
    assert running_here[0][4:] == (0.0, 0.0)
    assert waiting_here[4] > 0.0  # queues behind the slot waiters
    assert waiting_here[5] > running_here[5]
    assert lp.costs(req, [waits, runs], {}) == pytest.approx(
        [waiting_here[5], running_here[5]], rel=1e-12
    )


def test_an_adapter_sent_since_the_last_scrape_holds_its_slot() -> None:
    """Between two scrapes the gateway knows what it sent: once a request of "a" took the
    one free slot on p0, a request of "b" finds every slot there busy and goes to p1, a
    second request of "a" finds it loaded on p0, and when the "a" request ends p0 looks
    as the scrape shows it again."""
    lp = _predictor()
    for name in ("a", "b"):
        _teach_adapter(lp, name, make_endpoint("p9", adapters=[name], max_adapters=2))
    p0 = make_endpoint("p0", adapters=["c"], max_adapters=2, running=2, in_flight=2)
    p1 = make_endpoint("p1", adapters=["c"], max_adapters=2, running=8, in_flight=8)
    first = replace(make_request(target="a"), request_id="first")
    state: CycleState = {}
    before = lp.costs(make_request(target="b"), [p0, p1], {})
    assert before[0] < before[1]  # p0's free slot, lighter load
    lp.score(first, [p0, p1], state)
    lp.on_picked(first, p0, state)
    p0 = replace(p0, in_flight=3)
    # (cold, every slot busy) at p0 and at p1
    for target, lora in (("b", ((1.0, 1.0), (1.0, 0.0))), ("a", ((0.0, 0.0), (1.0, 0.0)))):
        req = make_request(target=target)
        here, there = lp.predict(req, [p0, p1], {})
        assert (here[0][4:], there[0][4:]) == lora
        assert lp.costs(req, [p0, p1], {}) == pytest.approx([here[5], there[5]], rel=1e-12)
    here, there = lp.predict(make_request(target="b"), [p0, p1], {})
    assert here[5] > there[5]
    lp.observe_response(
        "first", "p0", ttft=0.05, tpot=0.01, prompt_tokens=10, completion_tokens=20, now=NOW
    )
    p0 = replace(p0, in_flight=2)
    ((x, *_), _) = lp.predict(make_request(target="b"), [p0, p1], {})
    assert x[4:] == (1.0, 0.0)  # cold, a free slot: the scrape's view again


def test_waiters_whose_adapters_all_run_are_a_queue_ahead() -> None:
    """Requests that wait with a running adapter wait for batch or KV room, in order."""
    lp = _predictor()
    _teach_adapter(lp, "a", make_endpoint("p9", adapters=["a"], max_adapters=2))
    full = make_endpoint(
        "p0", adapters=["a", "b"], waiting_adapters=["a", "b"], max_adapters=2,
        waiting=8, running=20, in_flight=28,
    )  # fmt: skip
    ((*_, queued, cost),) = lp.predict(make_request(target="a"), [full], {})
    assert queued > 0.0
    assert lp.costs(make_request(target="a"), [full], {}) == pytest.approx([cost], rel=1e-12)


def test_a_blocked_adapter_goes_where_a_running_one_drains_first() -> None:
    """Every slot busy on both pods: the slot frees first where a running adapter has the
    fewest of the gateway's requests left, and those counts follow picks and responses."""
    lp = _predictor()
    _teach_adapter(lp, "c", make_endpoint("p9", adapters=["c"], max_adapters=2))
    pods = [make_endpoint(f"p{i}", adapters=["a", "b"], max_adapters=2) for i in range(2)]
    picks = {"p0": ["a"] * 4 + ["b"] * 4, "p1": ["a"] * 4 + ["b"]}
    for pod in pods:
        for i, target in enumerate(picks[pod.name]):
            req = replace(make_request(target=target), request_id=f"{pod.name}-{i}")
            state: CycleState = {}
            lp.score(req, [pod], state)
            lp.on_picked(req, pod, state)
    cold = make_request(target="c")
    first, second = lp.predict(cold, pods, {})
    assert second[4] < first[4]  # p1's one "b" request finishes before p0's four
    assert lp.costs(cold, pods, {}) == pytest.approx([first[5], second[5]], rel=1e-12)
    for i in range(4, 8):  # p0's "b" requests finish
        lp.observe_response(
            f"p0-{i}", "p0", ttft=0.05, tpot=0.01, prompt_tokens=10, completion_tokens=20,
            now=NOW,
        )  # fmt: skip
    first, second = lp.predict(cold, pods, {})
    assert first[4] < second[4]  # now "b" holds no request on p0 at all
    lp.forget("p1")
    assert lp._pending.counts == {"p0": {"a": 4}, "p9": {"c": 1}}


@pytest.mark.parametrize(
    ("a_picks", "b_picks", "held"), [(0, 0, True), (1, 2, True), (2, 1, False)]
)
def test_a_running_adapter_pays_for_holding_a_slot_that_others_wait_for(
    a_picks: int, b_picks: int, held: bool
) -> None:
    """vLLM serves loaded adapters first: where every slot is busy and a request waits for
    another adapter, one more request of the adapter that would drain first (the fewest of
    the gateway's requests there, k) holds that slot 1/(k+1) of a service time longer for
    each waiter. The same pod without waiters, or a request of the adapter that drains
    later, pays nothing (``slotHoldCost``)."""
    starving = make_endpoint("p0", adapters=["a", "b"], waiting_adapters=["c"], max_adapters=2)
    calm = make_endpoint("p1", adapters=["a", "b"], max_adapters=2)
    costs: dict[float, list[float]] = {}
    for hold in (0.0, 1.0):
        lp = _predictor(slotHoldCost=hold)
        _teach_adapter(lp, "a", make_endpoint("p9", adapters=["a"], max_adapters=2))
        for i, target in enumerate(["a"] * a_picks + ["b"] * b_picks):
            req = replace(make_request(target=target), request_id=f"held-{i}")
            state: CycleState = {}
            lp.score(req, [starving], state)
            lp.on_picked(req, starving, state)
        req = make_request(target="a")
        cands = lp.predict(req, [starving, calm], {})
        costs[hold] = [c[5] for c in cands]
        assert lp.costs(req, [starving, calm], {}) == pytest.approx(costs[hold], rel=1e-12)
        service = cands[0][3] * (lp.output_tokens - 1.0)
    assert costs[1.0][1] == costs[0.0][1]
    extra = costs[1.0][0] - costs[0.0][0]
    assert extra == pytest.approx(service / (a_picks + 1) if held else 0.0, rel=1e-9, abs=1e-12)


def test_an_unmeasured_final_report_releases_the_request_and_teaches_nothing() -> None:
    """A failed, refused or moved request ends with a final report that measured nothing:
    its pending features and its count for the pod and adapter go, and no weight moves."""
    lp = _predictor()
    pod = make_endpoint("p0", adapters=["a"], max_adapters=2)
    req = replace(make_request(target="a"), request_id="r1")
    state: CycleState = {}
    lp.score(req, [pod], state)
    lp.on_picked(req, pod, state)
    assert lp._pending.counts == {"p0": {"a": 1}} and lp.prediction("r1") is not None
    weights = (list(lp.ttft.rls.w), list(lp.tpot.rls.w))
    for name in ("", "p0"):  # moved by the proxy, or failed where it was sent
        lp.observe_response(
            "r1", name, ttft=None, tpot=None, prompt_tokens=None, completion_tokens=None,
            now=NOW,
        )  # fmt: skip
        assert lp._pending.counts == {} and lp.prediction("r1") is None
    assert (list(lp.ttft.rls.w), list(lp.tpot.rls.w)) == weights
    assert lp.ttft.speeds.pods() == [] and lp.tpot.speeds.pods() == []


def test_reports_that_teach_nothing_do_not_count_toward_publication() -> None:
    """A flood of failed requests (final reports that measured nothing) must not republish
    the model: each publication drops every endpoint's cached cost."""
    pods = [make_endpoint("p0"), make_endpoint("p1")]
    lp = _predictor(publishEveryObservations=4, publishInterval="1h")

    def tpots() -> list[float]:
        lp.score(make_request(), pods, {NOW_KEY: NOW})
        return [c[3] for c in lp.predict(make_request(), pods, {})]

    _serve(lp, pods[:1], {"p0": 3.0}, n=1)  # published at once
    published = tpots()
    _serve(lp, pods[:1], {"p0": 1.0}, n=3)  # learned, one short of the next publication
    for i in range(10):
        req = _request(1000 + i)
        state: CycleState = {}
        lp.score(req, pods[1:], state)
        lp.on_picked(req, pods[1], state)
        lp.observe_response(
            req.request_id, "p1", ttft=None, tpot=None, prompt_tokens=None,
            completion_tokens=None, now=NOW,
        )  # fmt: skip
    assert tpots() == published
    _serve(lp, pods[:1], {"p0": 1.0}, n=1)  # the fourth report that taught something
    assert tpots()[0] < published[0]


@pytest.mark.parametrize("ratio", [0.0, -1.0, float("nan"), float("inf")])
def test_speed_table_ignores_nonsense(ratio: float) -> None:
    table = SpeedTable(0.1)
    table.update("p", ratio)
    assert table.get("p") == 1.0 and table.observations("p") == 0


def test_a_reset_speed_is_the_median_of_the_others_and_is_relearned_in_full() -> None:
    table = SpeedTable(0.1)
    for _ in range(20):
        for pod, ratio in (("a", 1.0), ("b", 2.0), ("c", 4.0), ("d", 8.0)):
            table.update(pod, ratio)
    assert table.reset({"d"}) == {"d": pytest.approx(8.0)}
    assert table.get("d") == pytest.approx(2.0) and table.observations("d") == 0
    table.update("d", 8.0)
    assert table.get("d") == pytest.approx(8.0)
    table.reset({"a", "b", "c", "d"})  # nothing left to go by: forgotten
    assert [table.get(p) for p in "abcd"] == [1.0] * 4 and table.pods() == []


def test_a_newcomer_joins_at_the_median_which_is_sorted_out_again_only_after_a_change() -> None:
    table = SpeedTable(0.1)
    table.join("x")  # nothing learned: the prior
    assert table.pods() == [] and table.get("x") == 1.0
    for pod, ratio in (("a", 1.0), ("b", 2.0), ("c", 4.0)):
        table.update(pod, ratio)
    for pod in ("d", "e", "f"):  # a newcomer at the median leaves the median where it is
        table.join(pod)
        assert table.get(pod) == pytest.approx(2.0) and table.observations(pod) == 0
    for pod in ("d", "e", "f"):  # each learned in full
        table.update(pod, 8.0)
        assert table.get(pod) == pytest.approx(8.0)
    table.join("g")  # a, b, c, d, e, f = 1, 2, 4, 8, 8, 8: the upper median is 8
    assert table.get("g") == pytest.approx(8.0)
    for pod in ("d", "e", "f", "g"):
        table.forget(pod)
    table.join("h")  # a, b, c = 1, 2, 4
    assert table.get("h") == pytest.approx(2.0)
    table.restore("a", 9.0)  # a, b, c, h = 9, 2, 4, 2
    table.join("i")
    assert table.get("i") == pytest.approx(4.0)
    table.join("b")  # known: untouched
    assert table.get("b") == pytest.approx(2.0) and table.observations("b") == 1


_POD = st.tuples(
    st.sampled_from([0, 0, 1, 3, 12]),  # waiting
    st.integers(0, 60),  # running
    st.floats(0.0, 1.0),  # KV use
    st.integers(0, 70),  # in flight
    st.sets(st.sampled_from(["a", "b", "c"]), max_size=2),  # running adapters
    st.sets(st.sampled_from(["a", "b"]), max_size=1),  # waiting adapters
    st.sampled_from([0, 1, 2]),  # max adapters
    st.sampled_from([(None, None), (0, 16), (4096, 16)]),  # KV blocks, block size
)
_Spec = tuple[int, int, float, int, set[str], set[str], int, tuple[int | None, int | None]]


def _pods_from(
    spec: list[_Spec],
) -> list[Endpoint]:
    out = []
    for i, (w, r, kv, flight, run, wait, cap, (blocks, size)) in enumerate(spec):
        e = make_endpoint(f"p{i}", waiting=w, running=r, kv=kv, in_flight=flight, adapters=run,
                          waiting_adapters=wait, max_adapters=cap)  # fmt: skip
        out.append(replace(e, metrics=replace(e.metrics, num_blocks=blocks, block_size=size)))
    return out


@settings(max_examples=60, deadline=None)
@given(
    spec=st.lists(_POD, min_size=1, max_size=8),
    learned=st.lists(st.tuples(st.integers(0, 7), st.floats(0.005, 2.0)), max_size=12),
    target=st.sampled_from(["a", "b", "llama"]),
    prompt_chars=st.integers(0, 20_000),
    shared=st.booleans(),
    moves=st.lists(st.tuples(st.integers(0, 7), st.integers(0, 70)), max_size=4),
    sent=st.lists(st.tuples(st.integers(0, 7), st.sampled_from(["a", "b", "llama"])), max_size=4),
)
def test_the_cached_hot_path_equals_the_full_prediction_on_random_pools(
    spec: list[_Spec],
    learned: list[tuple[int, float]],
    target: str,
    prompt_chars: int,
    shared: bool,
    moves: list[tuple[int, int]],
    sent: list[tuple[int, str]],
) -> None:
    """``costs`` caches per-endpoint terms between scrapes; it must never drift from
    ``predict``: not after learning, not after an in-flight change or a new snapshot, not
    while picks await their responses (``sent``: their adapters hold slots)."""
    prefix = PrefixCacheScorer("prefix", PrefixParams(), handle())
    lp = LatencyPredictor(
        "lp", LatencyParams(prefixScorer="prefix"),
        PluginHandle(rng=random.Random(0), lookup={"prefix": prefix}.get),
    )  # fmt: skip
    pods = _pods_from(spec)
    _teach_adapter(lp, "a", make_endpoint("p99", adapters=["a"]))
    _teach_adapter(lp, "b", make_endpoint("p99", adapters=["b"]))
    req = make_request(prompt="q" * prompt_chars, target=target)
    if shared:
        prefix.on_picked(req, pods[-1], {})

    def check() -> None:
        state: CycleState = {}
        fast = lp.costs(req, pods, state)
        # The first call after learning takes the one-pass path, the second the cached one.
        assert lp.costs(req, pods, state) == fast
        assert fast == pytest.approx([c[5] for c in lp.predict(req, pods, state)], rel=1e-12)

    check()  # fills the cache
    for i, (pod_index, ttft) in enumerate(learned):
        pod = pods[pod_index % len(pods)]
        r = _request(1000 + i)
        state: CycleState = {}
        lp.score(r, [pod], state)
        lp.on_picked(r, pod, state)
        lp.observe_response(
            r.request_id, pod.name, ttft=ttft, tpot=ttft / 20, prompt_tokens=100,
            completion_tokens=1 + i * 37, now=NOW,
        )  # fmt: skip
        check()
    for pod_index, flight in moves:
        k = pod_index % len(pods)
        pods[k] = replace(pods[k], in_flight=flight)
        check()
        pods[k] = replace(pods[k], metrics=replace(pods[k].metrics, waiting=flight % 5))
        check()
    for i, (pod_index, sent_target) in enumerate(sent):
        r = replace(make_request(target=sent_target), request_id=f"sent-{i}")
        state = {}
        lp.score(r, pods, state)
        lp.on_picked(r, pods[pod_index % len(pods)], state)
        check()
