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
from inference_gateway.simulator._jobs import changed, submit
from inference_gateway.simulator._request import BadRequest, Kind, Parsed, parse
from inference_gateway.simulator.realtime import RealtimeEngine
from inference_gateway.simulator.records import EngineError

__all__ = ["BadRequest", "Kind", "Parsed", "error_response", "handle", "parse"]


def error_response(
    status: int, message: str, kind: str | None = None, param: str | None = None
) -> web.Response:
    """vLLM's error body: {"error": {"message", "type", "param", "code"}}."""
    return web.json_response(error_payload(status, message, param=param, kind=kind), status=status)


class PodDied(Exception):
    """A stream reached its ``die_after`` token count (the failure-test knob)."""


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
        await changed(jobs)


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
            await changed(jobs)
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
