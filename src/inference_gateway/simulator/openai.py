"""The OpenAI completions and chat endpoints, shaped like vLLM's (research/sim-bench.md 2.4).

Output length: exactly ``max_tokens`` when ``ignore_eos`` is set; otherwise a simulated EOS
at ``1 + xxh64(prompt, seed) % max_tokens`` (deterministic per prompt text). Without
``max_tokens`` the cap is ``DEFAULT_MAX_TOKENS`` (or what is left of the context), a stand-in
for vLLM's "until max_model_len", which would make simulated answers absurdly long.
Output text is synthetic, one word per token.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import xxhash
from aiohttp import web

from inference_gateway.simulator.engine import Engine
from inference_gateway.simulator.realtime import RealtimeEngine, Ticket
from inference_gateway.simulator.records import EngineError, SimRequest, UnknownModelError
from inference_gateway.simulator.tokens import (
    CHARS_PER_TOKEN,
    block_keys,
    chat_text,
    count_tokens,
    synthetic_token,
)

DEFAULT_MAX_TOKENS = 128
_ERROR_TYPES = {400: "BadRequestError", 404: "NotFoundError", 429: "RateLimitError"}

Kind = Literal["chat", "completion"]


def error_response(
    status: int, message: str, kind: str | None = None, param: str | None = None
) -> web.Response:
    """vLLM's error body: {"error": {"message", "type", "param", "code"}}."""
    err_type = kind or _ERROR_TYPES.get(status, "InternalServerError")
    body = {"error": {"message": message, "type": err_type, "param": param, "code": status}}
    return web.json_response(body, status=status)


class BadRequest(Exception):
    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True, slots=True)
class Parsed:
    kind: Kind
    model: str
    text: str
    prompt_tokens: int
    max_tokens: int | None
    ignore_eos: bool
    stream: bool
    include_usage: bool


def parse(kind: Kind, body: Any) -> Parsed:
    """Validate a request body the way vLLM's pydantic models would (the parts we use)."""
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("Field required: 'model'", "model")
    if kind == "chat":
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise BadRequest("Field required: 'messages' (a non-empty list)", "messages")
        if not all(isinstance(m, dict) for m in messages):
            raise BadRequest("each message must be an object", "messages")
        text = chat_text(messages)
        tokens = count_tokens(text)
    else:
        text, tokens = _prompt(body.get("prompt"))
    max_tokens = body.get("max_completion_tokens") if kind == "chat" else None
    if max_tokens is None:
        max_tokens = body.get("max_tokens")
    if max_tokens is not None and (
        not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1
    ):
        raise BadRequest("max_tokens must be a positive integer", "max_tokens")
    stream = body.get("stream", False)
    options = body.get("stream_options") or {}
    if not isinstance(stream, bool) or not isinstance(options, dict):
        raise BadRequest("stream must be a boolean and stream_options an object", "stream")
    return Parsed(
        kind,
        model,
        text,
        tokens,
        max_tokens,
        bool(body.get("ignore_eos", False)),
        stream,
        bool(options.get("include_usage", False)),
    )


def _prompt(prompt: Any) -> tuple[str, int]:
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str | list):
        prompt = prompt[0]
    if isinstance(prompt, str):
        return prompt, count_tokens(prompt)
    if isinstance(prompt, list) and prompt and all(type(t) is int for t in prompt):
        # token ids: 4 characters of stand-in text per id, so block keys still line up
        return "".join(f"{t:04x}"[-CHARS_PER_TOKEN:] for t in prompt), len(prompt)
    raise BadRequest("Field required: 'prompt' (a string or a list of token ids)", "prompt")


def to_sim_request(p: Parsed, engine: Engine, request_id: str) -> SimRequest:
    cfg = engine.config
    if p.model == cfg.model:
        adapter = None
    elif p.model in engine.adapters:
        adapter = p.model
    else:
        raise UnknownModelError(f"The model `{p.model}` does not exist.")
    room = cfg.max_model_len - p.prompt_tokens
    if room < 1:
        raise EngineError(
            f"This model's maximum context length is {cfg.max_model_len} tokens. However, "
            f"your request has {p.prompt_tokens} input tokens. Please reduce the length."
        )
    if p.max_tokens is not None and p.max_tokens > room:
        raise EngineError(
            f"This model's maximum context length is {cfg.max_model_len} tokens. However, you "
            f"requested {p.prompt_tokens + p.max_tokens} tokens ({p.prompt_tokens} in the "
            f"messages, {p.max_tokens} in the completion). Please reduce the length."
        )
    cap = p.max_tokens if p.max_tokens is not None else min(DEFAULT_MAX_TOKENS, room)
    out = cap if p.ignore_eos else 1 + xxhash.xxh64_intdigest(p.text.encode(), cfg.seed) % cap
    keys = block_keys(p.text, cfg.block_size)
    return SimRequest(request_id, p.prompt_tokens, out, keys, adapter, cap)


