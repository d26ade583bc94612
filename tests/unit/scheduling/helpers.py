"""Builders for hand-made endpoints and requests, and a few test-only plugins."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

from pydantic import BaseModel

from inference_gateway.datastore.types import Endpoint, Metrics
from inference_gateway.scheduling.framework import CycleState, Params, Plugin, PluginHandle
from inference_gateway.scheduling.types import Criticality, LLMRequest

NOW = 100.0


def make_endpoint(
    name: str,
    *,
    waiting: int = 0,
    running: int = 0,
    kv: float = 0.0,
    adapters: Iterable[str] = (),
    waiting_adapters: Iterable[str] = (),
    max_adapters: int = 0,
    updated_at: float = NOW,
    in_flight: int = 0,
) -> Endpoint:
    index = int("".join(c for c in name if c.isdigit()) or "0")
    return Endpoint(
        name=name,
        address=f"127.0.0.{11 + index % 200}",
        port=8000,
        metrics=Metrics(
            waiting=waiting,
            running=running,
            kv_usage=kv,
            running_adapters=frozenset(adapters),
            waiting_adapters=frozenset(waiting_adapters),
            max_adapters=max_adapters,
            updated_at=updated_at,
        ),
        in_flight=in_flight,
    )


def make_request(
    criticality: Criticality = Criticality.STANDARD,
    *,
    model: str = "llama",
    target: str | None = None,
    prompt: str = "",
) -> LLMRequest:
    return LLMRequest(
        request_id="r1",
        model=model,
        target_model=target or model,
        criticality=criticality,
        prompt=prompt,
    )


def handle(seed: int = 0) -> PluginHandle:
    return PluginHandle(rng=random.Random(seed))


def names(endpoints: Sequence[Endpoint]) -> list[str]:
    return [e.name for e in endpoints]


class FixedScores(Params):
    scores: dict[str, float] = {}


class FixedScorer(Plugin):
    """Out-of-tree style scorer: returns the configured score per endpoint name (else 0)."""

    TYPE = "fixed-scorer"
    Params = FixedScores

    def __init__(self, name: str, params: BaseModel, handle: PluginHandle) -> None:
        super().__init__(name, params, handle)
        assert isinstance(params, FixedScores)
        self.scores = params.scores

    def score(
        self, request: LLMRequest, endpoints: Sequence[Endpoint], cycle_state: CycleState
    ) -> list[float]:
        return [self.scores.get(e.name, 0.0) for e in endpoints]


class NothingFilter(Plugin):
    TYPE = "nothing-filter"

    def filter(
        self, request: LLMRequest, endpoints: Sequence[Endpoint], cycle_state: CycleState
    ) -> list[Endpoint]:
        return []
