"""Load scorers: higher is better, so each inverts a load figure into [0, 1].

Queue, running and in-flight scorers use the upstream min-max inversion over the
candidates, ``(max - v) / (max - min)``, with 1.0 for everyone when all are equal; the KV
scorer is the absolute ``1 - utilisation``.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter

from inference_gateway.datastore.types import Endpoint
from inference_gateway.scheduling.framework import CycleState, Plugin
from inference_gateway.scheduling.types import LLMRequest

_WAITING = attrgetter("metrics.waiting")
_RUNNING = attrgetter("metrics.running")
_IN_FLIGHT = attrgetter("in_flight")
_KV = attrgetter("metrics.kv_usage")


def _inverted(values: list[int]) -> list[float]:
    # map() over C callables: this runs once per scorer per pick, over every candidate.
    lo, hi = min(values), max(values)
    if hi == lo:
        return [1.0] * len(values)
    return list(map((1.0 / (hi - lo)).__mul__, map(hi.__sub__, values)))


class QueueScorer(Plugin):
    TYPE = "queue-scorer"

    def score(
        self, request: LLMRequest, endpoints: Sequence[Endpoint], cycle_state: CycleState
    ) -> list[float]:
        return _inverted(list(map(_WAITING, endpoints))) if endpoints else []


class RunningRequestsSizeScorer(Plugin):
    TYPE = "running-requests-size-scorer"

    def score(
        self, request: LLMRequest, endpoints: Sequence[Endpoint], cycle_state: CycleState
    ) -> list[float]:
        return _inverted(list(map(_RUNNING, endpoints))) if endpoints else []


class InflightLoadScorer(Plugin):
    """Least-request routing: uses the EPP's own in-flight count, which is never stale."""

    TYPE = "inflight-load-scorer"

    def score(
        self, request: LLMRequest, endpoints: Sequence[Endpoint], cycle_state: CycleState
    ) -> list[float]:
        return _inverted(list(map(_IN_FLIGHT, endpoints))) if endpoints else []


class KVCacheUtilizationScorer(Plugin):
    TYPE = "kv-cache-utilization-scorer"

    def score(
        self, request: LLMRequest, endpoints: Sequence[Endpoint], cycle_state: CycleState
    ) -> list[float]:
        return list(map((1.0).__sub__, map(_KV, endpoints)))
