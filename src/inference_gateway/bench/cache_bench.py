"""``bench cache``: what a semantic-cache hit costs against asking the model.

Everything runs in one process on loopback, through the same code the gateway runs:

* **embedding CPU**: ``time.process_time`` around one-prompt embeddings with the numpy
  MiniLM (BLAS capped at one thread, as the plugin does), so the figure is CPU seconds per
  embedding whatever the machine's load;
* **hit path**: a request through the extension chain (body parse, embedding in the
  plugin's worker thread, lookup among ``store_entries`` live answers, answer rendering),
  for a paraphrase or a repeat of a question already answered;
* **miss overhead**: the same chain on a question not in the cache (embedding and lookup
  that the model path pays on top of the model);
* **model path**: the chain plus an HTTP call to a simulated vLLM server (Llama-3-8B on an
  H100 latency model, ``time_scale`` 1 = real time) for a ``max_tokens`` answer.

Latency figures are wall-clock milliseconds and depend on the host's load; the CPU figure
does not. The paraphrase hit rate shows what the threshold lets through.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import asdict, dataclass

import aiohttp
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from inference_gateway.requestcontrol.body import parse_body
from inference_gateway.requestcontrol.extensions import ExtensionChain, RequestExtensions
from inference_gateway.requestcontrol.extensions.semantic_cache.answers import CachedAnswer
from inference_gateway.requestcontrol.extensions.semantic_cache.embedder import (
    Embedder,
    MiniLMEmbedder,
    limit_blas_threads,
)
from inference_gateway.requestcontrol.extensions.semantic_cache.plugin import (
    SemanticCache,
    SemanticCacheParams,
)
from inference_gateway.simulator.server import PodSpec, run_pods

MODEL = "bench-model"
TOPICS = (
    "bake bread", "change a flat tire", "learn to play the guitar", "brew good coffee",
    "grow tomatoes on a balcony", "write a cover letter", "train a puppy to sit",
    "remove a red wine stain", "start running as a beginner", "save money on groceries",
    "fix a leaking faucet", "improve my sleep", "speed up a slow laptop", "plan a wedding budget",
    "learn Spanish quickly", "paint a bedroom wall", "make fresh pasta", "negotiate a salary",
    "clean a cast iron pan", "set up a home network", "meditate every day", "write unit tests",
    "cook rice on the stove", "prepare for a job interview", "reduce stress at work",
    "take better photos with a phone", "build a bookshelf", "care for a succulent",
    "back up my computer", "lower my electricity bill", "learn to swim as an adult",
    "make a budget spreadsheet", "descale a kettle", "choose a good mattress",
    "memorise a speech", "keep basil alive indoors", "sharpen a kitchen knife",
    "write a haiku", "tie a tie", "jump start a car",
)  # fmt: skip


def question(topic: str) -> str:
    return f"How do I {topic}?"


def paraphrase(topic: str) -> str:
    return f"What is the way to {topic}?"


class CacheBenchSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    prompts: int = Field(default=40, ge=1, le=len(TOPICS))
    max_tokens: int = Field(default=64, ge=1)
    time_scale: float = Field(default=1.0, gt=0.0)
    """Simulator speed: 1 is real time for the latency model; smaller is faster."""
    threshold: float = Field(default=0.95, gt=0.0, le=1.0)
    store_entries: int = Field(default=1000, ge=0)
    """Unrelated live entries in the store during lookups (its default bound)."""
    embed_rounds: int = Field(default=100, ge=1)
    seed: int = 0


@dataclass(frozen=True, slots=True)
class Summary:
    n: int
    mean: float
    p50: float
    p90: float
    p99: float

    @classmethod
    def of(cls, values: list[float]) -> Summary:
        arr = np.asarray(values, dtype=np.float64)
        p50, p90, p99 = np.percentile(arr, [50, 90, 99]).tolist()
        return cls(len(values), float(arr.mean()), p50, p90, p99)


@dataclass(frozen=True, slots=True)
class CacheBenchResult:
    settings: dict[str, object]
    load_seconds: float
    embed_cpu_ms: Summary
    embed_wall_ms: Summary
    lookup_ms: Summary
    hit_ms: Summary
    miss_overhead_ms: Summary
    model_ms: Summary
    paraphrase_hit_rate: float
    repeat_hit_rate: float

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def _body(text: str, max_tokens: int) -> dict[str, object]:
    messages = [{"role": "user", "content": text}]
    return {"model": MODEL, "messages": messages, "max_tokens": max_tokens}


_HEADERS = {":path": "/v1/chat/completions", ":method": "POST"}


async def _through_chain(
    chain: ExtensionChain, text: str, max_tokens: int
) -> tuple[RequestExtensions, bool]:
    """The request-side stages as the director runs them (parse once, then the plugins)."""
    parsed = parse_body(_HEADERS[":path"], json.dumps(_body(text, max_tokens)).encode())
    ext = chain.begin(_HEADERS, parsed)
    assert ext is not None
    await ext.before_route()
    answer = await ext.after_route(MODEL, "127.0.0.1:0")
    return ext, answer is not None


def _embedding_costs(embedder: Embedder, rounds: int) -> tuple[list[float], list[float]]:
    cpu: list[float] = []
    wall: list[float] = []
    for i in range(rounds):
        text = question(TOPICS[i % len(TOPICS)]) + f" ({i})"
        c0, w0 = time.process_time(), time.perf_counter()
        embedder.embed([text])
        cpu.append((time.process_time() - c0) * 1e3)
        wall.append((time.perf_counter() - w0) * 1e3)
    return cpu, wall


def _fill_unrelated(cache: SemanticCache, entries: int, seed: int) -> None:
    """Live entries under other scopes: every lookup scans them, none can match."""
    assert cache.store is not None
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(entries, cache.store.dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    for i, v in enumerate(vectors):
        cache.store.insert(MODEL, i + 1, v, CachedAnswer("chat", "filler", "stop"))


async def cache_bench(
    settings: CacheBenchSettings, *, embedder: Embedder | None = None
) -> CacheBenchResult:
    limit_blas_threads(1)
    t0 = time.perf_counter()
    emb = embedder if embedder is not None else await asyncio.to_thread(MiniLMEmbedder)
    load_seconds = time.perf_counter() - t0
    cpu, wall = _embedding_costs(emb, settings.embed_rounds)
    params = SemanticCacheParams(
        threshold=settings.threshold, maxEntries=max(settings.store_entries + 2 * 64, 1)
    )
    cache = SemanticCache("bench-cache", params, embedder=emb)
    chain = ExtensionChain([cache])
    await chain.start()
    try:
        _fill_unrelated(cache, settings.store_entries, settings.seed)
        lookup = _lookups(cache, emb)
        spec = PodSpec("bench-sim", "127.0.0.1", 0, model=MODEL)
        async with run_pods([spec], time_scale=settings.time_scale) as pods:
            url = f"{pods[0].url}/v1/chat/completions"
            async with aiohttp.ClientSession() as http:
                phases = await _phases(chain, http, url, settings)
    finally:
        await chain.close()
    hit_ms, miss_ms, model_ms, para_hits, repeat_hits = phases
    n = settings.prompts
    return CacheBenchResult(
        settings=settings.model_dump(),
        load_seconds=load_seconds,
        embed_cpu_ms=Summary.of(cpu),
        embed_wall_ms=Summary.of(wall),
        lookup_ms=Summary.of(lookup),
        hit_ms=Summary.of(hit_ms),
        miss_overhead_ms=Summary.of(miss_ms),
        model_ms=Summary.of(model_ms),
        paraphrase_hit_rate=para_hits / n,
        repeat_hit_rate=repeat_hits / n,
    )


def _lookups(cache: SemanticCache, emb: Embedder) -> list[float]:
    assert cache.store is not None
    vector = emb.embed([question(TOPICS[0])])[0]
    out: list[float] = []
    for _ in range(200):
        t = time.perf_counter()
        cache.store.lookup(MODEL, 0, vector, 0.95)
        out.append((time.perf_counter() - t) * 1e3)
    return out


async def _phases(
    chain: ExtensionChain, http: aiohttp.ClientSession, url: str, s: CacheBenchSettings
) -> tuple[list[float], list[float], list[float], int, int]:
    hit_ms: list[float] = []
    miss_ms: list[float] = []
    model_ms: list[float] = []
    para_hits = repeat_hits = 0
    for topic in TOPICS[: s.prompts]:
        text = question(topic)
        t = time.perf_counter()
        ext, hit = await _through_chain(chain, text, s.max_tokens)
        miss_ms.append((time.perf_counter() - t) * 1e3)
        assert not hit, f"unexpected hit for {text!r}"
        async with http.post(url, json=_body(text, s.max_tokens)) as resp:
            ext.response_header(resp.status, dict(resp.headers))
            ext.response_body(await resp.read(), True)
        model_ms.append((time.perf_counter() - t) * 1e3)
        for variant, is_paraphrase in ((paraphrase(topic), True), (text, False)):
            t = time.perf_counter()
            _, hit = await _through_chain(chain, variant, s.max_tokens)
            if hit:
                hit_ms.append((time.perf_counter() - t) * 1e3)
                para_hits += is_paraphrase
                repeat_hits += not is_paraphrase
    return hit_ms or [float("nan")], miss_ms, model_ms, para_hits, repeat_hits


def format_cache_report(r: CacheBenchResult) -> str:
    rows = [
        ("embedding, CPU per prompt", r.embed_cpu_ms),
        ("embedding, wall per prompt", r.embed_wall_ms),
        (f"store lookup ({r.settings['store_entries']} live entries)", r.lookup_ms),
        ("cache-hit path (chain, end to end)", r.hit_ms),
        ("cache-miss overhead (chain)", r.miss_overhead_ms),
        ("model path (chain + simulated model)", r.model_ms),
    ]
    lines = [
        f"bench cache: {r.settings['prompts']} questions, max_tokens {r.settings['max_tokens']}, "
        f"threshold {r.settings['threshold']}, simulator time scale {r.settings['time_scale']}",
        f"model load {r.load_seconds:.2f} s; hit rate: paraphrases "
        f"{r.paraphrase_hit_rate:.0%}, repeats {r.repeat_hit_rate:.0%}",
        "",
        "| stage | n | mean ms | p50 ms | p90 ms | p99 ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, s in rows:
        lines.append(f"| {name} | {s.n} | {s.mean:.3f} | {s.p50:.3f} | {s.p90:.3f} | {s.p99:.3f} |")
    if r.hit_ms.p50 > 0:
        lines.append("")
        lines.append(f"model path / hit path (p50): {r.model_ms.p50 / r.hit_ms.p50:.0f}x")
    return "\n".join(lines)


def run_cache_bench(settings: CacheBenchSettings | None = None) -> CacheBenchResult:
    """Run the benchmark in a fresh event loop (the CLI's entry point)."""
    return asyncio.run(cache_bench(settings or CacheBenchSettings()))


__all__ = [
    "CacheBenchResult",
    "CacheBenchSettings",
    "cache_bench",
    "format_cache_report",
    "run_cache_bench",
]
