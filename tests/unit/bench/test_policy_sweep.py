"""The sweep and its artefacts: probe, staged rates, worker processes, files, the command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from inference_gateway.bench import report
from inference_gateway.bench.stats import percentile
from inference_gateway.bench.sweep import SweepConfig, probe_capacity, run_sweep
from inference_gateway.cli import bench_policies_cmd

TINY = SweepConfig(
    "sharegpt",
    pods=2,
    seed=3,
    policies=("round-robin", "scorer-mix"),
    fractions=(0.2, 1.2),
    stage_seconds=6.0,
    warmup_seconds=2.0,
    processes=1,
)


def test_percentile_interpolates_like_numpy() -> None:
    values = [1.0, 2.0, 3.0, 4.0]
    assert percentile(values, 50) == 2.5
    assert percentile(values, 90) == pytest.approx(3.7)
    assert percentile([5.0], 99) == 5.0


def test_probe_finds_a_capacity_that_saturates() -> None:
    capacity = probe_capacity(TINY)
    assert 50 < capacity < 90
    result = run_sweep(TINY)
    low, high = result.results["round-robin"]
    assert low.rate == pytest.approx(0.2 * capacity) and high.rate == pytest.approx(1.2 * capacity)
    assert low.stats.ttft["p90"] < 0.2 < high.stats.ttft["p90"]
    assert high.stats.completed_rate < high.rate


def test_worker_processes_do_not_change_the_numbers() -> None:
    serial = run_sweep(TINY).to_json()
    parallel = run_sweep(
        SweepConfig(**{**{f: getattr(TINY, f) for f in TINY.__slots__}, "processes": 2})
    ).to_json()
    assert json.dumps(serial, sort_keys=True) == json.dumps(parallel, sort_keys=True)


def test_artefacts_and_command(tmp_path: Path) -> None:
    app, bench = typer.Typer(), typer.Typer()
    app.add_typer(bench, name="bench")
    bench_policies_cmd.register(app, bench)
    config = tmp_path / "mine.yaml"
    config.write_text(
        "apiVersion: inference.networking.x-k8s.io/v1alpha1\n"
        "kind: EndpointPickerConfig\n"
        "plugins:\n- type: queue-scorer\n- type: max-score-picker\n"
    )
    out = tmp_path / "out"
    args = [
        "bench", "policies", "--workload", "sharegpt", "--pods", "2", "--seed", "1",
        "--out", str(out), "--policies", "random,least-request", "--policy", str(config),
        "--stage-seconds", "4", "--rates", "20,60", "--processes", "1", "--no-progress",
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "| policy |" in result.output and "| mine |" in result.output
    data = json.loads((out / "results.json").read_text())
    assert set(data["results"]) == {"random", "least-request", "mine"}
    assert [s["rate"] for s in data["results"]["mine"]] == [20.0, 60.0]
    for png in ("latency_p90.png", "throughput.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / "results.md").read_text()
    assert md.count("| mine |") == 3  # two rows of the main table, a column of the ratios


def test_update_reruns_only_the_policies_given(tmp_path: Path) -> None:
    """``--update`` replaces the policies run now and keeps the others as published; a run
    of other stages (another seed: other arrivals) is refused and the file left alone."""
    app, bench = typer.Typer(), typer.Typer()
    app.add_typer(bench, name="bench")
    bench_policies_cmd.register(app, bench)
    out = tmp_path / "out"
    base = [
        "bench", "policies", "--workload", "sharegpt", "--pods", "2", "--out", str(out),
        "--stage-seconds", "4", "--rates", "20,60", "--processes", "1", "--no-progress",
    ]  # fmt: skip
    first = CliRunner().invoke(app, [*base, "--seed", "1", "--policies", "random,least-request"])
    assert first.exit_code == 0, first.output
    published = json.loads((out / "results.json").read_text())
    for policy in ("random", "least-request"):
        published["results"][policy][0]["e2e"]["p90"] = -1.0  # marks what was not re-run
    (out / "results.json").write_text(json.dumps(published))
    again = [*base, "--seed", "1", "--policies", "least-request,round-robin", "--update"]
    second = CliRunner().invoke(app, again)
    assert second.exit_code == 0, second.output
    data = json.loads((out / "results.json").read_text())
    assert data["meta"]["policies"] == ["random", "least-request", "round-robin"]
    assert data["results"]["random"] == published["results"]["random"]
    assert data["results"]["least-request"][0]["e2e"]["p90"] > 0.0
    assert [s["rate"] for s in data["results"]["round-robin"]] == [20.0, 60.0]
    assert (out / "results.md").read_text().count("| round-robin |") == 3
    other = CliRunner().invoke(app, [*base, "--seed", "2", "--policies", "random", "--update"])
    assert other.exit_code != 0
    assert "not the same stages" in other.output and "seed" in other.output
    assert json.loads((out / "results.json").read_text()) == data


def test_unknown_policy_is_a_usage_error() -> None:
    app, bench = typer.Typer(), typer.Typer()
    app.add_typer(bench, name="bench")
    bench_policies_cmd.register(app, bench)
    result = CliRunner().invoke(app, ["bench", "policies", "--policies", "nope"])
    assert result.exit_code != 0
    assert "unknown policy" in result.output


def test_markdown_table_has_one_row_per_stage_and_policy() -> None:
    result = run_sweep(
        SweepConfig(**{**{f: getattr(TINY, f) for f in TINY.__slots__}, "rates": (30.0,)})
    )
    table = report.markdown_table(result).splitlines()
    assert len(table) == 2 + 2
    assert table[0].count("|") == table[2].count("|")


def test_policy_names_resolve_to_configs(tmp_path: Path) -> None:
    from inference_gateway.bench.policies import load, resolve

    oracle = resolve("oracle")
    assert oracle.oracle and oracle.source == resolve("tuned").source
    mix = resolve("oracle:scorer-mix")
    assert mix.oracle and mix.source == "scorer-mix" and mix.admission
    assert not resolve("round-robin").admission and resolve("default").admission
    tuned = load(resolve("tuned"))
    assert {"inflight-load-scorer", "prefix-cache-scorer"} <= set(tuned.plugins)
    with pytest.raises(ValueError, match="unknown policy"):
        resolve(str(tmp_path / "missing.yaml"))
