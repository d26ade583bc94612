"""Metric filters of the legacy (v0.3-v0.5) algorithm, one small class per upstream type.

Thresholds are the upstream defaults: at most 128 waiting requests for the low-latency
path (``queueingThresholdLoRA``; v0.5's plugin keeps ``<=``, v0.3's tree used ``<``), and
queue <= 5 with KV <= 0.8 for "has capacity" (the same numbers as the saturation
detector, so a pod with capacity is exactly an unsaturated one).
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field

from inference_gateway.datastore.types import Endpoint
from inference_gateway.scheduling.framework import CycleState, Params, Plugin, PluginHandle
from inference_gateway.scheduling.types import Criticality, LLMRequest


class LowQueueParams(Params):
    threshold: int = Field(default=128, ge=0)
    """Keep endpoints with at most this many waiting requests."""


class LowQueueFilter(Plugin):
    TYPE = "low-queue-filter"
    Params = LowQueueParams

    def __init__(self, name: str, params: BaseModel, handle: PluginHandle) -> None:
        super().__init__(name, params, handle)
        assert isinstance(params, LowQueueParams)
        self.threshold = params.threshold

    def filter(
        self, request: LLMRequest, endpoints: Sequence[Endpoint], cycle_state: CycleState
    ) -> list[Endpoint]:
        t = self.threshold
        return [e for e in endpoints if e.metrics.waiting <= t]


class CapacityParams(Params):
    queueThreshold: int = Field(default=5, ge=0)
    kvCacheThreshold: float = Field(default=0.8, ge=0.0, le=1.0)


class SheddableCapacityFilter(Plugin):
    """Keep endpoints with room for non-critical work: queue <= 5 and KV <= 0.8."""

    TYPE = "sheddable-capacity-filter"
    Params = CapacityParams

    def __init__(self, name: str, params: BaseModel, handle: PluginHandle) -> None:
        super().__init__(name, params, handle)
        assert isinstance(params, CapacityParams)
        self.queue = params.queueThreshold
        self.kv = params.kvCacheThreshold

    def filter(
        self, request: LLMRequest, endpoints: Sequence[Endpoint], cycle_state: CycleState
    ) -> list[Endpoint]:
        q, kv = self.queue, self.kv
        return [e for e in endpoints if e.metrics.waiting <= q and e.metrics.kv_usage <= kv]


class LeastQueueFilter(Plugin):
    """Keep the band [min, min + (max - min) / N] of waiting queues, N = len(endpoints)."""

    TYPE = "least-queue-filter"

    def filter(
        self, request: LLMRequest, endpoints: Sequence[Endpoint], cycle_state: CycleState
    ) -> list[Endpoint]:
        if not endpoints:
            return []
        values = [e.metrics.waiting for e in endpoints]
        lo, hi = min(values), max(values)
        limit = lo + (hi - lo) / len(values)
        return [e for e, v in zip(endpoints, values, strict=True) if v <= limit]


class LeastKVCacheFilter(Plugin):
    """Keep the band [min, min + (max - min) / N] of KV-cache utilisation."""

    TYPE = "least-kv-cache-filter"

    def filter(
        self, request: LLMRequest, endpoints: Sequence[Endpoint], cycle_state: CycleState
    ) -> list[Endpoint]:
        if not endpoints:
            return []
        values = [e.metrics.kv_usage for e in endpoints]
        lo, hi = min(values), max(values)
        limit = lo + (hi - lo) / len(values)
        return [e for e, v in zip(endpoints, values, strict=True) if v <= limit]


class CriticalityParams(Params):
    criticalities: tuple[Criticality, ...] = (Criticality.CRITICAL,)


class CriticalityFilter(Plugin):
    """Our own type: passes every endpoint iff the request's criticality is listed.

    It is the branch predicate of the legacy tree ("is this request critical?"), expressed
    as a filter so that ``decision-tree-filter`` can branch on it: an empty result sends
    the original set down ``nextOnFailure``.
    """

    TYPE = "criticality-filter"
    Params = CriticalityParams

    def __init__(self, name: str, params: BaseModel, handle: PluginHandle) -> None:
        super().__init__(name, params, handle)
        assert isinstance(params, CriticalityParams)
        self.accepted = frozenset(params.criticalities)

    def filter(
        self, request: LLMRequest, endpoints: Sequence[Endpoint], cycle_state: CycleState
    ) -> list[Endpoint]:
        return list(endpoints) if request.criticality in self.accepted else []
