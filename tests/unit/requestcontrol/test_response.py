"""The response half: model-name restore across chunks, usage parsing, finish and in-flight."""

from __future__ import annotations

import json

import pytest

from inference_gateway.requestcontrol import DirectorSettings, Routed
from inference_gateway.requestcontrol.response import ModelRestorer, UsageReader, usage_from
from tests.unit.requestcontrol.builders import chat, make_director, make_store, model

COMPLETION = {
    "id": "cmpl-1",
    "object": "chat.completion",
    "model": "adapter",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hey"}}],
    "usage": {
        "prompt_tokens": 12,
        "completion_tokens": 4,
        "total_tokens": 16,
        "prompt_tokens_details": {"cached_tokens": 8},
    },
}


def sse(*objects: object) -> bytes:
    return (
        b"".join(b"data: " + json.dumps(o).encode() + b"\n\n" for o in objects)
        + b"data: [DONE]\n\n"
    )


def chunk_obj(text: str, usage: object = None) -> dict[str, object]:
    return {
        "object": "chat.completion.chunk",
        "model": "adapter",
        "choices": [{"delta": {"content": text}}],
        "usage": usage,
    }


def feed_all(restorer: ModelRestorer, pieces: list[bytes]) -> bytes:
    out = b"".join(restorer.feed(p, False) for p in pieces)
    return out + restorer.feed(b"", True)


@pytest.mark.parametrize("spacing", [b'"model":"adapter"', b'"model": "adapter"'])
def test_restore_both_spellings(spacing: bytes) -> None:
    restorer = ModelRestorer("adapter", "llama")
    body = b'{"id":1,' + spacing + b',"x":"adapter"}'
    out = restorer.feed(body, True)
    assert out == body.replace(b'"adapter"', b'"llama"', 1)


@pytest.mark.parametrize("cut", range(1, 30))
def test_restore_pattern_split_across_two_chunks(cut: int) -> None:
    body = b'data: {"id":"c","model":"adapter","choices":[]}\n\n'
    restorer = ModelRestorer("adapter", "llama")
    out = feed_all(restorer, [body[:cut], body[cut:]])
    assert out == b'data: {"id":"c","model":"llama","choices":[]}\n\n'


def test_restore_byte_by_byte() -> None:
    body = json.dumps(COMPLETION).encode() * 3
    restorer = ModelRestorer("adapter", "llama")
    out = feed_all(restorer, [body[i : i + 1] for i in range(len(body))])
    assert out == body.replace(b'"model": "adapter"', b'"model": "llama"')


def test_restore_holds_back_only_possible_prefixes() -> None:
    restorer = ModelRestorer("adapter", "llama")
    assert restorer.feed(b'{"a":"b"}\n', False) == b'{"a":"b"}\n'
    assert restorer.feed(b'{"mod', False) == b"{"
    assert restorer.feed(b'el":"adapter"}', True) == b'"model":"llama"}'


@pytest.mark.parametrize("pieces", [1, 2, 7])
def test_usage_from_buffered_json(pieces: int) -> None:
    body = json.dumps(COMPLETION).encode()
    reader = UsageReader(streaming=False, limit=1 << 20)
    size = len(body) // pieces + 1
    chunks = [body[i : i + size] for i in range(0, len(body), size)]
    for i, c in enumerate(chunks):
        reader.feed(c, i == len(chunks) - 1)
    assert reader.usage is not None
    assert (
        reader.usage.prompt_tokens,
        reader.usage.completion_tokens,
        reader.usage.cached_tokens,
    ) == (12, 4, 8)


def test_usage_from_sse_with_include_usage_split_anywhere() -> None:
    stream = sse(
        chunk_obj("he"),
        chunk_obj("y"),
        {
            "object": "chat.completion.chunk",
            "model": "adapter",
            "choices": [],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2},
        },
    )
    for cut in range(1, len(stream), 7):
        reader = UsageReader(streaming=True, limit=1 << 20)
        reader.feed(stream[:cut], False)
        reader.feed(stream[cut:], True)
        assert reader.usage is not None, cut
        assert (reader.usage.prompt_tokens, reader.usage.completion_tokens) == (5, 2)


def test_sse_without_usage_is_never_decoded_and_finds_nothing() -> None:
    reader = UsageReader(streaming=True, limit=1 << 20)
    reader.feed(sse(chunk_obj("a"), chunk_obj("b")), True)
    assert reader.usage is None


def test_responses_api_usage() -> None:
    event = {
        "type": "response.completed",
        "response": {
            "usage": {
                "input_tokens": 3,
                "output_tokens": 9,
                "input_tokens_details": {"cached_tokens": 1},
            }
        },
    }
    found = usage_from(event)
    assert found is not None
    assert (found.prompt_tokens, found.completion_tokens, found.cached_tokens) == (3, 9, 1)


