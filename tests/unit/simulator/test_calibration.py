"""The default profile against measured vLLM (Llama-3-8B, one H100, max-num-seqs 128).

inference-perf's KubeCon NA 2025 demo measured TTFT p50 31 ms at 1 QPS and saturation at
~101-106 req/s with ~204-token prompts and 64-token outputs (research/sim-bench.md 3.8).
"""

from __future__ import annotations

import statistics

import pytest

from inference_gateway.simulator.config import EngineConfig
from inference_gateway.simulator.engine import Engine
from inference_gateway.simulator.virtual import drive, poisson_arrivals


def test_ttft_p50_at_one_qps_matches_vllm() -> None:
    done = drive(Engine(EngineConfig(max_num_seqs=128)), poisson_arrivals(1.0, 300, seed=1))
    assert len(done) == 300
    assert statistics.median(r.ttft for r in done) == pytest.approx(0.031, rel=0.3)


def test_saturation_throughput_matches_vllm() -> None:
    engine = Engine(EngineConfig(max_num_seqs=128, max_waiting=100_000))
    done = drive(engine, poisson_arrivals(300.0, 4000, seed=2))
    finishes = sorted(r.finish for r in done)[1000:3000]
    throughput = (len(finishes) - 1) / (finishes[-1] - finishes[0])
    assert throughput == pytest.approx(100.0, rel=0.3)
    assert engine.num_preemptions == 0
