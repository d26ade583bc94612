"""Capturing responses for the cache and serving them again as JSON or SSE."""

from __future__ import annotations

import json

import pytest

from inference_gateway.requestcontrol.extensions.semantic_cache import answers
from tests.unit.extensions.helpers import chat_response, chat_stream


def events(raw: bytes) -> list[object]:
    out: list[object] = []
    for block in raw.decode().split("\n\n"):
        if block:
            assert block.startswith("data: ")
            payload = block[6:]
            out.append(payload if payload == "[DONE]" else json.loads(payload))
    return out


def test_json_answer_round_trips_with_new_model_and_id() -> None:
    cached = answers.from_json("chat", chat_response("Knead, rise, bake.", model="target"))
    assert cached is not None and cached.content == "Knead, rise, bake."
    body = json.loads(answers.as_json(cached, "asked", 1234))
    assert body["model"] == "asked" and body["created"] == 1234
    assert body["id"].startswith("chatcmpl-") and body["id"] != "chatcmpl-1"
    assert body["choices"][0]["message"]["content"] == "Knead, rise, bake."
    assert body["usage"]["completion_tokens"] == 3


def test_stream_answer_is_assembled_and_served_as_json_or_sse() -> None:
    raw = b"".join(chat_stream(["Knead, ", "rise, ", "bake."]))
    cached = answers.from_sse("chat", raw)
    assert cached is not None
    assert (cached.content, cached.finish_reason, cached.body) == (
        "Knead, rise, bake.",
        "stop",
        None,
    )
    body = json.loads(answers.as_json(cached, "asked", 1))
    assert body["object"] == "chat.completion"
    assert body["choices"][0] == {
        "index": 0,
        "message": {"role": "assistant", "content": "Knead, rise, bake."},
        "logprobs": None,
        "finish_reason": "stop",
    }
    sse = answers.as_sse(cached, "asked", 1, include_usage=False)
    evs = events(sse)
    assert evs[-1] == "[DONE]"
    assert all(e["object"] == "chat.completion.chunk" and e["model"] == "asked" for e in evs[:-1])  # type: ignore[index]
    again = answers.from_sse("chat", sse)
    assert again is not None and again.content == cached.content


def test_completions_sse_with_usage_chunk() -> None:
    cached = answers.CachedAnswer("completions", "42", "length", {"prompt_tokens": 1})
    evs = events(answers.as_sse(cached, "m", 1, include_usage=True))
    assert evs[0]["choices"][0]["text"] == "42"  # type: ignore[index]
    assert evs[1]["choices"][0]["finish_reason"] == "length"  # type: ignore[index]
    assert evs[2]["choices"] == [] and evs[2]["usage"] == {"prompt_tokens": 1}  # type: ignore[index]
    assert evs[3] == "[DONE]"


@pytest.mark.parametrize(
    "raw",
    [
        b'{"error": {"message": "boom", "type": "server_error"}}',
        b"not json",
        b'{"choices": []}',
        chat_response("x", finish="tool_calls"),
        json.dumps(
            {
                "choices": [
                    {"message": {"content": None, "tool_calls": [{}]}, "finish_reason": "stop"}
                ]
            }
        ).encode(),
        json.dumps({"choices": [{"message": {"content": "a"}, "finish_reason": None}]}).encode(),
    ],
)
def test_unusable_json_is_not_cached(raw: bytes) -> None:
    assert answers.from_json("chat", raw) is None


@pytest.mark.parametrize(
    "raw",
    [
        b"".join(chat_stream(["a", "b"], done=False)),  # truncated: no [DONE]
        b"".join(chat_stream(["a"])[:1]) + b"data: [DONE]\n\n",  # no finish reason
        b'data: {"error": {"message": "overloaded"}}\n\ndata: [DONE]\n\n',
        b"data: {broken\n\ndata: [DONE]\n\n",
    ],
)
def test_unusable_streams_are_not_cached(raw: bytes) -> None:
    assert answers.from_sse("chat", raw) is None
