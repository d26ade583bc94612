from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inference_gateway.datastore import Datastore, PodInfo, PoolInfo
from inference_gateway.datastore.types import Metrics
from inference_gateway.scheduling.config import load_config
from inference_gateway.scheduling.explain import format_explanation
from inference_gateway.scheduling.registry import Registry
from inference_gateway.scheduling.scheduler import PluginScheduler, _weighted_sum, build_scheduler
from inference_gateway.scheduling.types import Criticality, NoCapacityError, NoEndpointsError
from tests.unit.scheduling.helpers import NOW, make_endpoint, make_request

HEADER = """apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
"""


def _fixed(
    registry: Registry, scorers: list[tuple[dict[str, float], float]], **kw: object
) -> PluginScheduler:
    lines = ["plugins:"]
    refs = []
    for i, (scores, weight) in enumerate(scorers):
        lines.append(
            f"- {{name: s{i}, type: 'tests.unit.scheduling.helpers:FixedScorer',"
            f" parameters: {{scores: {scores}}}}}"
        )
        refs.append(f"{{pluginRef: s{i}, weight: {weight}}}")
    lines.append("schedulingProfiles: [{name: p, plugins: [" + ", ".join(refs) + "]}]")
    config = load_config(HEADER + "\n".join(lines) + "\n", registry)
    return build_scheduler(config, rng=random.Random(0), **kw)  # type: ignore[arg-type]


EPS = [make_endpoint(f"p{i}") for i in range(3)]
POOL = PoolInfo(name="pool", namespace="ns", selector={"app": "vllm"}, target_ports=(8000,))
A, B = "127.0.0.11:8000", "127.0.0.12:8000"


def test_scores_are_clamped_before_weighting(registry: Registry) -> None:
    # Unclamped, p0 would win with 5.0; clamped it is 1.0 against p1's 0.9 + 0.2.
    scheduler = _fixed(registry, [({"p0": 5.0, "p1": 0.9}, 1), ({"p1": 0.2, "p2": -3.0}, 1)])
    decision = scheduler.schedule(make_request(), EPS, NOW)
    assert decision.primary.name == "p1"
    assert decision.explanation["scores"] == [
        ("p1", pytest.approx(1.1), {"s0": 0.9, "s1": 0.2}),
        ("p0", 1.0, {"s0": 1.0, "s1": 0.0}),
        ("p2", 0.0, {"s0": 0.0, "s1": 0.0}),
    ]


def test_nan_scores_count_as_zero(registry: Registry) -> None:
    scheduler = _fixed(registry, [({"p0": float("nan"), "p1": 0.1}, 1)])
    assert scheduler.schedule(make_request(), EPS, NOW).primary.name == "p1"


def test_weights_decide_between_scorers(registry: Registry) -> None:
    a = _fixed(registry, [({"p0": 1.0}, 1), ({"p1": 1.0}, 3)])
    b = _fixed(registry, [({"p0": 1.0}, 3), ({"p1": 1.0}, 1)])
    assert a.schedule(make_request(), EPS, NOW).primary.name == "p1"
    assert b.schedule(make_request(), EPS, NOW).primary.name == "p0"


def test_ties_are_random_but_reproducible_with_a_seed(registry: Registry) -> None:
    def run() -> list[str]:
        scheduler = _fixed(registry, [({}, 1)])
        return [scheduler.schedule(make_request(), EPS, NOW).primary.name for _ in range(30)]

    first = run()
    assert first == run()
    assert set(first) == {"p0", "p1", "p2"}


def test_empty_candidates_is_no_endpoints(registry: Registry) -> None:
    scheduler = build_scheduler(load_config("default", registry), rng=random.Random(0))
    with pytest.raises(NoEndpointsError):
        scheduler.schedule(make_request(), [], NOW)


def test_filters_stop_when_nothing_is_left(registry: Registry) -> None:
    config = load_config(
        HEADER + "plugins: [{type: 'tests.unit.scheduling.helpers:NothingFilter', name: none},"
        " {type: least-queue-filter}]\n"
        "schedulingProfiles: [{name: p, plugins: [{pluginRef: none},"
        " {pluginRef: least-queue-filter}]}]\n",
        registry,
    )
    calls: list[tuple[str, str, str]] = []
    scheduler = build_scheduler(
        config, rng=random.Random(0), observer=lambda p, t, n, s: calls.append((p, t, n))
    )
    with pytest.raises(NoCapacityError, match="after filter 'none'"):
        scheduler.schedule(make_request(), EPS, NOW)
    assert ("filter", "nothing-filter", "none") in calls
    assert not any(name == "least-queue-filter" for _, _, name in calls)


def test_stale_endpoints_are_avoided_when_fresh_ones_exist(registry: Registry) -> None:
    scheduler = build_scheduler(
        load_config("random", registry), rng=random.Random(0), staleness=0.5
    )
    eps = [make_endpoint("dead", updated_at=NOW - 0.6), make_endpoint("live", updated_at=NOW - 0.4)]
    picks = {scheduler.schedule(make_request(), eps, NOW).primary.name for _ in range(30)}
    assert picks == {"live"}
    decision = scheduler.schedule(make_request(), eps, NOW)
    assert decision.explanation["stale_dropped"] == 1


