"""Upstream v1.5's ``utilization-detector``, the default saturation detector there.

Pool saturation is the mean over endpoints of ``max(waiting / queueDepthThreshold,
kv / kvCacheUtilThreshold)``, an endpoint with metrics older than
``metricsStalenessThreshold`` counting 1.0; the pool is saturated at 1.0 (an empty pool
is). As a filter it keeps fresh endpoints under both thresholds times ``1 + headroom``,
and all of them when none is. Upstream's flow-control guide configures it by this name, so
a config written for upstream loads here unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel, Field

from inference_gateway.datastore.types import Endpoint
from inference_gateway.scheduling.framework import (
    NOW_KEY,
    CycleState,
    Params,
    PluginHandle,
)
from inference_gateway.scheduling.saturation import Seconds, Sheds, endpoint_states, utilization
from inference_gateway.scheduling.types import LLMRequest


class UtilizationParams(Params):
    queueDepthThreshold: int = Field(default=5, gt=0)
    kvCacheUtilThreshold: float = Field(default=0.8, gt=0.0, le=1.0)
    metricsStalenessThreshold: Seconds = 0.2
    headroom: float = Field(default=0.0, ge=0.0)


class UtilizationDetector(Sheds):
    TYPE = "utilization-detector"
    Params = UtilizationParams

    def __init__(
        self,
        name: str = TYPE,
        params: BaseModel | None = None,
        handle: PluginHandle | None = None,
    ) -> None:
        p = params if params is not None else UtilizationParams()
        assert isinstance(p, UtilizationParams)
        self.name = name
        self.queue = p.queueDepthThreshold
        self.kv = p.kvCacheUtilThreshold
        self.staleness = p.metricsStalenessThreshold
        self.headroom = p.headroom

    def saturation(self, endpoints: Sequence[Endpoint], now: float) -> float:
        return utilization(endpoints, now, self.queue, self.kv, self.staleness)

    def is_saturated(self, endpoints: Sequence[Endpoint], now: float) -> bool:
        return self.saturation(endpoints, now) >= 1.0

    def why_saturated(self, endpoints: Sequence[Endpoint], now: float) -> str:
        states = endpoint_states(endpoints, now, self.queue, self.kv, self.staleness)
        return f"pool saturation {self.saturation(endpoints, now):.2f} of {states}"

    def filter(
        self, request: LLMRequest, endpoints: Sequence[Endpoint], cycle_state: CycleState
    ) -> list[Endpoint]:
        scale = 1.0 + self.headroom
        q, kv = self.queue * scale, self.kv * scale
        now = cycle_state.get(NOW_KEY)
        oldest = now - self.staleness if isinstance(now, int | float) else -math.inf
        kept = [
            e
            for e in endpoints
            if e.metrics.updated_at >= oldest and e.metrics.waiting < q and e.metrics.kv_usage < kv
        ]
        return kept or list(endpoints)
