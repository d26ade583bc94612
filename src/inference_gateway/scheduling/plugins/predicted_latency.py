"""Upstream's predicted-latency producers, run on our in-process predictor.

Upstream (GIE v1.5, and llm-d's router since) routes by predicted latency through a
pipeline of plugins around a data producer, ``predicted-latency-producer``, which asks
sidecars (an XGBoost trainer and prediction servers over HTTP) for each candidate's TTFT
and TPOT and attaches them, with the headroom against the request's SLO headers, to the
candidates. Its consumers are ``latency-scorer``, ``slo-headroom-tier-filter``,
``prefix-cache-affinity-filter`` and ``latency-slo-admitter`` (``latency_scorer``,
``latency_slo``). Here the producer is our ``latency-predictor`` (online, in-process, no
sidecar), so upstream's configs run unchanged without the sidecars; their parameters are
accepted and those that only tune the sidecars are ignored. ``approx-prefix-cache-producer``
is our prefix index under upstream's name and parameters, and the monolith upstream had
before (``predicted-latency-scorer``, once ``slo-aware-routing``, v1.2-v1.4) is our scorer.

What the producer attaches (``LatencyInfo``, in milliseconds as upstream): without an
SLO header the objective is 0, so every endpoint is invalid with headroom -TTFT; TPOT is
judged only in ``streamingMode`` (upstream's default is off, and then TPOT is neutral:
valid, headroom 0), against ``x-slo-tpot-ms`` x ``sloBufferFactor``; an endpoint labelled
``prefill`` under ``endpointRoleLabel`` never judges TPOT.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple, TypeVar

from pydantic import BaseModel, Field

from inference_gateway.datastore.objects import Criticality
from inference_gateway.datastore.types import Endpoint
from inference_gateway.scheduling.framework import CycleState, Params, PluginHandle
from inference_gateway.scheduling.observe import objectives
from inference_gateway.scheduling.plugins._latency_parts import LatencyParams
from inference_gateway.scheduling.plugins.latency import LatencyPredictor
from inference_gateway.scheduling.plugins.prefix import PrefixCacheScorer, PrefixParams
from inference_gateway.scheduling.types import LLMRequest

PRODUCER_TYPES = ("predicted-latency-producer", "latency-predictor-producer")
"""Upstream's producer type, and the name it had for two days (GIE, March 2026)."""
PREFIX_TYPES = ("approx-prefix-cache-producer", "prefix-cache-scorer")
"""What gives the prefix share: upstream's producer, or (v1.5) a declared prefix scorer."""
CHARS_PER_TOKEN = 4
COLD_KV_USAGE = 0.02
"""Below this KV use a pod counts as cold: upstream admits a request any such pod can take."""
REFUSED = "no endpoint is predicted to meet the request's latency objectives"


class LatencyInfo(NamedTuple):
    """One endpoint's predictions for one request: upstream's ``LatencyPredictionInfo``
    (a tuple: one is built per candidate per request)."""

    ttft: float
    tpot: float
    ttft_headroom: float
    tpot_headroom: float
    ttft_valid: bool
    tpot_valid: bool
    dispatched: int
    """The gateway's requests in flight there (upstream: the EPP's dispatched count)."""

    @property
    def valid(self) -> bool:
        return self.ttft_valid and self.tpot_valid


_P = TypeVar("_P", bound=LatencyParams)


def with_prefix_source(params: _P, handle: PluginHandle) -> _P:
    """``params`` reading the config's prefix index when they name none, as upstream's
    producer reads whatever produces the prefix match."""
    if params.prefixScorer is not None:
        return params
    return params.model_copy(update={"prefixScorer": handle.name_of_type(PREFIX_TYPES)})


class ProducerParams(LatencyParams):
    """Upstream's parameters, then ours (``LatencyParams``) for whoever wants to tune them."""

    samplingMean: float = Field(default=1000.0, gt=0.0)
    """Upstream: mean tokens between sampled TPOT predictions (sidecar calls); unused."""
    maxDecodeTokenSamplesForPrediction: int = Field(default=0, ge=0)
    """Upstream: per-token TPOT predictions per request; unused (TPOT is learned whole)."""
    sloBufferFactor: float = Field(default=1.0, gt=0.0)
    """The TPOT objective is scaled by this before it is compared."""
    contextTTL: int | str | None = None
    """Upstream: how long a request's context is kept (ns); ``maxPending`` bounds ours."""
    streamingMode: bool = False
    """Judge TPOT against ``x-slo-tpot-ms`` (upstream trains TPOT only on streams)."""
    endpointRoleLabel: str = ""
    """Endpoints whose label of this name is ``prefill`` never judge TPOT."""
    predictInPrepareData: bool = True
    """False: attach nothing, so consumers fall back to what they do without predictions."""


