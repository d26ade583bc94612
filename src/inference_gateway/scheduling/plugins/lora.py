"""LoRA adapter affinity: prefer servers that already hold the request's adapter.

The filter is the legacy "soft affinity": servers with the adapter resident (running or
waiting) win with probability ``threshold`` (0.999), otherwise servers with a free adapter
slot, so a small share of traffic still spreads an adapter to new servers. When neither
group exists it returns nothing, and a decision tree treats that as failure. With ``union``
(our own parameter) it keeps both groups and drops only the servers where the adapter
would wait for a slot: for a scorer that prices a cold adapter (``latency-predictor``), so
that an adapter held only by a slow or swamped server can move.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from pydantic import BaseModel, Field

from inference_gateway.datastore.types import Endpoint
from inference_gateway.scheduling.framework import CycleState, Params, Plugin, PluginHandle
from inference_gateway.scheduling.types import LLMRequest


class LoraAffinityParams(Params):
    threshold: float = Field(default=0.999, ge=0.0, le=1.0)
    """Probability of choosing the affinity group when both groups are non-empty."""
    union: bool = False
    """Keep both groups together (our own): only pods where the adapter would wait for a
    slot are dropped, and a scorer that prices a cold adapter weighs the rest."""


class LoraAffinityFilter(Plugin):
    TYPE = "lora-affinity-filter"
    Params = LoraAffinityParams

    def __init__(self, name: str, params: BaseModel, handle: PluginHandle) -> None:
        super().__init__(name, params, handle)
        assert isinstance(params, LoraAffinityParams)
        self.threshold = params.threshold
        self.union = params.union
        self.rng: random.Random = handle.rng

    def filter(
        self, request: LLMRequest, endpoints: Sequence[Endpoint], cycle_state: CycleState
    ) -> list[Endpoint]:
        target = request.target_model
        if self.union:
            return [
                e
                for e in endpoints
                if target in (m := e.metrics).running_adapters
                or target in m.waiting_adapters
                or len(m.running_adapters) + len(m.waiting_adapters) < m.max_adapters
            ]
        affinity: list[Endpoint] = []
        available: list[Endpoint] = []
        for e in endpoints:
            m = e.metrics
            if target in m.running_adapters or target in m.waiting_adapters:
                affinity.append(e)
            elif len(m.running_adapters) + len(m.waiting_adapters) < m.max_adapters:
                available.append(e)
        if affinity and available:
            return affinity if self.rng.random() < self.threshold else available
        return affinity or available


class LoraAffinityScorer(Plugin):
    """1.0 adapter running, 0.8 a free slot, 0.6 adapter waiting, else 0 (upstream v1.5)."""

    TYPE = "lora-affinity-scorer"

    def score(
        self, request: LLMRequest, endpoints: Sequence[Endpoint], cycle_state: CycleState
    ) -> list[float]:
        target = request.target_model
        out: list[float] = []
        for e in endpoints:
            m = e.metrics
            if target in m.running_adapters:
                out.append(1.0)
            elif len(m.running_adapters) + len(m.waiting_adapters) < m.max_adapters:
                out.append(0.8)
            elif target in m.waiting_adapters:
                out.append(0.6)
            else:
                out.append(0.0)
        return out
