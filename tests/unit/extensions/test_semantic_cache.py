"""The semantic-cache plugin driven through the extension chain, with the real embedder."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from inference_gateway.requestcontrol.extensions import ExtensionChain, ImmediateAnswer
from inference_gateway.requestcontrol.extensions.semantic_cache.embedder import MiniLMEmbedder
from inference_gateway.requestcontrol.extensions.semantic_cache.plugin import (
    SemanticCache,
    SemanticCacheParams,
)
from tests.unit.extensions.helpers import begin, chat_body, chat_response, chat_stream, routed

BREAD = "How do I bake bread?"
BREAD_AGAIN = "What is the way to bake bread?"
STOCKS = "The stock market fell today"


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def chain(embedder: MiniLMEmbedder, clock: Clock) -> AsyncIterator[ExtensionChain]:
    params = SemanticCacheParams(threshold=0.95, ttl=60.0, maxEntries=10)
    plugin = SemanticCache("cache", params, embedder=embedder, clock=clock, wall_clock=lambda: 7.0)
    chain = ExtensionChain([plugin])
    await chain.start()
    yield chain
    await chain.close()


async def exchange(
    chain: ExtensionChain,
    body: dict[str, Any],
    chunks: list[bytes] | None = None,
    *,
    target: str | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> tuple[ImmediateAnswer | None, dict[str, str]]:
    ext = begin(chain, body, **(headers or {}))
    await ext.before_route()
    answer = await ext.after_route(*routed(body["model"], target))
    if answer is not None:
        return answer, {}
    added = ext.response_header(status, {"content-type": "application/json"})
    chunks = chunks if chunks is not None else [chat_response("Knead, rise, bake.")]
    for i, chunk in enumerate(chunks):
        ext.response_body(chunk, i == len(chunks) - 1)
    return None, added


async def test_miss_fills_and_a_paraphrase_hits(chain: ExtensionChain) -> None:
    answer, added = await exchange(chain, chat_body(BREAD))
    assert answer is None and added == {"x-cache": "miss"}
    hit, _ = await exchange(chain, chat_body(BREAD_AGAIN))
    assert hit is not None and hit.status == 200
    assert hit.headers["x-cache"] == "hit" and hit.headers["content-type"] == "application/json"
    assert float(hit.headers["x-cache-similarity"]) >= 0.95
    body = json.loads(hit.body)
    assert body["choices"][0]["message"]["content"] == "Knead, rise, bake."
    assert body["model"] == "m" and body["created"] == 7
    cache = chain.plugins[0]
    assert isinstance(cache, SemanticCache)
    assert (cache.stats.lookups, cache.stats.hits, cache.stats.fills) == (2, 1, 1)


async def test_unrelated_prompt_misses(chain: ExtensionChain) -> None:
    await exchange(chain, chat_body(BREAD))
    answer, added = await exchange(chain, chat_body(STOCKS))
    assert answer is None and added == {"x-cache": "miss"}


async def test_stream_fill_serves_json_and_stream_hits(chain: ExtensionChain) -> None:
    stream = chat_stream(["Knead, ", "rise, ", "bake."])
    await exchange(chain, chat_body(BREAD, stream=True), stream)
    hit, _ = await exchange(chain, chat_body(BREAD_AGAIN, stream=True))
    assert hit is not None and hit.headers["content-type"] == "text/event-stream"
    assert hit.body.endswith(b"data: [DONE]\n\n")
    assert b'"content":"Knead, rise, bake."' in hit.body
    as_json, _ = await exchange(chain, chat_body(BREAD))
    assert as_json is not None
    assert json.loads(as_json.body)["choices"][0]["message"]["content"] == "Knead, rise, bake."


async def test_entries_are_per_target_model(chain: ExtensionChain) -> None:
    await exchange(chain, chat_body(BREAD, model="alias"), target="stable")
    canary, _ = await exchange(chain, chat_body(BREAD, model="alias"), target="canary")
    assert canary is None
    hit, _ = await exchange(chain, chat_body(BREAD, model="other-alias"), target="stable")
    assert hit is not None and json.loads(hit.body)["model"] == "other-alias"


@pytest.mark.parametrize(
    ("status", "chunks"),
    [
        (500, [b'{"error": {"message": "boom"}}']),
        (200, [b'{"error": {"message": "boom"}}']),
        (200, chat_stream(["half"], done=False)),
    ],
)
async def test_errors_and_truncated_responses_are_never_cached(
    chain: ExtensionChain, status: int, chunks: list[bytes]
) -> None:
    await exchange(chain, chat_body(BREAD, stream=True), chunks, status=status)
    again, _ = await exchange(chain, chat_body(BREAD))
    assert again is None


async def test_ttl_expires_entries(chain: ExtensionChain, clock: Clock) -> None:
    await exchange(chain, chat_body(BREAD))
    clock.now += 61.0
    answer, _ = await exchange(chain, chat_body(BREAD))
    assert answer is None


@pytest.mark.parametrize(
    "extra",
    [{"temperature": 0.7}, {"n": 2}],
)
async def test_sampled_or_multi_choice_requests_bypass_the_cache(
    chain: ExtensionChain, extra: dict[str, Any]
) -> None:
    await exchange(chain, chat_body(BREAD))
    ext = begin(chain, chat_body(BREAD, **extra))
    await ext.before_route()
    assert await ext.after_route(*routed()) is None
    assert not ext.needs_response_body
    assert ext.response_header(200, {}) == {}


async def test_explicit_zero_temperature_shares_entries(chain: ExtensionChain) -> None:
    await exchange(chain, chat_body(BREAD))
    hit, _ = await exchange(chain, chat_body(BREAD, temperature=0))
    assert hit is not None


async def test_parameters_and_earlier_turns_must_match(chain: ExtensionChain) -> None:
    await exchange(chain, chat_body(BREAD, max_tokens=10))
    other_params, _ = await exchange(chain, chat_body(BREAD, max_tokens=20))
    assert other_params is None
    convo = chat_body(BREAD)
    convo["messages"].insert(0, {"role": "system", "content": "Answer in French."})
    other_context, _ = await exchange(chain, convo)
    assert other_context is None


async def test_completions_and_chat_do_not_share(chain: ExtensionChain) -> None:
    await exchange(chain, chat_body(BREAD))
    ext = begin(chain, {"model": "m", "prompt": BREAD}, path="/v1/completions")
    await ext.before_route()
    assert await ext.after_route(*routed()) is None


async def test_cache_control_headers(chain: ExtensionChain) -> None:
    await exchange(chain, chat_body(BREAD), headers={"cache-control": "no-store"})
    assert (await exchange(chain, chat_body(BREAD)))[0] is None  # filled now
    skipped, _ = await exchange(chain, chat_body(BREAD), headers={"cache-control": "no-cache"})
    assert skipped is None
    assert (await exchange(chain, chat_body(BREAD)))[0] is not None


async def test_prompts_beyond_the_embedding_window_are_not_cached(
    chain: ExtensionChain,
) -> None:
    long = "bread " * 300
    await exchange(chain, chat_body(long))
    ext = begin(chain, chat_body(long))
    await ext.before_route()
    assert await ext.after_route(*routed()) is None
    assert not ext.needs_response_body


async def test_oversized_responses_are_not_cached(embedder: MiniLMEmbedder) -> None:
    params = SemanticCacheParams(maxResponseBytes=64)
    chain = ExtensionChain([SemanticCache("c", params, embedder=embedder)])
    await chain.start()
    try:
        await exchange(chain, chat_body(BREAD), [chat_response("x" * 100)])
        assert (await exchange(chain, chat_body(BREAD)))[0] is None
    finally:
        await chain.close()


def test_params_defaults_and_validation() -> None:
    p = SemanticCacheParams()
    assert (p.threshold, p.ttl, p.maxEntries, p.failureMode) == (0.95, 300.0, 1000, "open")
    assert SemanticCacheParams.model_validate({"ttl": "2m"}).ttl == 120.0
    with pytest.raises(ValueError, match="extra"):
        SemanticCacheParams.model_validate({"treshold": 0.9})
    with pytest.raises(ValueError):
        SemanticCacheParams.model_validate({"threshold": 1.5})
