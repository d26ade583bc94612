"""The OpenAI completions and chat endpoints, shaped like vLLM's (research/sim-bench.md 2.4).

Parsing and validation are in ``_request`` (400s where vLLM answers 400), what each choice
says in ``_choices`` (length, EOS, stop strings and token ids, logprobs), the body and
chunk shapes in ``_bodies``. Here: submit one engine request per prompt and choice, then
answer whole or as server-sent events, one chunk per token as the engine makes them
(chat opens each choice with vLLM's role-only chunk), an optional usage chunk
(``stream_options.include_usage``; ``continuous_usage_stats`` puts usage on every chunk),
then ``[DONE]``. Errors are vLLM's ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

from aiohttp import web

from inference_gateway.requestcontrol.errors import error_payload
from inference_gateway.simulator._bodies import (
    Job,
    chunk_head,
    complete_body,
    role_chunk,
    token_choices,
    usage,
    usage_so_far,
)
from inference_gateway.simulator._choices import cap_for, plan
from inference_gateway.simulator._request import BadRequest, Kind, Parsed, parse
from inference_gateway.simulator.engine import Engine
from inference_gateway.simulator.realtime import RealtimeEngine
from inference_gateway.simulator.records import EngineError, SimRequest, UnknownModelError
from inference_gateway.simulator.tokens import block_keys

__all__ = ["BadRequest", "Kind", "Parsed", "error_response", "handle", "parse"]


def error_response(
    status: int, message: str, kind: str | None = None, param: str | None = None
) -> web.Response:
    """vLLM's error body: {"error": {"message", "type", "param", "code"}}."""
    return web.json_response(error_payload(status, message, param=param, kind=kind), status=status)


def adapter_for(model: str, engine: Engine) -> str | None:
    if model == engine.config.model:
        return None
    if model in engine.adapters:
        return model
    raise UnknownModelError(f"The model `{model}` does not exist.")


def check_length(prompt_tokens: int, max_tokens: int | None, max_model_len: int) -> int:
    """Room left for output; raises vLLM's context-length 400s."""
    room = max_model_len - prompt_tokens
    if room < 1:
        raise EngineError(
            f"This model's maximum context length is {max_model_len} tokens. However, "
            f"your request has {prompt_tokens} input tokens. Please reduce the length."
        )
    if max_tokens is not None and max_tokens > room:
        raise EngineError(
            f"This model's maximum context length is {max_model_len} tokens. However, you "
            f"requested {prompt_tokens + max_tokens} tokens ({prompt_tokens} in the "
            f"messages, {max_tokens} in the completion). Please reduce the length."
        )
    return room


def submit(p: Parsed, rt: RealtimeEngine, rid: str) -> list[Job]:
    """One engine request per prompt and choice; all or none are submitted."""
    engine, cfg = rt.engine, rt.engine.config
    adapter = adapter_for(p.model, engine)
    jobs: list[Job] = []
    try:
        for pi, prompt in enumerate(p.prompts):
            room = check_length(prompt.tokens, p.sampling.max_tokens, cfg.max_model_len)
            cap = cap_for(p.sampling, room)
            keys = block_keys(prompt.text, cfg.block_size)
            for ci in range(p.sampling.n):
                what = plan(prompt.text, ci, cap, p.sampling, cfg.seed)
                index = pi * p.sampling.n + ci
                sub = rid if index == 0 else f"{rid}-{index}"
                req = SimRequest(sub, prompt.tokens, what.tokens, keys, adapter, cap)
                ticket = rt.submit(req, streaming=p.stream)
                jobs.append(Job(index, what, ticket, prompt.tokens, ci == 0))
    except EngineError:
        for job in jobs:
            rt.abort(job.request_id)
        raise
    return jobs


class PodDied(Exception):
    """A stream reached its ``die_after`` token count (the failure-test knob)."""


