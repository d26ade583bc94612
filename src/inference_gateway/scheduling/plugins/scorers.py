"""Load scorers: higher is better, so each inverts a load figure into [0, 1].

Queue, running and in-flight scorers use the upstream min-max inversion over the
candidates, ``(max - v) / (max - min)``, with 1.0 for everyone when all are equal; the KV
scorer is the absolute ``1 - utilisation``.
"""

from __future__ import annotations

from collections.abc import Sequence

from inference_gateway.datastore.types import Endpoint
from inference_gateway.scheduling.framework import CycleState, Plugin
from inference_gateway.scheduling.types import LLMRequest


def _inverted(values: list[int]) -> list[float]:
    # Comprehensions, not map() over bound methods: CPython specialises their arithmetic
    # (about twice as fast), and this runs once per scorer per pick over every candidate.
    lo, hi = min(values), max(values)
    if hi == lo:
        return [1.0] * len(values)
    scale = 1.0 / (hi - lo)
    return [scale * (hi - v) for v in values]


class QueueScorer(Plugin):
    TYPE = "queue-scorer"

    def score(
        self, request: LLMRequest, endpoints: Sequence[Endpoint], cycle_state: CycleState
    ) -> list[float]:
        return _inverted([e.metrics.waiting for e in endpoints]) if endpoints else []


class RunningRequestsSizeScorer(Plugin):
    TYPE = "running-requests-size-scorer"

    def score(
        self, request: LLMRequest, endpoints: Sequence[Endpoint], cycle_state: CycleState
    ) -> list[float]:
        return _inverted([e.metrics.running for e in endpoints]) if endpoints else []


class InflightLoadScorer(Plugin):
    """Least-request routing: uses the EPP's own in-flight count, which is never stale."""

    TYPE = "inflight-load-scorer"

    def score(
        self, request: LLMRequest, endpoints: Sequence[Endpoint], cycle_state: CycleState
    ) -> list[float]:
        return _inverted([e.in_flight for e in endpoints]) if endpoints else []


class KVCacheUtilizationScorer(Plugin):
    TYPE = "kv-cache-utilization-scorer"

    def score(
        self, request: LLMRequest, endpoints: Sequence[Endpoint], cycle_state: CycleState
    ) -> list[float]:
        return [1.0 - e.metrics.kv_usage for e in endpoints]
