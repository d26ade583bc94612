"""``POST /v1/responses`` (OpenAI's Responses API as vLLM serves it), text in, text out.

``input`` is a string or a list of messages (``content`` a string or ``input_text`` parts),
``instructions`` a system prompt, ``max_output_tokens`` the cap. The prompt is the chat
prompt of those messages (template tokens included); generation reuses the chat path's
engine requests and choice plans. Streaming sends the Responses event sequence
(``response.created`` ... ``response.output_text.delta`` per token ... ``response.completed``),
each as ``event: <type>`` plus ``data: <json>`` with a ``sequence_number``.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

from aiohttp import web

from inference_gateway.simulator._bodies import Job
from inference_gateway.simulator._choices import pieces
from inference_gateway.simulator._jobs import changed, submit
from inference_gateway.simulator._request import SCHEMA, BadRequest, Parsed, Prompt, Sampling
from inference_gateway.simulator.openai import error_response, read_json
from inference_gateway.simulator.realtime import RealtimeEngine
from inference_gateway.simulator.records import EngineError
from inference_gateway.simulator.tokens import chat_prompt_tokens, chat_text


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    raw = body.get("input")
    messages: list[dict[str, Any]] = []
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        messages.append({"role": "system", "content": instructions})
    if isinstance(raw, str) and raw:
        return [*messages, {"role": "user", "content": raw}]
    if isinstance(raw, list) and raw and all(isinstance(m, dict) for m in raw):
        for item in raw:
            content = item.get("content")
            if isinstance(content, list):
                text = [p.get("text", "") for p in content if isinstance(p, dict)]
                content = "\n".join(str(t) for t in text)
            messages.append({"role": item.get("role", "user"), "content": content or ""})
        return messages
    raise BadRequest("input: Field required (a string or a list of messages)", "input", SCHEMA)


def parse_responses(body: Any) -> Parsed:
    if not isinstance(body, dict):
        raise BadRequest("Input should be a valid dictionary or object", "body", SCHEMA)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("model: Field required", "model", SCHEMA)
    messages = _messages(body)
    cap = body.get("max_output_tokens")
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
        raise BadRequest("max_output_tokens must be a positive integer", "max_output_tokens")
    stream = body.get("stream") or False
    if not isinstance(stream, bool):
        raise BadRequest("stream: Input should be a valid boolean", "stream", SCHEMA)
    text = chat_text(messages)
    prompt = Prompt(text, chat_prompt_tokens(messages, text))
    return Parsed("chat", model, (prompt,), Sampling(max_tokens=cap), stream, False, False)


def _response(p: Parsed, job: Job, rid: str, created: int, *, done: bool) -> dict[str, Any]:
    rec = job.ticket.record
    text = job.plan.text if done else ""
    message = {
        "type": "message",
        "id": "msg_" + rid[5:],
        "status": "completed" if done else "in_progress",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}] if done else [],
    }
    incomplete = done and job.plan.finish_reason == "length"
    return {
        "id": rid,
        "object": "response",
        "created_at": created,
        "model": p.model,
        "status": ("incomplete" if incomplete else "completed") if done else "in_progress",
        "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
        "output": [message] if done else [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "max_output_tokens": p.sampling.max_tokens,
        "usage": {
            "input_tokens": rec.prompt_tokens,
            "input_tokens_details": {"cached_tokens": rec.cached_tokens},
            "output_tokens": rec.output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": rec.prompt_tokens + rec.output_tokens,
        }
        if done
        else None,
    }


async def handle_responses(request: web.Request, rt: RealtimeEngine) -> web.StreamResponse:
    try:
        parsed = parse_responses(await read_json(request))
        if rt.engine.config.task != "generate":
            raise BadRequest("The model does not support Responses API")
        rid = "resp_" + uuid.uuid4().hex
        jobs = submit(parsed, rt, rid)
    except BadRequest as e:
        return error_response(400, str(e), e.kind, e.param)
    except EngineError as e:
        return error_response(e.status, str(e), e.kind)
    job, created = jobs[0], int(time.time())
    try:
        if parsed.stream:
            return await _stream(request, parsed, job, rid, created)
        while not job.ticket.done:
            await changed(jobs)
    except (asyncio.CancelledError, ConnectionResetError):
        rt.abort(job.request_id)
        raise
    return web.json_response(_response(parsed, job, rid, created, done=True))


async def _stream(
    request: web.Request, p: Parsed, job: Job, rid: str, created: int
) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    seq = 0
    item_id = "msg_" + rid[5:]
    where = {"item_id": item_id, "output_index": 0, "content_index": 0}

    def event(kind: str, **fields: Any) -> bytes:
        nonlocal seq
        data = {"type": kind, "sequence_number": seq, **fields}
        seq += 1
        return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()

    opening = _response(p, job, rid, created, done=False)
    item = {"type": "message", "id": item_id, "status": "in_progress", "role": "assistant"}
    part = {"type": "output_text", "text": "", "annotations": []}
    await resp.write(
        event("response.created", response=opening)
        + event("response.in_progress", response=opening)
        + event("response.output_item.added", output_index=0, item={**item, "content": []})
        + event("response.content_part.added", **where, part=part)
    )
    while True:
        upto, done = job.ticket.tokens, job.ticket.done
        texts, job.offset = pieces(job.plan, job.sent, upto, job.offset)
        job.sent = upto
        frames = [event("response.output_text.delta", **where, delta=t, logprobs=[]) for t in texts]
        if done:
            final = _response(p, job, rid, created, done=True)
            text = job.plan.text
            frames += [
                event("response.output_text.done", **where, text=text, logprobs=[]),
                event("response.content_part.done", **where, part={**part, "text": text}),
                event("response.output_item.done", output_index=0, item=final["output"][0]),
                event(f"response.{final['status']}", response=final),
            ]
        if frames:
            await resp.write(b"".join(frames))
        if done:
            await resp.write_eof()
            return resp
        await changed([job])
