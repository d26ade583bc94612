"""What goes into the engine and what comes out: requests, per-request records, errors."""

from __future__ import annotations

import math
from dataclasses import dataclass


class EngineError(Exception):
    """A request the engine cannot take; ``status`` is the HTTP code vLLM would answer."""

    status = 400
    kind = "BadRequestError"


class UnknownModelError(EngineError):
    status = 404
    kind = "NotFoundError"


class QueueFullError(EngineError):
    status = 429
    kind = "RateLimitError"


@dataclass(frozen=True, slots=True)
class SimRequest:
    """One request as the engine sees it.

    ``block_keys`` are content keys of the prompt's full blocks (``tokens.block_keys`` makes
    them from text); the engine chains them with the adapter name into vLLM-style block
    hashes, so two prompts share cache blocks exactly as far as they share leading blocks.
    ``output_tokens`` is the exact number of tokens to generate (the caller draws it).
    """

    request_id: str
    prompt_tokens: int
    output_tokens: int
    block_keys: tuple[int, ...] = ()
    adapter: str | None = None
    max_tokens: int | None = None


@dataclass(slots=True)
class RequestRecord:
    """The life of one request, filled in by the engine; times are engine-clock seconds."""

    request_id: str
    adapter: str | None
    prompt_tokens: int
    max_tokens: int | None
    arrival: float
    queued: float = math.nan
    scheduled: float = math.nan
    first_token: float = math.nan
    finish: float = math.nan
    output_tokens: int = 0
    cached_tokens: int = 0
    preemptions: int = 0
    finish_reason: str | None = None

    @property
    def done(self) -> bool:
        return self.finish_reason is not None

    @property
    def ttft(self) -> float:
        return self.first_token - self.arrival

    @property
    def e2e(self) -> float:
        return self.finish - self.arrival

    @property
    def tpot(self) -> float:
        """(e2e - ttft) / (output - 1), as vLLM's benchmark and inference-perf define it."""
        if self.output_tokens <= 1:
            return 0.0
        return (self.finish - self.first_token) / (self.output_tokens - 1)
