"""Upstream's filters and admitter over predicted latency and prefix affinity.

Rules as upstream has them (GIE v1.5, llm-d's router since), reading our producers
(``predicted_latency``):

- ``slo-headroom-tier-filter`` keeps the endpoints predicted to meet the request's SLOs
  (both headrooms >= 0), except with probability ``epsilonExploreNeg`` it keeps the others,
  so that the negative tier keeps teaching the predictor; with one tier empty it keeps the
  other, and without SLO headers (every endpoint negative) it keeps all.
- ``prefix-cache-affinity-filter`` keeps the endpoints holding at least
  ``affinityThreshold`` of the prompt's prefix, unless the best of them is predicted more
  than ``maxTTFTPenaltyMs`` slower to first token than the best of the others (a cache hit
  not worth the queue), or with probability ``explorationProbability``.
- ``latency-slo-admitter`` refuses a sheddable request that carries an SLO header when no
  endpoint is predicted to meet it and none is idle (no running requests) or cold (KV use
  under 2 %). Upstream answers 500 "request cannot be admitted"; here it is the 429 of
  every other refusal to shed load, which clients retry.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field

from inference_gateway.datastore.objects import Criticality
from inference_gateway.datastore.types import Endpoint
from inference_gateway.scheduling.framework import CycleState, Params, Plugin, PluginHandle
from inference_gateway.scheduling.observe import objectives
from inference_gateway.scheduling.plugins.predicted_latency import (
    PREFIX_TYPES,
    PRODUCER_TYPES,
    LatencyInfo,
    prefix_of,
    producer_of,
    refusal,
)
from inference_gateway.scheduling.types import LLMRequest

_NEEDS_PRODUCER = ((PRODUCER_TYPES, "predicted-latency-producer"),)
_NEEDS_PREFIX = ((PREFIX_TYPES, "approx-prefix-cache-producer"),)


class TierParams(Params):
    epsilonExploreNeg: float = Field(default=0.01, ge=0.0, le=1.0)


class SloHeadroomTierFilter(Plugin):
    TYPE = "slo-headroom-tier-filter"
    Params = TierParams
    NEEDS = _NEEDS_PRODUCER

    def __init__(self, name: str, params: BaseModel, handle: PluginHandle) -> None:
        super().__init__(name, params, handle)
        assert isinstance(params, TierParams)
        self.epsilon = params.epsilonExploreNeg
        self.rng = handle.rng
        self._producer = producer_of(handle)

    def filter(
        self, request: LLMRequest, endpoints: Sequence[Endpoint], cycle_state: CycleState
    ) -> list[Endpoint]:
        if len(endpoints) <= 1 or self._producer is None:
            return list(endpoints)
        infos = self._producer.infos(request, endpoints, cycle_state)
        if not infos:
            return list(endpoints)
        positive: list[Endpoint] = []
        negative: list[Endpoint] = []
        for e in endpoints:
            info = infos.get(e.name)
            meets = info is not None and info.ttft_headroom >= 0.0 and info.tpot_headroom >= 0.0
            (positive if meets else negative).append(e)
        if positive and negative:
            return negative if self.rng.random() < self.epsilon else positive
        return positive or negative


class AffinityParams(Params):
    affinityThreshold: float = Field(default=0.8, le=1.0)
    explorationProbability: float = Field(default=0.01, ge=0.0, le=1.0)
    maxTTFTPenaltyMs: float = Field(default=5000.0, ge=0.0)
    """0 turns the TTFT gate off: always stick."""
    ttftSource: str = "latencyPredictor"
    """llm-d's: where the gate's TTFT comes from; here always the predictor."""


class PrefixCacheAffinityFilter(Plugin):
    TYPE = "prefix-cache-affinity-filter"
    Params = AffinityParams
    NEEDS = _NEEDS_PREFIX + _NEEDS_PRODUCER

    def __init__(self, name: str, params: BaseModel, handle: PluginHandle) -> None:
        super().__init__(name, params, handle)
        assert isinstance(params, AffinityParams)
        self.params = params
        self.rng = handle.rng
        self._prefix = prefix_of(handle)
        self._producer = producer_of(handle)

    def filter(
        self, request: LLMRequest, endpoints: Sequence[Endpoint], cycle_state: CycleState
    ) -> list[Endpoint]:
        p = self.params
        if len(endpoints) <= 1 or p.affinityThreshold <= 0.0 or self._prefix is None:
            return list(endpoints)
        if self.rng.random() < p.explorationProbability:
            return list(endpoints)
        shares = self._prefix.shares(request, cycle_state)
        sticky = [e for e in endpoints if shares.get(e.name, 0.0) >= p.affinityThreshold]
        if not sticky:
            return list(endpoints)
        if p.maxTTFTPenaltyMs > 0.0 and len(sticky) < len(endpoints) and self._producer:
            infos = self._producer.infos(request, endpoints, cycle_state)
            others = [e for e in endpoints if shares.get(e.name, 0.0) < p.affinityThreshold]
            best_sticky = _best_ttft(sticky, infos)
            best_other = _best_ttft(others, infos)
            if best_sticky - best_other > p.maxTTFTPenaltyMs:
                return list(endpoints)
        return sticky


def _best_ttft(endpoints: Sequence[Endpoint], infos: Mapping[str, LatencyInfo]) -> float:
    """The lowest predicted TTFT among ``endpoints`` (inf when none has a prediction)."""
    return min((i.ttft for e in endpoints if (i := infos.get(e.name))), default=math.inf)


class AdmitterParams(Params):
    """Upstream's admitter takes no parameters and ignores any it is given."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class LatencySloAdmitter(Plugin):
    TYPE = "latency-slo-admitter"
    Params = AdmitterParams
    NEEDS = _NEEDS_PRODUCER

    def __init__(self, name: str, params: BaseModel, handle: PluginHandle) -> None:
        super().__init__(name, params, handle)
        self._producer = producer_of(handle)

    def refuse(
        self, request: LLMRequest, endpoints: Sequence[Endpoint], cycle_state: CycleState
    ) -> str | None:
        if request.criticality is not Criticality.SHEDDABLE or self._producer is None:
            return None
        if objectives(request.headers) == (None, None):
            return None
        infos = self._producer.infos(request, endpoints, cycle_state)
        if not infos:
            return None  # no predictions: admit, as upstream fails open
        return refusal(
            endpoints, [(i := infos.get(e.name)) is not None and i.valid for e in endpoints]
        )
