"""What the semantic cache keeps of a response, and how it serves it again.

A response is kept as one ``CachedAnswer``: the generated text, its finish reason and
usage, and (for a non-streamed origin) the full JSON body. Either origin can then answer
either kind of request: a JSON body, or a valid OpenAI chunk stream (role and text in one
chunk, the finish reason in the next, a usage chunk when ``stream_options.include_usage``
asks for it, then ``data: [DONE]``). A hit always names the model the client asked for
and carries a fresh ``id`` and ``created``.

Only a clean, complete, single-choice text answer is kept: status 200, no ``error`` object,
a finish reason present, no tool or function calls, and for a stream the ``[DONE]``
sentinel seen. Anything else (errors, truncated or aborted streams) is never cached.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

TextApi = Literal["chat", "completions"]
_UNCACHEABLE_FINISH = frozenset({"tool_calls", "function_call", "content_filter"})


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    api: TextApi
    content: str
    finish_reason: str
    usage: Mapping[str, Any] | None = None
    body: Mapping[str, Any] | None = None
    """The original JSON response when it was not streamed."""


def _choice_text(api: TextApi, choice: Mapping[str, Any], key: str) -> str | None:
    if api == "completions":
        text = choice.get("text")
        return text if isinstance(text, str) else None
    part = choice.get(key)
    if not isinstance(part, dict) or part.get("tool_calls") or part.get("function_call"):
        return None
    content = part.get("content")
    if content is None and key == "delta":
        return ""
    return content if isinstance(content, str) else None


def _finish(choice: Mapping[str, Any]) -> str | None:
    reason = choice.get("finish_reason")
    if isinstance(reason, str) and reason and reason not in _UNCACHEABLE_FINISH:
        return reason
    return None


def from_json(api: TextApi, raw: bytes) -> CachedAnswer | None:
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or "error" in data:
        return None
    choices = data.get("choices")
    if not isinstance(choices, list) or len(choices) != 1 or not isinstance(choices[0], dict):
        return None
    text = _choice_text(api, choices[0], "message")
    reason = _finish(choices[0])
    if text is None or reason is None:
        return None
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else None
    return CachedAnswer(api, text, reason, usage, data)


def from_sse(api: TextApi, raw: bytes) -> CachedAnswer | None:
    parts: list[str] = []
    reason: str | None = None
    usage: Mapping[str, Any] | None = None
    done = False
    for line in raw.decode("utf-8", "replace").splitlines():
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if payload == "[DONE]":
            done = True
            continue
        try:
            event = json.loads(payload)
        except (ValueError, RecursionError):
            return None
        if not isinstance(event, dict) or "error" in event:
            return None
        if isinstance(event.get("usage"), dict):
            usage = event["usage"]
        for choice in event.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                return None
            text = _choice_text(api, choice, "delta")
            if text is None:
                return None
            parts.append(text)
            if choice.get("finish_reason") is not None:
                reason = _finish(choice)
                if reason is None:
                    return None
    if not done or reason is None:
        return None
    return CachedAnswer(api, "".join(parts), reason, usage)


def _ids(api: TextApi) -> str:
    return ("chatcmpl-" if api == "chat" else "cmpl-") + uuid.uuid4().hex


def as_json(answer: CachedAnswer, model: str, created: int) -> bytes:
    if answer.body is not None:
        body = copy.deepcopy(dict(answer.body))
        body.update(id=_ids(answer.api), created=created, model=model)
    else:
        if answer.api == "chat":
            choice: dict[str, Any] = {
                "index": 0,
                "message": {"role": "assistant", "content": answer.content},
                "logprobs": None,
                "finish_reason": answer.finish_reason,
            }
            kind = "chat.completion"
        else:
            choice = {
                "index": 0,
                "text": answer.content,
                "logprobs": None,
                "finish_reason": answer.finish_reason,
            }
            kind = "text_completion"
        body = {"id": _ids(answer.api), "object": kind, "created": created, "model": model}
        body["choices"] = [choice]
        if answer.usage is not None:
            body["usage"] = dict(answer.usage)
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def as_sse(answer: CachedAnswer, model: str, created: int, *, include_usage: bool) -> bytes:
    chat = answer.api == "chat"
    head: dict[str, Any] = {
        "id": _ids(answer.api),
        "object": "chat.completion.chunk" if chat else "text_completion",
        "created": created,
        "model": model,
    }

    def choice(text: str | None, reason: str | None) -> dict[str, Any]:
        if chat:
            delta = {} if text is None else {"role": "assistant", "content": text}
            return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}
        return {"index": 0, "text": text or "", "logprobs": None, "finish_reason": reason}

    events: list[dict[str, Any]] = [
        {**head, "choices": [choice(answer.content, None)]},
        {**head, "choices": [choice(None, answer.finish_reason)]},
    ]
    if include_usage and answer.usage is not None:
        events.append({**head, "choices": [], "usage": dict(answer.usage)})
    out = [f"data: {json.dumps(e, separators=(',', ':'), ensure_ascii=False)}\n\n" for e in events]
    out.append("data: [DONE]\n\n")
    return "".join(out).encode("utf-8")
