"""The demo's arrival schedule: seeded, so every policy is replayed the same requests.

Arrivals are Poisson with a rate that steps up for a burst in the middle of the run
(``BURST``), drawn by thinning a process at the peak rate; the mix of models, APIs and
streaming is drawn from the same generator. Prompts are random words of plausible length,
and ``ignore_eos`` makes the simulator produce exactly ``max_tokens``, so the work each
request costs is part of the schedule too.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Literal

from inference_gateway.demo.settings import BASE_MODEL

Api = Literal["chat", "completions"]

BURST = (0.35, 0.65, 2.0)
"""(start, end) as fractions of the run, and the rate multiplier inside that window."""

# (model, share of traffic, share sent as chat rather than completions, share streamed)
MIX: tuple[tuple[str, float, float, float], ...] = (
    ("chat", 0.35, 1.0, 0.6),
    ("support", 0.25, 0.5, 0.3),
    ("batch", 0.30, 0.0, 0.1),
    (BASE_MODEL, 0.10, 0.5, 0.3),
)
_WORDS = (
    "route",
    "the",
    "request",
    "to",
    "a",
    "pod",
    "with",
    "room",
    "in",
    "its",
    "queue",
    "and",
    "adapter",
    "already",
    "loaded",
    "while",
    "model",
    "server",
    "batches",
    "tokens",
    "gateway",
    "watches",
    "every",
    "metric",
)


@dataclass(frozen=True, slots=True)
class DemoRequest:
    index: int
    arrival: float
    """Seconds after the start of the run at which the client sends it."""
    model: str
    api: Api
    stream: bool
    prompt: str
    max_tokens: int

    @property
    def path(self) -> str:
        return "/v1/chat/completions" if self.api == "chat" else "/v1/completions"

    def body(self) -> bytes:
        data: dict[str, object] = {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "ignore_eos": True,
            "stream": self.stream,
        }
        if self.api == "chat":
            data["messages"] = [{"role": "user", "content": self.prompt}]
        else:
            data["prompt"] = self.prompt
        return json.dumps(data).encode()


def rate_at(t: float, seconds: float, rate: float) -> float:
    start, end, factor = BURST
    return rate * factor if start * seconds <= t < end * seconds else rate


def schedule(*, seconds: float, rate: float, seed: int) -> list[DemoRequest]:
    """The requests of one run, ordered by arrival; same arguments, same list."""
    rng = random.Random(seed)
    peak = rate * BURST[2]
    out: list[DemoRequest] = []
    t = rng.expovariate(peak)
    while t < seconds:
        if rng.random() < rate_at(t, seconds, rate) / peak:
            out.append(_request(rng, len(out), t))
        t += rng.expovariate(peak)
    return out


def _request(rng: random.Random, index: int, arrival: float) -> DemoRequest:
    model, _, chat_share, stream_share = rng.choices(MIX, weights=[m[1] for m in MIX])[0]
    api: Api = "chat" if rng.random() < chat_share else "completions"
    words = rng.randint(40, 240)
    prompt = f"[{index}] " + " ".join(rng.choice(_WORDS) for _ in range(words))
    max_tokens = rng.randint(48, 128) if model == "batch" else rng.randint(16, 64)
    return DemoRequest(index, arrival, model, api, rng.random() < stream_share, prompt, max_tokens)
