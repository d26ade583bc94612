"""``bench request-cost`` and ``bench pool-load`` run on tiny sizes and print their tables."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from inference_gateway.bench.request_cost import measure
from inference_gateway.cli import bench_cmd


def app() -> typer.Typer:
    root, bench = typer.Typer(), typer.Typer()
    root.add_typer(bench, name="bench")
    bench_cmd.register(root, bench)
    return root


def test_request_cost_measures_the_director_and_the_scheduler_alone() -> None:
    result = measure("default", 5, seconds=0.02, rounds=2)
    assert result.route_us > 0 and result.pick_us > 0
    assert result.requests >= 20 + 2 * 20 and result.rejected == 0
    assert result.around_us == result.route_us - result.pick_us


def test_bench_request_cost_prints_a_table() -> None:
    result = CliRunner().invoke(
        app(), ["bench", "request-cost", "--sizes", "3,7", "--seconds", "0.02", "-c", "default"]
    )
    assert result.exit_code == 0, result.output
    assert "us/request" in result.output and "us/pick" in result.output
    assert result.output.count("default") == 2


def test_bench_pool_load_loads_every_pod_through_both_sources() -> None:
    result = CliRunner().invoke(app(), ["bench", "pool-load", "--pods", "30"])
    assert result.exit_code == 0, result.output
    rows = [line.strip("│ ").split("│") for line in result.output.splitlines() if " 30 " in line]
    cells = [[cell.strip() for cell in row] for row in rows]
    assert [row[0] for row in cells] == ["kubernetes", "file", "file reload"]
    assert all(row[1:3] == ["30", "30"] for row in cells)  # pods, ready