async def _changed(jobs: list[Job]) -> None:
    """Wait until some unfinished job has news (one job: no task needed).

    Callers read every ticket before waiting, so only unfinished ones can bring news.
    """
    live = [j.ticket for j in jobs if not j.ticket.done]
    if not live:
        return
    if len(live) == 1:
        await live[0].changed.wait()
        live[0].changed.clear()
        return
    waits = [asyncio.ensure_future(t.changed.wait()) for t in live]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
    for t in live:
        t.changed.clear()


async def stream(
    request: web.Request,
    p: Parsed,
    jobs: list[Job],
    rid: str,
    created: int,
    *,
    die_after: int | None = None,
) -> web.StreamResponse:
    """SSE: chunks as the engine makes tokens, usage chunk, then [DONE].

    With ``die_after`` the stream raises ``PodDied`` once that many tokens are sent.
    """
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    resp.headers["Cache-Control"] = "no-cache"
    await resp.prepare(request)
    head = chunk_head(p, rid, created)
    frames: list[bytes] = []
    total = 0
    if p.kind == "chat":
        for job in jobs:
            frames.append(_chunk(p, head, role_chunk(job), jobs, total))
    while True:
        for job in jobs:
            upto, done = job.ticket.tokens, job.ticket.done
            if die_after is not None and total + upto - job.sent > die_after:
                upto, done = job.sent + die_after - total, False
            for choice in token_choices(p, job, upto, done):
                total += 1
                frames.append(_chunk(p, head, choice, jobs, total))
        finished = all(j.ticket.done and j.sent >= j.ticket.tokens for j in jobs)
        if finished:
            if p.include_usage:
                frames.append(_sse({**head, "choices": [], "usage": usage(jobs)}))
            frames.append(b"data: [DONE]\n\n")
        if frames:
            await resp.write(b"".join(frames))
            frames = []
        if die_after is not None and total >= die_after:
            raise PodDied
        if finished:
            await resp.write_eof()
            return resp
        await _changed(jobs)


def _chunk(
    p: Parsed, head: dict[str, Any], choice: dict[str, Any], jobs: list[Job], sent: int
) -> bytes:
    body = {**head, "choices": [choice]}
    if p.continuous_usage:
        body["usage"] = usage_so_far(jobs, sent)
    return _sse(body)


def _sse(obj: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


async def read_json(request: web.Request) -> Any:
    """The body as JSON; raises ``BadRequest`` like vLLM's JSON decode error."""
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BadRequest("Invalid JSON in request body", None, "Bad Request") from e


async def handle(
    request: web.Request, kind: Kind, rt: RealtimeEngine, *, die_after: int | None = None
) -> web.StreamResponse:
    """The whole request: parse, admit (or refuse as vLLM would), answer.

    ``die_after`` (a test knob) makes the pod drop the connection like a crashed server:
    after that many streamed tokens, or instead of a non-streamed answer.
    """
    try:
        parsed = parse(kind, await read_json(request))
        if rt.engine.config.task != "generate":
            api = "Chat Completions" if kind == "chat" else "Completions"
            raise BadRequest(f"The model does not support {api} API")
        rid = ("chatcmpl-" if kind == "chat" else "cmpl-") + uuid.uuid4().hex
        jobs = submit(parsed, rt, rid)
    except BadRequest as e:
        return error_response(400, str(e), e.kind, e.param)
    except EngineError as e:
        return error_response(e.status, str(e), e.kind)
    created = int(time.time())
    try:
        if parsed.stream:
            return await stream(request, parsed, jobs, rid, created, die_after=die_after)
        while not all(j.ticket.done for j in jobs):
            await _changed(jobs)
        if die_after is not None:
            raise PodDied
    except PodDied:
        # Like a crashed process: what was written still goes out, then the socket closes.
        _abort(rt, jobs)
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=500)
    except asyncio.CancelledError:
        _abort(rt, jobs)
        raise
    except ConnectionResetError:  # the client went away mid-stream
        _abort(rt, jobs)
        return web.Response(status=499)
    return web.json_response(complete_body(parsed, jobs, rid, created))


def _abort(rt: RealtimeEngine, jobs: list[Job]) -> None:
    for job in jobs:
        rt.abort(job.request_id)
