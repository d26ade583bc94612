"""``latency-scorer``: upstream's score over the predicted-latency producer's headroom.

Upstream's rules (GIE v1.5, llm-d's router since), on our producer's predictions
(``predicted_latency``). An endpoint is negative when its TTFT or TPOT headroom is below 0.
If any endpoint is positive, only the positive ones score; ``least`` (the default) favours
the smallest headroom, packing requests up to their objectives, ``most`` the largest.
If all are negative (always so without SLO headers: the objective is then 0), idle
endpoints (none of the gateway's requests in flight) score first; otherwise only the least
severe bucket scores: TPOT missed only, then TTFT missed only, then both, each favouring
the smallest deficit. Within the scored set the absolute headrooms are min-max normalised
and blended by ``ttftWeight``/``tpotWeight`` (a dimension that does not vary gets no
weight), then mapped to (floor(100 x (1 - c)) + 1) / 100, which the framework clamps to
1; the rest score 0. Without SLO headers this is: lowest predicted TTFT scores highest.
With no predictions at all it falls back to free KV, relative queue and prefix share.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel

from inference_gateway.datastore.types import Endpoint
from inference_gateway.scheduling.framework import CycleState, Params, Plugin, PluginHandle
from inference_gateway.scheduling.plugins.predicted_latency import (
    PREFIX_TYPES,
    PRODUCER_TYPES,
    LatencyInfo,
    prefix_of,
    producer_of,
)
from inference_gateway.scheduling.types import LLMRequest

_EPS = 1e-9


class LatencyScorerParams(Params):
    ttftWeight: float = 0.8
    tpotWeight: float = 0.2
    headroomSelectionStrategy: str = "least"
    """``least`` or ``most``; upstream treats any other value as ``least``."""
    compositeKVWeight: float = 1.0
    compositeQueueWeight: float = 1.0
    compositePrefixWeight: float = 1.0


class LatencyScorer(Plugin):
    TYPE = "latency-scorer"
    Params = LatencyScorerParams
    NEEDS = (
        (PRODUCER_TYPES, "predicted-latency-producer"),
        (PREFIX_TYPES, "approx-prefix-cache-producer"),
    )

    def __init__(self, name: str, params: BaseModel, handle: PluginHandle) -> None:
        super().__init__(name, params, handle)
        assert isinstance(params, LatencyScorerParams)
        self.params = params
        self._producer = producer_of(handle)
        self._prefix = prefix_of(handle)
        self._most = params.headroomSelectionStrategy == "most"

    def score(
        self, request: LLMRequest, endpoints: Sequence[Endpoint], cycle_state: CycleState
    ) -> list[float]:
        infos = self._producer.infos(request, endpoints, cycle_state) if self._producer else {}
        got = [infos.get(e.name) for e in endpoints]
        if all(info is None for info in got):
            return self._composite(request, endpoints, cycle_state)
        scores = [0.0] * len(endpoints)
        positive = [
            i
            for i, info in enumerate(got)
            if info is None or (info.ttft_headroom >= 0.0 and info.tpot_headroom >= 0.0)
        ]
        if positive:
            self._bucket(positive, got, scores, most=self._most)
            return scores
        known = [(i, info) for i, info in enumerate(got) if info is not None]
        idle = [i for i, info in known if info.dispatched == 0]
        if idle:
            self._bucket(idle, got, scores, most=False)
            return scores
        tpot_only = [i for i, info in known if info.ttft_headroom >= 0.0]
        ttft_only = [i for i, info in known if info.tpot_headroom >= 0.0]
        both = [i for i, info in known if info.ttft_headroom < 0.0 and info.tpot_headroom < 0.0]
        self._bucket(tpot_only or ttft_only or both, got, scores, most=False)
        return scores

    def _bucket(
        self,
        members: Sequence[int],
        got: Sequence[LatencyInfo | None],
        scores: list[float],
        *,
        most: bool,
    ) -> None:
        total = self.params.ttftWeight + self.params.tpotWeight
        alpha, beta = (
            (self.params.ttftWeight / total, self.params.tpotWeight / total)
            if total > 0.0
            else (1.0, 0.0)
        )
        h_ttft = [abs(info.ttft_headroom) if (info := got[i]) else 0.0 for i in members]
        h_tpot = [abs(info.tpot_headroom) if (info := got[i]) else 0.0 for i in members]
        lo_t, lo_p = min(h_ttft), min(h_tpot)
        range_t, range_p = max(h_ttft) - lo_t, max(h_tpot) - lo_p
        if range_t <= _EPS < range_p:
            alpha, beta = 0.0, 1.0
        elif range_p <= _EPS < range_t:
            alpha, beta = 1.0, 0.0
        for i, t, p in zip(members, h_ttft, h_tpot, strict=True):
            n_t = (t - lo_t) / range_t if range_t > _EPS else 0.5
            n_p = (p - lo_p) / range_p if range_p > _EPS else 0.5
            c = alpha * n_t + beta * n_p
            scores[i] = (math.floor((c if most else 1.0 - c) * 100.0) + 1) / 100.0

    def _composite(
        self, request: LLMRequest, endpoints: Sequence[Endpoint], cycle_state: CycleState
    ) -> list[float]:
        p = self.params
        weights = (p.compositeKVWeight, p.compositeQueueWeight, p.compositePrefixWeight)
        total = sum(weights)
        w_kv, w_q, w_p = (w / total for w in weights) if total > 0.0 else (1.0, 0.0, 0.0)
        shares = self._prefix.shares(request, cycle_state) if self._prefix else {}
        max_q = max(e.metrics.waiting for e in endpoints)
        return [
            round(
                100.0
                * (
                    w_kv * (1.0 - e.metrics.kv_usage)
                    + w_q * ((max_q - e.metrics.waiting) / max_q if max_q > 0 else 1.0)
                    + w_p * shares.get(e.name, 0.0)
                )
            )
            / 100.0
            for e in endpoints
        ]