class PredictedLatencyProducer(LatencyPredictor):
    """``predicted-latency-producer``: predictions for consumers, never a score of its own
    (a producer listed in a profile only runs first). Learning and the gateway's predicted
    latency metrics are the ``latency-predictor``'s."""

    TYPE = "predicted-latency-producer"
    Params = ProducerParams
    NEEDS = ((PREFIX_TYPES, "approx-prefix-cache-producer"),)

    def __init__(self, name: str, params: BaseModel, handle: PluginHandle) -> None:
        assert isinstance(params, ProducerParams)
        params = with_prefix_source(params, handle)
        super().__init__(name, params, handle)
        self.upstream = params
        self._infos_key = f"{name}/infos"

    def produce(
        self, request: LLMRequest, endpoints: Sequence[Endpoint], cycle_state: CycleState
    ) -> None:
        self.infos(request, endpoints, cycle_state)

    def infos(
        self, request: LLMRequest, endpoints: Sequence[Endpoint], cycle_state: CycleState
    ) -> Mapping[str, LatencyInfo]:
        """Each endpoint's ``LatencyInfo`` by name, computed once per cycle (empty when
        ``predictInPrepareData`` is off)."""
        known: dict[str, LatencyInfo] | None = cycle_state.get(self._infos_key)
        if known is None:
            known = cycle_state[self._infos_key] = {}
            if self.upstream.predictInPrepareData:
                self.begin(request, cycle_state)
        if not self.upstream.predictInPrepareData:
            return known
        missing = [e for e in endpoints if e.name not in known]
        if missing:
            slo_ttft, slo_tpot = objectives(request.headers)
            ttft_slo = 1000.0 * slo_ttft if slo_ttft is not None else 0.0
            tpot_slo = 1000.0 * slo_tpot if slo_tpot is not None else 0.0
            buffered = tpot_slo * self.upstream.sloBufferFactor
            label = self.upstream.endpointRoleLabel
            cands = self.predict(request, missing, cycle_state, features=False)
            for e, cand in zip(missing, cands, strict=True):
                ttft, tpot = 1000.0 * cand[2], 1000.0 * cand[3]
                judge_tpot = self.upstream.streamingMode and not (
                    label and e.labels.get(label) == "prefill"
                )
                known[e.name] = LatencyInfo(
                    ttft=ttft,
                    tpot=tpot,
                    ttft_headroom=ttft_slo - ttft,
                    tpot_headroom=buffered - tpot if judge_tpot else 0.0,
                    ttft_valid=ttft < ttft_slo,
                    tpot_valid=tpot < buffered if judge_tpot else True,
                    dispatched=e.in_flight,
                )
        return known


def refusal(endpoints: Sequence[Endpoint], can_serve: Sequence[bool]) -> str | None:
    """Upstream's rule for refusing a sheddable request: no endpoint is idle (no running
    requests), cold (KV use under 2 %) or predicted to serve it in time (``can_serve``)."""
    for e, ok in zip(endpoints, can_serve, strict=True):
        if ok or e.metrics.running == 0 or e.metrics.kv_usage < COLD_KV_USAGE:
            return None
    return REFUSED


def producer_of(handle: PluginHandle) -> PredictedLatencyProducer | None:
    """The config's ``predicted-latency-producer`` (the loader adds one when none is
    declared), for its consumers."""
    found = handle.plugin_of_type(PRODUCER_TYPES)
    return found if isinstance(found, PredictedLatencyProducer) else None


def prefix_of(handle: PluginHandle) -> PrefixCacheScorer | None:
    found = handle.plugin_of_type(PREFIX_TYPES)
    return found if isinstance(found, PrefixCacheScorer) else None


