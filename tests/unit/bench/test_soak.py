"""``bench soak``: growth and verdict arithmetic, the world it builds, and its load generator
against a real simulated pod (the full run with Envoy is exercised by ``bench soak`` itself)."""

from __future__ import annotations

import random
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from rich.console import Console

from inference_gateway.bench._soak_load import MODELS, POD_HOSTS, _one, _request, config_yaml, drive
from inference_gateway.bench._soak_probes import rss_mb
from inference_gateway.bench._soak_probes import top_growth as _top_growth
from inference_gateway.bench.soak import Sample, SoakResult
from inference_gateway.bench.soak_report import print_report, write_plot
from inference_gateway.simulator.server import PodSpec, SimPod, run_pods
from inference_gateway.sources.file import parse_text


def result(minutes: float, rss: list[float], **counts: object) -> SoakResult:
    step = minutes * 60 / (len(rss) - 1)
    samples = [Sample(i * step, mb, None, i) for i, mb in enumerate(rss)]
    return SoakResult(minutes, 4, "scorer-mix", samples, **counts)  # type: ignore[arg-type]


def test_growth_is_measured_after_warmup() -> None:
    # 11 samples over 10 minutes: warm-up ends at minute 1 (sample 1, 100 MB).
    r = result(10, [50, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109], sent=5, succeeded=5)
    assert r.post_warmup[0].rss_mb == 100
    assert r.growth_pct == pytest.approx(9.0)
    assert r.slope_mb_per_min == pytest.approx(1.0, rel=0.05)
    projected, extrapolated = r.growth_30min_pct
    assert extrapolated
    assert projected == pytest.approx(30.0, rel=0.05)
    assert r.memory_flat is False


def test_flat_memory_passes_and_long_runs_are_measured() -> None:
    flat = result(5, [40, 80, 80.5, 80.2, 80.4, 80.3, 80.1], sent=9, succeeded=9)
    assert flat.memory_flat is True
    long = result(30, [40, 80, 84, 86, 87, 88])
    projected, extrapolated = long.growth_30min_pct
    assert not extrapolated
    assert projected == pytest.approx(10.0)
    assert long.memory_flat is True


def test_report_states_both_verdicts(tmp_path: Path) -> None:
    r = result(3, [50, 70, 70, 70, 70], sent=10, succeeded=9, failed={"status 503": 1})
    console = Console(record=True, width=200)
    print_report(r, console)
    text = console.export_text()
    assert "verdict memory: PASS" in text and "extrapolated" in text
    assert "verdict failures: FAIL (1 failed of 10)" in text
    assert "status 503" in text
    png = write_plot(r, tmp_path / "soak.png")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_rss_is_read_from_proc() -> None:
    assert 5 < rss_mb() < 10_000


def test_world_config_is_a_valid_standalone_file() -> None:
    state = parse_text(config_yaml(8000))
    assert [p.target_ports for p in state.pools] == [(8000,)]
    assert sorted(m.model_name for m in state.models) == sorted(MODELS)
    assert sorted(p.address for p in state.pods) == sorted(POD_HOSTS)


def test_request_mix_covers_every_kind_and_model() -> None:
    rng = random.Random(3)
    drawn = [_request(rng, ["p one", "p two"]) for _ in range(400)]
    assert {kind for kind, _ in drawn} == {
        "chat/stream", "chat/plain", "completions/stream", "completions/plain",
    }  # fmt: skip
    assert {body["model"] for _, body in drawn} == set(MODELS)


@pytest.fixture
async def pod() -> AsyncIterator[SimPod]:
    spec = PodSpec("p", "127.0.0.11", 0, model="chat-lora", max_num_seqs=8)
    async with run_pods([spec], time_scale=0.05) as pods:
        yield pods[0]


async def test_load_generator_counts_successes_and_failures(pod: SimPod) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        ok = {"model": "chat-lora", "max_tokens": 4, "stream": True, "prompt": "hi"}
        assert await _one(session, pod.url, "completions/stream", ok) is None
        plain = {**ok, "stream": False}
        assert await _one(session, pod.url, "completions/plain", plain) is None
        unknown = {**ok, "model": "nope"}
        assert await _one(session, pod.url, "completions/stream", unknown) == "status 404"
        closed = "http://127.0.0.11:1"
        assert await _one(session, closed, "completions/plain", plain) == "ClientConnectorError"


async def test_drive_stops_by_itself_and_tallies(pod: SimPod) -> None:
    # Models other than the pod's own are 404s here: the tally must say so, by cause.
    report = await drive(pod.url, 0.5, 4, seed=1, distinct_prompts=10)
    assert report["sent"] > 0
    assert report["sent"] == report["succeeded"] + sum(report["failed"].values())
    assert set(report["failed"]) <= {"status 404"}
    assert sum(report["by_kind"].values()) == report["sent"]
    assert 0.5 <= report["wall_seconds"] < 0.5 + 30


def test_allocation_growth_names_the_growing_line() -> None:
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        kept = [bytearray(1000) for _ in range(2000)]
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    top = _top_growth(before, after)
    assert len(kept) == 2000
    assert top and "test_soak.py" in top[0] and top[0].startswith("+2.0")
