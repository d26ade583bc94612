"""Workload streams: seeded, shaped like the published statistics, and prefix-consistent."""

from __future__ import annotations

import itertools
import statistics
from collections import Counter

import pytest

from inference_gateway.bench._pool import prepare
from inference_gateway.bench.workloads import WORKLOADS, arrivals, generate, generate_closed
from inference_gateway.scheduling.plugins.prefix import block_hashes
from inference_gateway.scheduling.types import Criticality


def test_same_seed_same_stream_and_other_seed_differs() -> None:
    spec = WORKLOADS["sharegpt"]
    a = generate(spec, 20.0, 30.0, seed=7)
    assert a == generate(spec, 20.0, 30.0, seed=7)
    assert a != generate(spec, 20.0, 30.0, seed=8)


def test_sharegpt_lengths_match_published_statistics() -> None:
    reqs = generate_closed(WORKLOADS["sharegpt"], 20_000, seed=1)
    prompt = [r.prompt_tokens for r in reqs]
    output = [r.output_tokens for r in reqs]
    assert 215 <= statistics.fmean(prompt) <= 265
    assert 100 <= statistics.median(prompt) <= 118
    assert max(prompt) == 1024 and min(prompt) >= 4
    assert 205 <= statistics.fmean(output) <= 245
    assert 135 <= statistics.median(output) <= 153


@pytest.mark.parametrize("burstiness", [1.0, 0.5])
def test_arrival_rate_is_the_requested_mean(burstiness: float) -> None:
    import random

    times = arrivals(random.Random(3), 50.0, 200.0, burstiness)
    assert 50.0 * 200 * 0.93 <= len(times) <= 50.0 * 200 * 1.07
    assert times == sorted(times) and times[-1] < 200.0


def test_bursty_arrivals_are_burstier_than_poisson() -> None:
    def cv2(name: str) -> float:
        times = [r.arrival for r in generate(WORKLOADS[name], 50.0, 100.0, seed=2)]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        return statistics.pvariance(gaps) / statistics.fmean(gaps) ** 2

    assert 0.85 <= cv2("sharegpt") <= 1.15
    assert cv2("bursty") >= 1.6


def test_shared_prefix_prompts_share_router_and_engine_blocks() -> None:
    reqs = generate_closed(WORKLOADS["shared-prefix"], 400, seed=0)
    by_group: dict[str, list[int]] = {}
    for i, r in enumerate(reqs):
        by_group.setdefault(r.segments[0][0], []).append(i)
    a, b = next(v for v in by_group.values() if len(v) >= 2)[:2]
    if reqs[a].segments == reqs[b].segments:
        pytest.skip("drew the same prompt twice")
    (la, sa), (lb, sb) = prepare(reqs[a]), prepare(reqs[b])
    system_blocks = 6000 // 16
    assert la.prompt[: 6000 * 4] == lb.prompt[: 6000 * 4]
    assert sa.block_keys[:system_blocks] == sb.block_keys[:system_blocks]
    assert sa.block_keys[system_blocks] != sb.block_keys[system_blocks]
    ha = block_hashes(la.prompt, la.target_model, 64, 1000)
    hb = block_hashes(lb.prompt, lb.target_model, 64, 1000)
    assert len(ha) == len(sa.block_keys) == 7200 // 16
    assert ha[:system_blocks] == hb[:system_blocks] and ha[system_blocks] != hb[system_blocks]


def test_multi_lora_split_and_criticality_mix() -> None:
    lora = Counter(r.model for r in generate_closed(WORKLOADS["multi-lora"], 20_000, seed=0))
    assert len(lora) == 15
    assert 0.105 <= lora["adapter-0"] / 20_000 <= 0.135
    assert 0.05 <= lora["adapter-7"] / 20_000 <= 0.07
    assert 0.013 <= lora["adapter-14"] / 20_000 <= 0.027
    crit = Counter(
        r.criticality for r in generate_closed(WORKLOADS["mixed-criticality"], 10_000, 0)
    )
    assert 0.28 <= crit[Criticality.SHEDDABLE] / 10_000 <= 0.32
    assert 0.18 <= crit[Criticality.CRITICAL] / 10_000 <= 0.22
