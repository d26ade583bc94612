"""The demo's pure parts: its config loads as the gateway would load it, its schedule is
reproducible and has its burst, and the summary counts what the outcomes say."""

from __future__ import annotations

from pathlib import Path

import pytest

from inference_gateway.demo.load import LATE, Outcome
from inference_gateway.demo.settings import POD_HOSTS, POD_NAMES, SQL_V1, SQL_V2
from inference_gateway.demo.summary import RunResult, percentiles_ms, reading, summarize
from inference_gateway.demo.workload import BURST, schedule
from inference_gateway.demo.world import CRITICALITY, MODELS, config_yaml, shared_free_port
from inference_gateway.sources.file import load_file


def test_generated_config_loads_with_four_pods_and_the_models(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(config_yaml(18123))
    state = load_file(path)
    assert [p.target_ports for p in state.pools] == [(18123,)]
    assert sorted(p.address for p in state.pods) == list(POD_HOSTS)
    by_name = {m.model_name: m for m in state.models}
    assert {name: m.criticality for name, m in by_name.items()} == CRITICALITY
    split = {t.name: t.weight for t in by_name["support"].targets}
    assert split == {SQL_V1: 90, SQL_V2: 10}


def test_shared_free_port_is_bindable_on_every_pod_address() -> None:
    import socket

    port = shared_free_port(POD_HOSTS)
    sockets = []
    try:
        for host in POD_HOSTS:
            s = socket.socket()
            sockets.append(s)
            s.bind((host, port))
    finally:
        for s in sockets:
            s.close()


def test_schedule_is_reproducible_and_busier_in_the_burst() -> None:
    a = schedule(seconds=60, rate=20, seed=3)
    assert a == schedule(seconds=60, rate=20, seed=3)
    assert a != schedule(seconds=60, rate=20, seed=4)
    start, end, factor = BURST
    inside = sum(1 for r in a if start * 60 <= r.arrival < end * 60)
    outside = len(a) - inside
    per_second_in = inside / ((end - start) * 60)
    per_second_out = outside / ((1 - (end - start)) * 60)
    assert per_second_in == pytest.approx(20 * factor, rel=0.2)
    assert per_second_out == pytest.approx(20, rel=0.2)
    assert {r.model for r in a} == {m.name for m in MODELS}
    assert {r.api for r in a} == {"chat", "completions"}
    assert any(r.stream for r in a) and not all(r.stream for r in a)


def outcome(i: int, crit: str, status: int, pod: str | None, e2e: float | None = 1.0) -> Outcome:
    model = next(m.name for m in MODELS if m.criticality == crit)
    return Outcome(i, model, crit, False, status, pod, None, e2e)


def test_summary_counts_shed_errors_and_pods() -> None:
    outcomes = [
        outcome(0, "Critical", 200, "pod-1", 0.1),
        outcome(1, "Critical", 200, "pod-1", 0.3),
        outcome(2, "Sheddable", 429, None, 0.01),
        outcome(3, "Sheddable", 429, "pod-2", 0.01),  # the pod's own 429: not shed
        Outcome(4, "chat", "Critical", True, 0, None, None, None, LATE),
        outcome(5, "Standard", 200, "pod-4", 0.2),
    ]
    targets = {("support", SQL_V1): 9, ("support", SQL_V2): 1}
    s = summarize(RunResult("scorer-mix", outcomes, targets, seconds=2.0))
    assert s["ok"] == 3 and s["errors"] == 1 and s["unfinished"] == 1
    assert s["shed"] == {"Critical": 0, "Standard": 0, "Sheddable": 1}
    assert s["per_pod"] == {"pod-1": 2, "pod-2": 0, "pod-3": 0, "pod-4": 1}
    assert list(s["per_pod"]) == list(POD_NAMES)
    assert s["e2e_ms_by_criticality"]["Critical"]["p50"] == 300.0
    assert s["ttft_ms"] == {"p50": None, "p90": None, "p99": None}
    assert "9 requests to sql-lora-v1 and 1 to sql-lora-v2" in reading([s])


def test_percentiles_pick_nearest_rank() -> None:
    values = [i / 1000 for i in range(1, 101)]
    assert percentiles_ms(values) == {"p50": 51.0, "p90": 91.0, "p99": 100.0}
