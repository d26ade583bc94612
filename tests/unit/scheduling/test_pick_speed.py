from __future__ import annotations

import typer
from typer.testing import CliRunner

from inference_gateway.bench.pick_speed import measure, synthetic_endpoints
from inference_gateway.cli import bench_cmd


def test_measure_counts_picks() -> None:
    result = measure("default", 20, seconds=0.05, rounds=2)
    assert result.picks > 0 and result.seconds > 0
    assert result.per_second == result.picks / result.seconds


def test_synthetic_endpoints_are_reproducible() -> None:
    import random

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
    assert "picks/s" in result.output
    assert result.output.count("random") == 2
