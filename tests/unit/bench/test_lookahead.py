"""The ``lookahead`` bound and the harness's learning loop."""

from __future__ import annotations

import math

import pytest

from inference_gateway.bench import harness, lookahead, policies
from inference_gateway.bench._pool import pool_for
from inference_gateway.bench.stats import Status
from inference_gateway.bench.workloads import WORKLOADS, BenchRequest, generate
from inference_gateway.simulator.config import EngineConfig
from inference_gateway.simulator.engine import Engine
from inference_gateway.simulator.records import SimRequest

SHAREGPT = WORKLOADS["sharegpt"]


def test_a_trial_predicts_exactly_what_happens_without_further_arrivals() -> None:
    engine = Engine(EngineConfig(max_num_seqs=4, slowdown=2.0))
    for i in range(6):
        engine.submit(SimRequest(f"b{i}", 500, 80 + 10 * i, tuple(range(i, i + 31))), 0.0)
    engine.advance(0.3)
    req = SimRequest("probe", 700, 120, tuple(range(100, 143)))
    trial = lookahead.trial(engine, req, 0.3)
    assert trial is not None
    rec = engine.submit(req, 0.3)
    while rec.finish_reason is None:
        engine.advance(engine.next_event_time())
    assert (trial.ttft, trial.tpot, trial.e2e) == (rec.ttft, rec.tpot, rec.e2e)


@pytest.mark.parametrize(
    ("trials", "mode", "expected"),
    [
        ([lookahead.Trial(0.1, 0.02, 5.0), lookahead.Trial(0.1, 0.01, 3.0)], "e2e", 1),
        ([None, lookahead.Trial(9.0, 0.9, 99.0)], "e2e", 1),
        ([None, None], "e2e", None),
        # e2e prefers the second; SLO headroom (1 s TTFT, 50 ms TPOT) the first.
        ([lookahead.Trial(0.2, 0.03, 6.0), lookahead.Trial(0.95, 0.02, 4.0)], "slo", 0),
        ([lookahead.Trial(0.2, 0.03, 6.0), lookahead.Trial(0.95, 0.02, 4.0)], "e2e", 1),
    ],
)
def test_best_trial(trials: list[lookahead.Trial | None], mode: str, expected: int | None) -> None:
    assert lookahead.best(trials, mode) == expected


def _sparse(n: int) -> list[BenchRequest]:
    """Requests far apart (each done before the next arrives): picks cannot interact, so the
    per-request optimum is the optimum, and any other policy can at best tie with it."""
    base = generate(SHAREGPT, 1.0, 200.0, seed=5)[:n]
    return [
        BenchRequest(i, 20.0 * i + 1.0, r.segments, r.output_tokens, r.model)
        for i, r in enumerate(base)
    ]


def test_lookahead_is_never_beaten_by_the_oracle_on_a_slow_pool() -> None:
    """The oracle (our best config on exact state) sees an idle slow pod as free capacity;
    lookahead sees that it is slow."""
    setup = pool_for(SHAREGPT, 3, heterogeneous=True, slow_factor=3.0, slow_pods=2)
    reqs = _sparse(12)
    results = {
        name: harness.run(setup, policies.resolve(name), reqs, warmup=0.0, duration=250.0, seed=2)
        for name in ("oracle:tuned", "lookahead")
    }
    e2e = {
        name: {o.index: o.e2e for o in res.outcomes if o.status is Status.OK}
        for name, res in results.items()
    }
    assert len(e2e["lookahead"]) == len(e2e["oracle:tuned"]) == len(reqs)
    for i in e2e["lookahead"]:
        assert e2e["lookahead"][i] <= e2e["oracle:tuned"][i] + 1e-9
    assert sum(e2e["lookahead"].values()) < 0.9 * sum(e2e["oracle:tuned"].values())
    assert {o.pod for o in results["lookahead"].outcomes} == {2}


@pytest.mark.parametrize(
    ("name", "mode"), [("lookahead", "e2e"), ("lookahead:e2e", "e2e"), ("lookahead:slo", "slo")]
)
def test_lookahead_policies_resolve(name: str, mode: str) -> None:
    policy = policies.resolve(name)
    assert policy.lookahead == mode and policy.oracle


def test_unknown_lookahead_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="lookahead mode"):
        policies.resolve("lookahead:fastest")


def test_the_harness_teaches_the_predictor_a_slow_pod() -> None:
    setup = pool_for(SHAREGPT, 3, heterogeneous=True, slow_factor=3.0)
    reqs = generate(SHAREGPT, 40.0, 20.0, seed=1)
    run = harness._Run(setup, policies.resolve("predicted"), 1)
    run.stream = reqs
    run.loop((5.0, 20.0), closed=False)
    (predictor,) = run.observers
    speeds = predictor.tpot.speeds  # type: ignore[attr-defined]
    assert speeds.get("pod-0") / speeds.get("pod-1") == pytest.approx(3.0, rel=0.35)
    assert run.predictions and all(
        p[0] > 0 and p[2] > 0 and not math.isnan(p[1]) for _, p in run.predictions
    )
    counts = [sum(1 for o in run.outcomes if o.pod == i) for i in range(3)]
    assert counts[0] < min(counts[1:]) / 2
