from __future__ import annotations

import random

import typer
from typer.testing import CliRunner

from inference_gateway.bench.pick_speed import (
    NOW,
    measure,
    respond,
    synthetic_endpoints,
    synthetic_requests,
    synthetic_responses,
)
from inference_gateway.cli import bench_cmd
from inference_gateway.scheduling.config import instantiate, load_config
from inference_gateway.scheduling.observe import observers
from inference_gateway.scheduling.plugins.latency import LatencyPredictor
from inference_gateway.scheduling.scheduler import build_scheduler


def test_measure_counts_picks() -> None:
    result = measure("default", 20, seconds=0.05, rounds=2)
    assert result.picks > 0 and result.seconds > 0
    assert result.per_second == result.picks / result.seconds


def test_synthetic_endpoints_are_reproducible() -> None:
    a = synthetic_endpoints(5, random.Random(3))
    b = synthetic_endpoints(5, random.Random(3))
    assert a == b and len({e.name for e in a}) == 5


def test_bench_pick_command_prints_a_table() -> None:
    app, bench = typer.Typer(), typer.Typer()
    app.add_typer(bench, name="bench")
    bench_cmd.register(app, bench)
    result = CliRunner().invoke(
        app, ["bench", "pick", "--sizes", "3,7", "--seconds", "0.02", "-c", "random"]
    )
    assert result.exit_code == 0, result.output
    assert "picks/s" in result.output and "one response report per pick" in result.output
    assert result.output.count("random") == 2


def test_an_unknown_config_is_a_usage_error_not_a_traceback() -> None:
    app, bench = typer.Typer(), typer.Typer()
    app.add_typer(bench, name="bench")
    bench_cmd.register(app, bench)
    result = CliRunner().invoke(app, ["bench", "pick", "--sizes", "3", "-c", "tuned"])
    assert result.exit_code == 2
    assert "no built-in config or file named 'tuned'" in result.output
    assert "Traceback" not in result.output


def test_each_response_teaches_the_predictor_as_live_traffic_does() -> None:
    """The honest mode: a report after each pick trains both fits and makes the model's
    per-endpoint cache stale, as every streamed response does in the gateway."""
    rng = random.Random(0)
    eps, requests = synthetic_endpoints(20, rng), synthetic_requests(8, rng)
    config = load_config("predicted")
    plugins = instantiate(config, random.Random(0))
    scheduler = build_scheduler(config, rng=random.Random(0), plugins=plugins)
    (learner,) = observers(plugins.values())
    assert isinstance(learner, LatencyPredictor)
    by_pod, draws = synthetic_responses(eps, 8, random.Random(1))
    for i, request in enumerate(requests):
        pod = scheduler.schedule(request, eps, NOW).endpoints[0].name
        respond([learner], request, pod, by_pod[pod], draws[i])
    assert learner.ttft.rls.n == learner.tpot.rls.n == len(requests)
    assert learner.output_tokens != 200.0  # the prior, moved by the completions seen
    assert learner.prediction(requests[0].request_id) is None  # paired and consumed


def test_observe_mode_is_reported() -> None:
    assert measure("predicted", 5, seconds=0.02, rounds=1).observed
    assert not measure("predicted", 5, seconds=0.02, rounds=1, observe=False).observed
