"""``bench cache`` end to end at small scale: a real simulator on loopback, the real model."""

from __future__ import annotations

import math

from inference_gateway.bench.cache_bench import (
    CacheBenchSettings,
    cache_bench,
    format_cache_report,
)
from inference_gateway.requestcontrol.extensions.semantic_cache.embedder import MiniLMEmbedder


async def test_small_cache_bench_reports_every_stage() -> None:
    settings = CacheBenchSettings(prompts=3, time_scale=0.05, embed_rounds=3, store_entries=100)
    result = await cache_bench(settings, embedder=MiniLMEmbedder())
    assert result.repeat_hit_rate == 1.0
    assert result.paraphrase_hit_rate == 1.0  # "How do I X?" / "What is the way to X?"
    assert result.embed_cpu_ms.n == 3 and result.embed_cpu_ms.mean > 0
    assert result.hit_ms.n == 6 and result.model_ms.n == 3 and result.lookup_ms.n == 200
    assert all(not math.isnan(s.p50) for s in (result.hit_ms, result.model_ms))
    report = format_cache_report(result)
    assert "| cache-hit path (chain, end to end) | 6 |" in report
    assert "store lookup (100 live entries)" in report
    assert result.to_json()["settings"] == settings.model_dump()