def test_oversized_buffered_body_gives_up() -> None:
    reader = UsageReader(streaming=False, limit=10)
    reader.feed(json.dumps(COMPLETION).encode(), True)
    assert reader.usage is None


# --- through the director --------------------------------------------------------------


def test_director_restores_and_accounts_json_response() -> None:
    store = make_store(models=[model("llama", targets=[("adapter", None)])])
    director = make_director(store)
    routed = director.route_now(chat("llama"))
    routed.response_started(200, {"content-type": "application/json"}, "127.0.0.11:8000")
    body = json.dumps(COMPLETION).encode()
    out = routed.response_chunk(body[:20], False) + routed.response_chunk(body[20:], True)
    assert json.loads(out)["model"] == "llama"
    assert (routed.prompt_tokens, routed.completion_tokens, routed.cached_tokens) == (12, 4, 8)
    assert routed.response_bytes == len(body)
    assert routed.served_by == "127.0.0.11:8000"


def test_director_streaming_response_restores_every_chunk() -> None:
    store = make_store(models=[model("llama", targets=[("adapter", None)])])
    director = make_director(store)
    routed = director.route_now(chat("llama", stream=True))
    routed.response_started(200, {"content-type": "text/event-stream"}, None)
    assert routed.streaming
    stream = sse(
        chunk_obj("a"), chunk_obj("b"), chunk_obj("", {"prompt_tokens": 7, "completion_tokens": 2})
    )
    pieces = [stream[i : i + 13] for i in range(0, len(stream), 13)]
    out = b"".join(routed.response_chunk(p, i == len(pieces) - 1) for i, p in enumerate(pieces))
    assert b"adapter" not in out
    assert out.count(b'"model": "llama"') == 3
    assert (routed.prompt_tokens, routed.completion_tokens) == (7, 2)


def test_no_rewrite_means_chunks_pass_through_unchanged() -> None:
    director = make_director(make_store(models=[model("llama")]))
    routed = director.route_now(chat("llama"))
    routed.response_started(200, {}, None)
    chunk = b'{"model":"llama","x":1}'
    assert routed.response_chunk(chunk, True) is chunk


def test_usage_accounting_can_be_disabled() -> None:
    director = make_director(
        make_store(models=[model("llama")]), settings=DirectorSettings(account_usage=False)
    )
    routed = director.route_now(chat("llama"))
    routed.response_started(200, {}, None)
    routed.response_chunk(json.dumps(COMPLETION).encode(), True)
    assert routed.prompt_tokens is None


def test_response_started_returns_extra_headers() -> None:
    director = make_director(make_store(models=[model("llama")]))
    routed = director.route_now(chat("llama", headers={"x-gateway-debug": "true"}))
    headers = routed.response_started(200, {}, None)
    assert "x-gateway-debug" in headers


# --- finish and in-flight ----------------------------------------------------------------


def test_finish_releases_exactly_once() -> None:
    store = make_store(pods=1, models=[model("llama")])
    director = make_director(store)
    first = director.route_now(chat("llama"))
    second = director.route_now(chat("llama"))
    assert store.in_flight("127.0.0.11:8000") == 2
    first.finish()
    first.finish()
    first.finish(error="ClientDisconnected")
    assert store.in_flight("127.0.0.11:8000") == 1
    second.finish(error="ModelServerError")
    assert store.in_flight("127.0.0.11:8000") == 0


def test_in_flight_follows_a_retry_to_the_served_endpoint() -> None:
    store = make_store(models=[model("llama")])
    director = make_director(store)
    routed = director.route_now(chat("llama"))
    assert routed.endpoints[0] == "127.0.0.11:8000"
    routed.response_started(200, {}, "127.0.0.12:8000")
    assert (store.in_flight("127.0.0.11:8000"), store.in_flight("127.0.0.12:8000")) == (0, 1)
    routed.finish()
    assert store.in_flight("127.0.0.12:8000") == 0


def test_errors_acquire_nothing() -> None:
    store = make_store(models=[model("llama")])
    director = make_director(store)
    for request in (chat("nope"), chat("llama", subset=[])):
        with pytest.raises(Exception):  # noqa: B017 - any GatewayError
            director.route_now(request)
    assert store.in_flight("127.0.0.11:8000") == store.in_flight("127.0.0.12:8000") == 0


def test_finish_reads_usage_when_no_end_of_stream_chunk_came() -> None:
    director = make_director(make_store(models=[model("llama")]))
    routed = director.route_now(chat("llama"))
    routed.response_started(200, {"content-type": "application/json"}, None)
    routed.response_chunk(json.dumps(COMPLETION).encode(), False)
    assert routed.prompt_tokens is None
    routed.finish()
    assert tokens_of(routed) == (12, 4)


def tokens_of(routed: Routed) -> tuple[int | None, int | None]:
    """Read after a call that sets them (mypy keeps an earlier ``is None`` narrowing)."""
    return routed.prompt_tokens, routed.completion_tokens