class ApproxPrefixParams(Params):
    """Upstream's ``approx-prefix-cache-producer`` parameters (tokens, 4 characters each)."""

    autoTune: bool = True
    """Upstream sizes blocks from the pods' metrics; ours are fixed (``blockSizeTokens``)."""
    blockSizeTokens: int = Field(default=16, ge=1)
    blockSize: int = Field(default=0, ge=0)
    """Deprecated upstream, which ignores it when ``blockSizeTokens`` is set (by default)."""
    maxPrefixBlocksToMatch: int = Field(default=256, ge=1)
    maxPrefixTokensToMatch: int = Field(default=0, ge=0)
    """When > 0, the blocks to match are this over ``blockSizeTokens``."""
    lruCapacityPerServer: int = Field(default=31250, ge=1)

    def prefix_params(self) -> PrefixParams:
        tokens = self.blockSizeTokens
        blocks = self.maxPrefixBlocksToMatch
        if self.maxPrefixTokensToMatch > 0:
            blocks = max(1, self.maxPrefixTokensToMatch // tokens)
        return PrefixParams(
            blockSize=tokens * CHARS_PER_TOKEN,
            maxPrefixBlocksToMatch=blocks,
            lruCapacityPerServer=self.lruCapacityPerServer,
        )


class ApproxPrefixCacheProducer(PrefixCacheScorer):
    """``approx-prefix-cache-producer``: the prefix index, read by the latency producer
    and ``prefix-cache-affinity-filter``; listed in a profile it only runs first."""

    TYPE = "approx-prefix-cache-producer"
    Params = ApproxPrefixParams

    def __init__(self, name: str, params: BaseModel, handle: PluginHandle) -> None:
        assert isinstance(params, ApproxPrefixParams)
        super().__init__(name, params.prefix_params(), handle)

    def produce(
        self, request: LLMRequest, endpoints: Sequence[Endpoint], cycle_state: CycleState
    ) -> None:
        self.shares(request, cycle_state)


class MonolithParams(LatencyParams):
    """Upstream's v1.3-v1.4 ``predicted-latency-scorer`` parameters, accepted; ours after."""

    samplingMean: float = Field(default=1000.0, gt=0.0)
    maxSampledTokens: int = Field(default=0, ge=0)
    sloBufferFactor: float = Field(default=1.0, gt=0.0)
    negHeadroomTTFTWeight: float = Field(default=0.8, ge=0.0)
    negHeadroomTPOTWeight: float = Field(default=0.2, ge=0.0)
    headroomTTFTWeight: float = Field(default=0.8, ge=0.0)
    headroomTPOTWeight: float = Field(default=0.2, ge=0.0)
    headroomSelectionStrategy: str = "least"
    compositeKVWeight: float = Field(default=1.0, ge=0.0)
    compositeQueueWeight: float = Field(default=1.0, ge=0.0)
    compositePrefixWeight: float = Field(default=1.0, ge=0.0)
    epsilonExploreSticky: float = Field(default=0.01, ge=0.0, le=1.0)
    epsilonExploreNeg: float = Field(default=0.01, ge=0.0, le=1.0)
    affinityGateTau: float = Field(default=0.8, ge=0.0, le=1.0)
    affinityGateTauGlobal: float = Field(default=0.99, ge=0.0, le=1.0)
    affinityMaxTTFTPenaltyMs: float = Field(default=5000.0, ge=0.0)
    contextTTL: int | str | None = None
    selectionMode: str = "linear"
    streamingMode: bool = True
    endpointRoleLabel: str = ""


class PredictedLatencyScorer(LatencyPredictor):
    """``predicted-latency-scorer`` (and ``slo-aware-routing``): upstream's monolith picked
    one endpoint by weighted draws over SLO headroom tiers; here it is our scorer, which
    weighs predicted end-to-end time (or SLO headroom) against the profile's other scorers.
    Its parameters are accepted so that a v1.3-v1.4 chart's config loads unchanged.

    It also refuses as the monolith did: a sheddable request with a TTFT objective (and a
    TPOT one in ``streamingMode``) when no pod is predicted to meet them, every pod is
    running requests, none is cold (KV use under 2 %) and none holds
    ``affinityGateTauGlobal`` of its prefix."""

    TYPE = "predicted-latency-scorer"
    Params = MonolithParams
    NEEDS = ((PREFIX_TYPES, "approx-prefix-cache-producer"),)

    def __init__(self, name: str, params: BaseModel, handle: PluginHandle) -> None:
        assert isinstance(params, MonolithParams)
        params = with_prefix_source(params, handle)
        super().__init__(name, params, handle)
        self.upstream = params

    def refuse(
        self, request: LLMRequest, endpoints: Sequence[Endpoint], cycle_state: CycleState
    ) -> str | None:
        if request.criticality is not Criticality.SHEDDABLE:
            return None
        slo_ttft, slo_tpot = objectives(request.headers)
        streaming = self.upstream.streamingMode
        if slo_ttft is None or (streaming and slo_tpot is None):
            return None
        shares_of = getattr(self._prefix, "shares", None)
        shares = shares_of(request, cycle_state) if shares_of is not None else {}
        buffered = (slo_tpot or 0.0) * self.upstream.sloBufferFactor
        tau = self.upstream.affinityGateTauGlobal
        cands = self.predict(request, endpoints, cycle_state, features=False)
        can_serve = [
            shares.get(e.name, 0.0) >= tau
            or (cand[2] < slo_ttft and (not streaming or cand[3] < buffered))
            for e, cand in zip(endpoints, cands, strict=True)
        ]
        return refusal(endpoints, can_serve)
