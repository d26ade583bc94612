"""``latency-predictor``: score pods by the TTFT and TPOT this request would see on each.

Upstream's SLO-aware routing asks sidecars (an XGBoost/Bayesian-ridge trainer and
predictors over HTTP) for per-pod predictions. This scorer keeps the model in-process and
online (``scheduling.latency_model``): a shared linear shape over what the EPP knows at pick
time, times a per-pod speed learned from the responses it streams. Features per candidate:
the gateway's own in-flight count (exact, never stale), the scraped queue and KV use, the
prompt's uncached tokens (prompt length at 4 characters per token, minus the share the
prefix scorer says the pod holds) and whether the request's LoRA adapter is cold there (not
running: one that only waits for a slot waits like a cold one), or cold with every slot busy.

Without SLO headers the score is predicted end-to-end time (TTFT + TPOT x expected output
tokens, the running mean of observed completions): 1 for the best candidate, falling
linearly to 0 at ``spread`` times worse, so prefix and LoRA affinity can be weighed against
it. With ``x-slo-ttft-ms``/``x-slo-tpot-ms`` (upstream's names) the pods predicted to meet
both objectives score 0.5..1 by predicted e2e and the others below 0.5 by how far they miss.
With no observations the prior weights make it a load scorer (in-flight, queue, KV).

Learning: ``on_picked`` keeps the chosen pod's features per request id (bounded), and
``observe_response`` (``scheduling.observe.ResponseObserver``) pairs them with the measured
TTFT and TPOT. ``x-gateway-debug`` shows each top candidate's predictions (endpoint notes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel

from inference_gateway.datastore.types import Endpoint
from inference_gateway.scheduling.framework import (
    NOTES_KEY,
    NOW_KEY,
    CycleState,
    Plugin,
    PluginHandle,
)
from inference_gateway.scheduling.latency_model import Target
from inference_gateway.scheduling.observe import objectives
from inference_gateway.scheduling.plugins._latency_costs import CostCache, Model, model_of
from inference_gateway.scheduling.plugins._latency_memory import SpeedMemory
from inference_gateway.scheduling.plugins._latency_parts import (
    CHARS_PER_TOKEN,
    TPOT_PRIOR,
    TTFT_PRIOR,
    Candidate,
    LatencyParams,
    Notes,
    Published,
    headroom_scores,
    relative_scores,
)
from inference_gateway.scheduling.plugins._latency_pending import Pending, PendingRequests
from inference_gateway.scheduling.plugins._latency_predict import predict_candidates
from inference_gateway.scheduling.types import LLMRequest

_KEY = "latency-predictor/candidates"


class LatencyPredictor(Plugin):
    TYPE = "latency-predictor"
    Params = LatencyParams

    def __init__(self, name: str, params: BaseModel, handle: PluginHandle) -> None:
        super().__init__(name, params, handle)
        assert isinstance(params, LatencyParams)
        self.params = params
        self.ttft = Target(TTFT_PRIOR, floor=0.001, min_rate=params.speedLearningRate)
        self.tpot = Target(TPOT_PRIOR, floor=0.0005, min_rate=params.speedLearningRate)
        self.output_tokens = params.expectedOutputTokens
        self._outputs_seen = 0
        self._prefix = handle.plugin(params.prefixScorer) if params.prefixScorer else None
        self._cache = CostCache()
        self._pending = PendingRequests(params.maxPending, self._cache.drop)
        self._version = 0
        """Bumped whenever a model is published: cached per-endpoint terms are then stale."""
        self._published = Published(
            self.ttft,
            self.tpot,
            self.output_tokens,
            params.publishEveryObservations,
            params.publishInterval,
        )
        self._memory = SpeedMemory(params.speedMemory, self.ttft, self.tpot, self._published)

    @property
    def _adapters(self) -> frozenset[str]:
        """The known adapters, owned by ``PendingRequests.adapters`` (which needs them)."""
        return self._pending.adapters

    # ---- prediction -------------------------------------------------------------------
    def _setup(
        self, request: LLMRequest, cycle_state: CycleState
    ) -> tuple[Mapping[str, float], float, bool]:
        """(prefix shares by pod, prompt kilotokens, whether the target is a known adapter)."""
        shares: Mapping[str, float] = {}
        shares_of = getattr(self._prefix, "shares", None)
        if shares_of is not None:
            shares = shares_of(request, cycle_state)
        tokens = len(request.prompt) / CHARS_PER_TOKEN / 1000.0
        return shares, tokens, request.target_model in self._adapters

    def predict(
        self,
        request: LLMRequest,
        endpoints: Sequence[Endpoint],
        cycle_state: CycleState,
        *,
        features: bool = True,
    ) -> list[Candidate]:
        """Features (empty unless ``features``: only learning needs them), predicted TTFT,
        TPOT, queue wait and cost per endpoint, in order.

        The readable model (``_latency_predict``); ``costs`` is the same arithmetic
        without the bookkeeping (the scoring hot path), and a test holds the two equal.
        """
        shares, tokens, lora = self._setup(request, cycle_state)
        return predict_candidates(
            request.target_model,
            endpoints,
            shares=shares,
            tokens=tokens,
            lora=lora,
            pub=self._published,
            params=self.params,
            floors=(self.ttft.floor, self.tpot.floor),
            known=self._known(),
            pending=self._pending,
            features=features,
        )

    def _model(self) -> Model:
        """The weights and speeds the costs read, as of the last publication."""
        return model_of(self._published, self.params, self.tpot.floor, self._known())

    def _known(self) -> frozenset[str] | None:
        """The adapters whose slots a cold load may take (None: assume every slot is)."""
        return self._adapters if self.params.coldSlotOnlyWhenShort else None

    def costs(
        self, request: LLMRequest, endpoints: Sequence[Endpoint], cycle_state: CycleState
    ) -> list[float]:
        """``predict(...)[i][5]`` for every endpoint, at a fraction of the cost
        (``_latency_costs``). The same terms summed in another order, so equal within
        rounding; a test holds them equal on random pools."""
        shares, tokens, lora = self._setup(request, cycle_state)
        n_out = self._published.n_out
        per_request = tokens * 1000.0 + n_out
        a1_tokens = self._published.w_ttft[1] * tokens
        return self._cache.costs(
            endpoints,
            self._version,
            self._model,
            request=(self.ttft.floor, a1_tokens, per_request, lora, request.target_model),
            shares=shares,
            pending=self._pending,
        )

    def score(
        self, request: LLMRequest, endpoints: Sequence[Endpoint], cycle_state: CycleState
    ) -> list[float]:
        if not endpoints:
            return []
        self.begin(request, cycle_state)
        slo_ttft, slo_tpot = objectives(request.headers)
        if slo_ttft is None and slo_tpot is None:
            return relative_scores(self.costs(request, endpoints, cycle_state), self.params.spread)
        cands = self.predict(request, endpoints, cycle_state, features=False)
        return headroom_scores(cands, slo_ttft, slo_tpot, self.params.spread)

    def begin(self, request: LLMRequest, cycle_state: CycleState) -> None:
        """Publish what is due; let ``on_picked`` learn this pick; note the predictions."""
        if self._published.unpublished:
            now = cycle_state.get(NOW_KEY)
            if isinstance(now, float | int) and self._published.due(now):
                self._publish(now)
        cycle_state[_KEY] = request
        notes = cycle_state.get(NOTES_KEY)
        if notes is None:
            notes = cycle_state[NOTES_KEY] = {}
        notes[self.name] = Notes(self, request, cycle_state)

    # ---- learning ---------------------------------------------------------------------
    def on_picked(self, request: LLMRequest, endpoint: Endpoint, cycle_state: CycleState) -> None:
        # Recomputed for the one picked endpoint: within a cycle nothing it depends on moves.
        if cycle_state.get(_KEY) is not request:
            return
        m, target = endpoint.metrics, request.target_model
        if target not in self._adapters and target in m.running_adapters | m.waiting_adapters:
            self._pending.adapters = self._adapters | {target}
            self._cache.drop_all()  # loads hold the adapters sent to each pod
            self._version += 1  # the costs' model holds the known adapters (slots_short)
        (cand,) = self.predict(request, [endpoint], cycle_state)
        self._pending.add(request.request_id, Pending(endpoint.name, cand, target))
        now = cycle_state.get(NOW_KEY)
        if self._memory.picked(endpoint.name, now if isinstance(now, float | int) else None):
            self._version += 1

    def prediction(self, request_id: str) -> tuple[float, float] | None:
        """The (TTFT, TPOT) predicted for a picked request still awaiting its response."""
        found = self._pending.get(request_id)
        return None if found is None else (found.cand[2], found.cand[3])

    def observe_response(
        self,
        request_id: str,
        endpoint_name: str,
        *,
        ttft: float | None,
        tpot: float | None,
        prompt_tokens: int | None,
        completion_tokens: int | None,
        now: float,
        final: bool = True,
    ) -> None:
        """Learn at once; publish to the scorer every ``publishEveryObservations`` reports
        or ``publishInterval`` seconds (also checked at scoring time), the first at once.

        A report that taught nothing (a failed or refused request's final report) does not
        count: publishing drops every endpoint's cached cost, so a flood of failures would
        otherwise make each pick recompute the whole pool."""
        if self._learn(request_id, endpoint_name, ttft, tpot, completion_tokens, final, now):
            self._published.unpublished += 1
            if self._published.due(now):
                self._publish(now)

    def _learn(
        self,
        request_id: str,
        endpoint_name: str,
        ttft: float | None,
        tpot: float | None,
        completion_tokens: int | None,
        final: bool,
        now: float,
    ) -> bool:
        """Whether the report taught anything: an output length, a TTFT or a TPOT."""
        learned = False
        if final and completion_tokens is not None and completion_tokens > 0:
            self._outputs_seen += 1
            rate = max(0.001, 1.0 / self._outputs_seen)
            self.output_tokens += rate * (completion_tokens - self.output_tokens)
            learned = True
        found = self._pending.pop(request_id) if final else self._pending.get(request_id)
        if found is None or found.pod != endpoint_name:
            return learned
        x_ttft, x_tpot, _, _, queue_wait, _ = found.cand
        if ttft is not None and not found.ttft_seen:
            found.ttft_seen = True
            self.ttft.observe(endpoint_name, x_ttft, max(self.ttft.floor, ttft - queue_wait))
            self._published.changed.add(endpoint_name)
            self._memory.heard(endpoint_name, now)
            learned = True
        if tpot is not None and completion_tokens is not None and completion_tokens > 1:
            self.tpot.observe(endpoint_name, x_tpot, tpot)
            self._published.changed.add(endpoint_name)
            self._memory.heard(endpoint_name, now)
            learned = True
        return learned

    def _publish(self, now: float) -> None:
        """Let the scorer read what was learned (silent pods reset, scale pinned near 1)."""
        self._memory.sweep(now)
        self._memory.recenter()
        self._published.publish(self.ttft, self.tpot, self.output_tokens, now)
        self._version += 1

    def joined(self, endpoint_name: str) -> None:
        """A pod joined the pool: if others have taught their speeds, price it like their
        median until its own first response (learned in full). Pods there before any
        response keep the prior and learn together. The prior of 1.0 is the speeds' mean
        (``Target.recenter`` pins their scale there), not the typical pod: with a few slow
        pods in the pool the median is faster than the mean, and a newcomer is priced like
        the median."""
        if endpoint_name in self.ttft.speeds.factors or endpoint_name in self.tpot.speeds.factors:
            return
        self.ttft.speeds.join(endpoint_name)
        self.tpot.speeds.join(endpoint_name)
        self._published.publish_speeds(endpoint_name, self.ttft, self.tpot)
        self._cache.drop(endpoint_name)

    def forget(self, endpoint_name: str) -> None:
        """A pod left the pool: drop its learned speeds and cached load."""
        self._version += 1
        self._cache.drop(endpoint_name)
        self._pending.forget(endpoint_name)
        self.ttft.speeds.forget(endpoint_name)
        self.tpot.speeds.forget(endpoint_name)
        self._published.forget(endpoint_name)
        self._memory.forget(endpoint_name)