def test_a_published_view_drops_a_pod_that_ages_stale_between_picks(registry: Registry) -> None:
    """The datastore's view is one tuple whose cells are updated in place, and the scheduler
    reuses the oldest scrape time it read from it for a while: a pod that ages past the
    threshold within that while is still dropped, and used again once scraped."""
    ds = Datastore()
    ds.upsert_pool(POOL)
    for name, ip in (("a", "127.0.0.11"), ("b", "127.0.0.12")):
        ds.upsert_pod(PodInfo(name=name, namespace="ns", address=ip, labels={"app": "vllm"}))
    ds.set_metrics(A, Metrics(updated_at=NOW - 0.45))
    ds.set_metrics(B, Metrics(updated_at=NOW))
    view = ds.endpoints(POOL.key)
    scheduler = build_scheduler(
        load_config("random", registry), rng=random.Random(0), staleness=0.5
    )

    def picks(now: float) -> set[str]:
        return {scheduler.schedule(make_request(), view, now).primary.hostport for _ in range(30)}

    assert picks(NOW) == {A, B}
    later = NOW + 0.06  # a is 0.51 s old; the oldest read at NOW said 0.45
    ds.set_metrics(B, Metrics(updated_at=later))
    assert ds.endpoints(POOL.key) is view
    assert picks(later) == {B}
    assert scheduler.schedule(make_request(), view, later).explanation["stale_dropped"] == 1
    ds.set_metrics(A, Metrics(updated_at=later + 0.01))
    assert picks(later + 0.02) == {A, B}


def test_all_stale_endpoints_are_still_used(registry: Registry) -> None:
    scheduler = build_scheduler(load_config("random", registry), rng=random.Random(0))
    eps = [make_endpoint("a", updated_at=float("-inf")), make_endpoint("b", updated_at=NOW - 10)]
    picks = {scheduler.schedule(make_request(), eps, NOW).primary.name for _ in range(30)}
    assert picks == {"a", "b"}


def test_observer_times_each_plugin(registry: Registry) -> None:
    ticks = iter(range(1000))
    seen: list[tuple[str, str, str, float]] = []
    scheduler = build_scheduler(
        load_config("scorer-mix", registry),
        rng=random.Random(0),
        observer=lambda *a: seen.append(a),
        perf_counter=lambda: float(next(ticks)),
    )
    scheduler.schedule(make_request(prompt="x" * 200), EPS, NOW)
    points = [(p, t) for p, t, _, _ in seen]
    assert points == [
        ("profile-handler", "single-profile-handler"),
        ("filter", "healthy-endpoint-filter"),
        ("scorer", "queue-scorer"),
        ("scorer", "kv-cache-utilization-scorer"),
        ("scorer", "prefix-cache-scorer"),
        ("picker", "max-score-picker"),
        ("profile-handler", "single-profile-handler"),
        ("post-pick", "prefix-cache-scorer"),
    ]
    assert all(seconds == 1.0 for *_, seconds in seen)


def test_format_explanation_is_a_short_ascii_line(registry: Registry) -> None:
    scheduler = build_scheduler(load_config("default", registry), rng=random.Random(0))
    eps = [make_endpoint(f"pod-\u00e9{i};x", waiting=i) for i in range(200)]
    decision = scheduler.schedule(make_request(Criticality.CRITICAL), eps, NOW)
    line = format_explanation(decision)
    assert line.isascii() and "\n" not in line and len(line.encode()) < 1024
    assert line.startswith(f"profile=default; pick=pod-?{decision.primary.name[5:-2]}?x; n=200")
    assert "low-queue-filter:200>129" in line


def test_format_explanation_truncates(registry: Registry) -> None:
    scheduler = _fixed(registry, [({}, 1)] * 40)
    line = format_explanation(scheduler.schedule(make_request(), EPS, NOW))
    assert len(line) == 1000 and line.endswith("...")


endpoint_sets = st.lists(
    st.builds(
        lambda i, w, kv, age, a: make_endpoint(
            f"p{i}", waiting=w, kv=kv, updated_at=NOW - age, adapters=a, max_adapters=2
        ),
        st.integers(0, 50),
        st.integers(0, 300),
        st.floats(0.0, 1.0),
        st.sampled_from([0.0, 0.1, 1.0, float("inf")]),
        st.sampled_from([frozenset(), frozenset({"sql"}), frozenset({"sql", "chat"})]),
    ),
    min_size=1,
    max_size=12,
)


@pytest.mark.parametrize("name", ["default", "scorer-mix", "least-request", "round-robin"])
@settings(max_examples=40, deadline=None)
@given(
    eps=endpoint_sets,
    criticality=st.sampled_from(list(Criticality)),
    target=st.sampled_from(["llama", "sql"]),
)
def test_always_returns_a_member_or_no_capacity(
    name: str, eps: list[object], criticality: Criticality, target: str
) -> None:
    scheduler = build_scheduler(load_config(name), rng=random.Random(0))
    request = make_request(criticality, target=target, prompt="abc" * 50)
    try:
        decision = scheduler.schedule(request, eps, NOW)  # type: ignore[arg-type]
    except NoCapacityError:
        assert criticality is Criticality.SHEDDABLE
        return
    assert decision.endpoints
    assert all(any(e is x for x in eps) for e in decision.endpoints)


@pytest.mark.parametrize("scorers", range(6))
def test_weighted_sum_adds_scorer_by_scorer_bit_for_bit(scorers: int) -> None:
    """The one-pass sums equal ((w1 * s1) + w2 * s2) + ..., the order the digests pin."""
    rng = random.Random(scorers)
    columns = [[rng.choice((0.0, 1.0, rng.random())) for _ in range(50)] for _ in range(scorers)]
    weights = [rng.choice((1.0, 2.0, 0.3, rng.uniform(0.0, 9.0))) for _ in range(scorers)]
    expected = [0.0] * 50
    for k, (scores, w) in enumerate(zip(columns, weights, strict=True)):
        expected = [w * s if k == 0 else t + w * s for t, s in zip(expected, scores, strict=True)]
    assert [x.hex() for x in _weighted_sum(columns, weights, 50)] == [x.hex() for x in expected]
