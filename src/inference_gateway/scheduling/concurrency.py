"""Upstream's ``concurrency-detector``: saturation from the EPP's own in-flight counts.

Pool saturation is the requests the EPP has in flight over the pool's ideal capacity,
``sum(in_flight) / (endpoints * maxConcurrency)``; the pool is saturated at 1.0. As a
filter it keeps endpoints with fewer than ``maxConcurrency * (1 + headroom)`` in flight,
so the scheduler may go past the ideal per pod (for affinity) up to that hard limit.

Unlike the utilization detector it needs no scrape: every request the EPP sends counts at
once, so a burst between two scrapes cannot overfill a pod. It is blind to KV pressure;
set ``maxConcurrency`` to the engine's batch size (vLLM ``--max-num-seqs``). Upstream's
``tokens`` mode (in-flight tokens from an estimator) is refused with a clear error here.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field, field_validator

from inference_gateway.datastore.types import Endpoint
from inference_gateway.scheduling.framework import CycleState, Params, PluginHandle
from inference_gateway.scheduling.saturation import Sheds
from inference_gateway.scheduling.types import LLMRequest


class ConcurrencyParams(Params):
    concurrencyMode: str = "requests"
    maxConcurrency: int = Field(default=100, gt=0)
    maxTokenConcurrency: int = Field(default=1_000_000, gt=0)
    """Upstream's ``tokens``-mode capacity; accepted for config compatibility, unused."""
    headroom: float = Field(default=0.0, ge=0.0)

    @field_validator("concurrencyMode")
    @classmethod
    def _requests_only(cls, mode: str) -> str:
        if mode == "tokens":
            raise ValueError("'tokens' mode is not supported here; use 'requests'")
        if mode != "requests":
            raise ValueError(f"must be 'requests' or 'tokens', not {mode!r}")
        return mode


class ConcurrencyDetector(Sheds):
    TYPE = "concurrency-detector"
    Params = ConcurrencyParams

    def __init__(
        self,
        name: str = TYPE,
        params: BaseModel | None = None,
        handle: PluginHandle | None = None,
    ) -> None:
        p = params if params is not None else ConcurrencyParams()
        assert isinstance(p, ConcurrencyParams)
        self.name = name
        self.max_concurrency = p.maxConcurrency
        self.headroom = p.headroom
        self.limit = int(p.maxConcurrency * (1.0 + p.headroom))
        """Per-endpoint hard limit: an endpoint with this many in flight has no room."""

    def saturation(self, endpoints: Sequence[Endpoint], now: float = 0.0) -> float:
        """In-flight requests over the pool's ideal capacity; 1.0 for an empty pool."""
        if not endpoints:
            return 1.0
        total = 0
        for e in endpoints:
            total += e.in_flight
        return total / (len(endpoints) * self.max_concurrency)

    def is_saturated(self, endpoints: Sequence[Endpoint], now: float) -> bool:
        return self.saturation(endpoints, now) >= 1.0

    def filter(
        self, request: LLMRequest, endpoints: Sequence[Endpoint], cycle_state: CycleState
    ) -> list[Endpoint]:
        limit = self.limit
        return [e for e in endpoints if e.in_flight < limit]
