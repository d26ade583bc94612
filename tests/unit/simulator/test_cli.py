"""The sim command group, registered on its own app (no other command modules needed)."""

from __future__ import annotations

import re

import typer
from typer.testing import CliRunner

from inference_gateway.cli import sim_cmd
from inference_gateway.simulator.config import EngineConfig


def build() -> typer.Typer:
    app, bench = typer.Typer(), typer.Typer()
    app.add_typer(bench, name="bench")
    sim_cmd.register(app, bench)
    return app


def test_sim_speed_reports_requests_per_wall_second() -> None:
    result = CliRunner().invoke(build(), ["bench", "sim-speed", "--requests", "2000"])
    assert result.exit_code == 0, result.output
    match = re.search(
        r"2000 requests, .* ([\d,]+) simulated requests per wall second", result.output
    )
    assert match and int(match.group(1).replace(",", "")) > 0


def test_sim_rejects_unknown_profile_and_engine() -> None:
    runner = CliRunner()
    assert runner.invoke(build(), ["sim", "--profile", "nope"]).exit_code != 0
    assert runner.invoke(build(), ["sim", "--engine", "tgi"]).exit_code != 0
    assert runner.invoke(build(), ["sim", "--task", "classify"]).exit_code != 0


def test_replicas_take_consecutive_addresses_and_indexed_names() -> None:
    specs = sim_cmd.pod_specs(
        host="127.0.0.11", port=8000, name="pod", replicas=3, kind="vllm", config=EngineConfig()
    )
    assert [(s.name, s.host, s.port) for s in specs] == [
        ("pod-0", "127.0.0.11", 8000),
        ("pod-1", "127.0.0.12", 8000),
        ("pod-2", "127.0.0.13", 8000),
    ]
