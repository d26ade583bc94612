"""Reading the OpenAI request body: which API, which model, streaming, and the prompt.

The body is decoded exactly once with ``json.loads``; every later step works on that dict.
The API kind comes from the ``:path`` suffix (query string ignored), as upstream's
``openai-parser`` does. The OpenAI endpoints that carry a ``model`` are all routed by it:
chat completions must carry a non-empty ``messages`` list, completions a non-empty
``prompt`` (a string, strings, or token ids); embeddings (``input``) and responses
(``input``, ``instructions``) are validated by the model server, which knows its own
rules. Any other path with a ``model`` is routed on ``model`` alone. The prompt text is
what the prefix-cache scorer hashes: the prompt itself for completions, the compact JSON
of the messages for chat, the input (strings joined, else its compact JSON) for
embeddings, and instructions plus input for responses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from inference_gateway.requestcontrol.errors import bad_request

ApiKind = Literal["chat", "completions", "embeddings", "responses", "other"]

_COMPACT = (",", ":")
# Prebuilt: ``json.dumps`` with options builds a new encoder on every call.
_UNICODE = json.JSONEncoder(separators=_COMPACT, ensure_ascii=False)
_ASCII = json.JSONEncoder(separators=_COMPACT)


@dataclass(frozen=True, slots=True)
class ParsedBody:
    data: dict[str, Any]
    model: str
    api: ApiKind
    streaming: bool
    prompt: str


def api_kind(path: str) -> ApiKind:
    path = path.split("?", 1)[0].rstrip("/")
    if path.endswith("/chat/completions"):
        return "chat"
    if path.endswith("/completions"):
        return "completions"
    if path.endswith("/embeddings"):
        return "embeddings"
    if path.endswith("/responses"):
        return "responses"
    return "other"


def parse_body(path: str, body: bytes) -> ParsedBody:
    """Decode and validate ``body``; raise a 400 ``GatewayError`` when it is unusable."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as e:
        raise bad_request("request body is not valid JSON", code="invalid_json") from e
    if not isinstance(data, dict):
        raise bad_request("request body must be a JSON object", code="invalid_json")
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("model not found in request body", code="missing_model", param="model")
    api = api_kind(path)
    if api == "chat":
        prompt = _chat_prompt(data)
    elif api == "completions":
        prompt = _completion_prompt(data)
    elif api == "embeddings":
        prompt = _input_text(data.get("input"))
    elif api == "responses":
        instructions = data.get("instructions")
        prefix = instructions if isinstance(instructions, str) else ""
        prompt = prefix + _input_text(data.get("input"))
    else:
        prompt = ""
    return ParsedBody(data, model, api, data.get("stream") is True, prompt)


def _chat_prompt(data: dict[str, Any]) -> str:
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad_request("chat completions need a non-empty `messages` list", param="messages")
    return _UNICODE.encode(messages)


def _completion_prompt(data: dict[str, Any]) -> str:
    prompt = data.get("prompt")
    if isinstance(prompt, str) and prompt:
        return prompt
    if isinstance(prompt, list) and prompt:
        if all(isinstance(p, str) for p in prompt):
            return "".join(prompt)
        if all(_is_token_ids(p) for p in prompt) or all(_is_token(p) for p in prompt):
            return _ASCII.encode(prompt)
    raise bad_request(
        "completions need a non-empty `prompt`: a string, a list of strings or token ids",
        param="prompt",
    )


def _input_text(value: object) -> str:
    """An ``input`` as prefix-scorer text; what the server refuses is its to refuse."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(p, str) for p in value):
        return "".join(value)
    if value is None:
        return ""
    try:
        return _UNICODE.encode(value)
    except (TypeError, ValueError):
        return ""


def _is_token(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_token_ids(value: object) -> bool:
    return isinstance(value, list) and bool(value) and all(_is_token(t) for t in value)


def with_model(data: dict[str, Any], model: str) -> bytes:
    """The body re-serialised with ``model`` replaced (compact, UTF-8).

    Lone surrogates (legal as JSON escapes, not as UTF-8) fall back to ASCII escaping.
    """
    out = {**data, "model": model}
    try:
        return _UNICODE.encode(out).encode("utf-8")
    except UnicodeEncodeError:
        return _ASCII.encode(out).encode("ascii")
