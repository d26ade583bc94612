"""Builders shared by the extension tests."""

from __future__ import annotations

import json
from typing import Any

from inference_gateway.requestcontrol.body import parse_body
from inference_gateway.requestcontrol.extensions import ExtensionChain, RequestExtensions
from inference_gateway.requestcontrol.types import IncomingRequest


def chat_body(text: str, *, model: str = "m", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


def incoming(
    body: dict[str, Any], *, path: str = "/v1/chat/completions", **headers: str
) -> IncomingRequest:
    hdrs = {":path": path, ":method": "POST", **headers}
    return IncomingRequest(headers=hdrs, body=json.dumps(body).encode())


def begin(chain: ExtensionChain, body: dict[str, Any], **kw: Any) -> RequestExtensions:
    """The request-side runner as the director starts it: over the body it parsed once."""
    request = incoming(body, **kw)
    ext = chain.begin(request.headers, parse_body(request.path, request.body))
    assert ext is not None
    return ext


def routed(model: str = "m", target: str | None = None) -> tuple[str, str]:
    """``after_route``'s arguments for a request routed to the first loopback pod."""
    return target or model, "127.0.0.11:8000"


def chat_response(content: str, *, model: str = "m", finish: str = "stop") -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": finish,
                }
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
        }
    ).encode()


def chat_stream(parts: list[str], *, model: str = "m", done: bool = True) -> list[bytes]:
    chunks = []
    for i, part in enumerate(parts):
        delta = {"role": "assistant", "content": part} if i == 0 else {"content": part}
        event = {
            "id": "c",
            "object": "chat.completion.chunk",
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
        }
        chunks.append(f"data: {json.dumps(event)}\n\n".encode())
    last = {
        "id": "c",
        "model": model,
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
    }
    chunks.append(f"data: {json.dumps(last)}\n\n".encode())
    if done:
        chunks.append(b"data: [DONE]\n\n")
    return chunks