def usage(ticket: Ticket) -> dict[str, Any]:
    rec = ticket.record
    return {
        "prompt_tokens": rec.prompt_tokens,
        "total_tokens": rec.prompt_tokens + rec.output_tokens,
        "completion_tokens": rec.output_tokens,
        "prompt_tokens_details": {"cached_tokens": rec.cached_tokens},
    }


def _text(start: int, stop: int) -> str:
    return "".join(synthetic_token(i) for i in range(start, stop))


def complete_body(p: Parsed, ticket: Ticket, rid: str, created: int) -> dict[str, Any]:
    rec = ticket.record
    text = _text(0, rec.output_tokens)
    choice: dict[str, Any] = {"index": 0, "logprobs": None, "finish_reason": rec.finish_reason}
    if p.kind == "chat":
        choice["message"] = {"role": "assistant", "content": text, "tool_calls": []}
        obj = "chat.completion"
    else:
        choice["text"] = text
        obj = "text_completion"
    choice["stop_reason"] = None
    return {
        "id": rid,
        "object": obj,
        "created": created,
        "model": p.model,
        "choices": [choice],
        "usage": usage(ticket),
    }


class PodDied(Exception):
    """A stream reached its ``die_after`` token count (the failure-test knob)."""


async def stream(
    request: web.Request,
    p: Parsed,
    ticket: Ticket,
    rid: str,
    created: int,
    *,
    die_after: int | None = None,
) -> web.StreamResponse:
    """SSE: one chunk per token as the engine makes them, usage chunk, then [DONE].

    With ``die_after`` the stream raises ``PodDied`` once that many tokens are sent.
    """
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    resp.headers["Cache-Control"] = "no-cache"
    await resp.prepare(request)
    obj = "chat.completion.chunk" if p.kind == "chat" else "text_completion"
    head = {"id": rid, "object": obj, "created": created, "model": p.model}
    sent = 0
    while True:
        await ticket.changed.wait()
        ticket.changed.clear()
        upto, done = ticket.tokens, ticket.done
        if die_after is not None and upto >= die_after:
            upto, done = die_after, False
        frames: list[bytes] = []
        for i in range(sent, upto):
            last = done and i == upto - 1
            reason = ticket.record.finish_reason if last else None
            if p.kind == "chat":
                delta: dict[str, Any] = {"content": synthetic_token(i)}
                if i == 0:
                    delta["role"] = "assistant"
                choice: dict[str, Any] = {"index": 0, "delta": delta}
            else:
                choice = {"index": 0, "text": synthetic_token(i)}
            choice.update(logprobs=None, finish_reason=reason, stop_reason=None)
            frames.append(_sse({**head, "choices": [choice]}))
        sent = upto
        if done:
            if p.include_usage:
                frames.append(_sse({**head, "choices": [], "usage": usage(ticket)}))
            frames.append(b"data: [DONE]\n\n")
        if frames:
            await resp.write(b"".join(frames))
        if die_after is not None and sent >= die_after:
            raise PodDied
        if done:
            await resp.write_eof()
            return resp


def _sse(obj: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


async def handle(
    request: web.Request, kind: Kind, rt: RealtimeEngine, *, die_after: int | None = None
) -> web.StreamResponse:
    """The whole request: parse, admit (or refuse as vLLM would), answer.

    ``die_after`` (a test knob) makes the pod drop the connection like a crashed server:
    after that many streamed tokens, or instead of a non-streamed answer.
    """
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return error_response(400, "Invalid JSON in request body")
    try:
        parsed = parse(kind, body)
        rid = ("chatcmpl-" if kind == "chat" else "cmpl-") + uuid.uuid4().hex
        ticket = rt.submit(to_sim_request(parsed, rt.engine, rid), streaming=parsed.stream)
    except BadRequest as e:
        return error_response(400, str(e), param=e.param)
    except EngineError as e:
        return error_response(e.status, str(e), e.kind)
    created = int(time.time())
    try:
        if parsed.stream:
            return await stream(request, parsed, ticket, rid, created, die_after=die_after)
        while not ticket.done:
            await ticket.changed.wait()
            ticket.changed.clear()
        if die_after is not None:
            raise PodDied
    except PodDied:
        # Like a crashed process: what was written still goes out, then the socket closes.
        rt.abort(rid)
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=500)
    except asyncio.CancelledError:
        rt.abort(rid)
        raise
    except ConnectionResetError:  # the client went away mid-stream
        rt.abort(rid)
        return web.Response(status=499)
    return web.json_response(complete_body(parsed, ticket, rid, created))
