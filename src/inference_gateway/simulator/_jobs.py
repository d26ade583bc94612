"""Submitting a request's choices to the engine and waiting on them (shared by the
completions, chat, embeddings and responses endpoints).

One engine request per prompt and choice; all are submitted or none (a refusal midway
aborts the ones already in). ``changed`` waits for news from any unfinished ticket.
"""

from __future__ import annotations

import asyncio

from inference_gateway.simulator._bodies import Job
from inference_gateway.simulator._choices import cap_for, plan
from inference_gateway.simulator._request import Parsed
from inference_gateway.simulator.engine import Engine
from inference_gateway.simulator.realtime import RealtimeEngine
from inference_gateway.simulator.records import EngineError, SimRequest, UnknownModelError
from inference_gateway.simulator.tokens import block_keys


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


async def changed(jobs: list[Job]) -> None:
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
