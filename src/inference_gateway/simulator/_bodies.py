"""Response bodies and stream chunks of completions and chat, in vLLM's shapes.

A ``Job`` is one choice: its plan (``_choices``), its engine ticket and how much of it was
streamed. Choice ``index`` is ``prompt_index * n + choice_index``, as vLLM numbers a batch.
Usage counts each prompt once however many choices it has, and every choice's tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from inference_gateway.simulator._choices import (
    Plan,
    chat_logprobs,
    completion_logprobs,
    pieces,
)
from inference_gateway.simulator._request import Parsed
from inference_gateway.simulator.realtime import Ticket


@dataclass(slots=True, eq=False)
class Job:
    index: int
    plan: Plan
    ticket: Ticket
    prompt_tokens: int
    first: bool
    """The first choice of its prompt (its prompt's tokens are counted once, here)."""
    sent: int = 0
    offset: int = 0
    """Characters of visible text already streamed."""
    opened: bool = False
    """The role-only chunk went out (chat)."""

    @property
    def request_id(self) -> str:
        return self.ticket.record.request_id


def usage_so_far(jobs: list[Job], completion: int) -> dict[str, Any]:
    """``continuous_usage_stats``: the counts at one chunk (no cache details, as vLLM)."""
    prompt = sum(j.prompt_tokens for j in jobs if j.first)
    return {
        "prompt_tokens": prompt,
        "total_tokens": prompt + completion,
        "completion_tokens": completion,
    }


def usage(jobs: list[Job]) -> dict[str, Any]:
    prompt = sum(j.prompt_tokens for j in jobs if j.first)
    completion = sum(j.ticket.record.output_tokens for j in jobs)
    cached = sum(j.ticket.record.cached_tokens for j in jobs if j.first)
    return {
        "prompt_tokens": prompt,
        "total_tokens": prompt + completion,
        "completion_tokens": completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }


def _logprobs(p: Parsed, start: int, stop: int, offset: int) -> dict[str, Any] | None:
    k = p.sampling.logprobs
    if k is None:
        return None
    if p.kind == "chat":
        return chat_logprobs(start, stop, k)
    return completion_logprobs(start, stop, k, offset)


def complete_body(p: Parsed, jobs: list[Job], rid: str, created: int) -> dict[str, Any]:
    choices = []
    for job in jobs:
        tokens = job.ticket.record.output_tokens
        choice: dict[str, Any] = {"index": job.index}
        if p.kind == "chat":
            choice["message"] = {"role": "assistant", "content": job.plan.text, "tool_calls": []}
        else:
            choice["text"] = job.plan.text
        choice["logprobs"] = _logprobs(p, 0, tokens, 0)
        choice["finish_reason"] = job.plan.finish_reason
        choice["stop_reason"] = job.plan.stop_reason
        choices.append(choice)
    return {
        "id": rid,
        "object": "chat.completion" if p.kind == "chat" else "text_completion",
        "created": created,
        "model": p.model,
        "choices": choices,
        "usage": usage(jobs),
    }


def chunk_head(p: Parsed, rid: str, created: int) -> dict[str, Any]:
    obj = "chat.completion.chunk" if p.kind == "chat" else "text_completion"
    return {"id": rid, "object": obj, "created": created, "model": p.model}


def role_chunk(job: Job) -> dict[str, Any]:
    """vLLM's first chat chunk of each choice: the role alone, empty content."""
    delta = {"role": "assistant", "content": ""}
    return {"index": job.index, "delta": delta, "logprobs": None, "finish_reason": None}


def token_choices(p: Parsed, job: Job, upto: int, done: bool) -> list[dict[str, Any]]:
    """One choice entry per token ``job.sent..upto``; the last carries the finish reason."""
    start = job.sent
    texts, offset = pieces(job.plan, start, upto, job.offset)
    out: list[dict[str, Any]] = []
    text_offset = job.offset
    for i, text in enumerate(texts, start):
        last = done and i == upto - 1
        choice: dict[str, Any] = {"index": job.index}
        if p.kind == "chat":
            choice["delta"] = {"content": text}
        else:
            choice["text"] = text
        choice["logprobs"] = _logprobs(p, i, i + 1, text_offset)
        text_offset += len(text)
        choice["finish_reason"] = job.plan.finish_reason if last else None
        choice["stop_reason"] = job.plan.stop_reason if last else None
        out.append(choice)
    job.sent, job.offset = upto, offset
    return out
