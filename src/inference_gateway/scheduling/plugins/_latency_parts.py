"""The ``latency-predictor``'s parameters, priors, small records, and how predicted costs
become scores (``plugins.latency``).

Split from the scorer so the scorer module holds only the prediction and the learning.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from pydantic import Field

from inference_gateway.datastore.types import Endpoint
from inference_gateway.scheduling.framework import CycleState, Params
from inference_gateway.scheduling.latency_model import Target
from inference_gateway.scheduling.saturation import Seconds
from inference_gateway.scheduling.types import LLMRequest

CHARS_PER_TOKEN = 4.0
# Priors in seconds, per feature: sized on the simulator's H100/Llama-3-8B step model.
# TTFT x = (1, uncached kilotokens, in-flight/100, waiting/10, LoRA cold, cold and blocked)
TTFT_PRIOR = (0.03, 0.02, 0.01, 0.5, 0.025, 0.5)
# TPOT x = (1, in-flight/100, KV use, waiting/10)
TPOT_PRIOR = (0.006, 0.005, 0.02, 0.001)

Candidate = tuple[tuple[float, ...], tuple[float, ...], float, float, float, float]
"""(TTFT features, TPOT features, predicted TTFT, predicted TPOT, predicted queue wait,
cost) of one endpoint. The TTFT model learns what the queue wait leaves unexplained; the
cost is predicted e2e plus the delay this request adds to those in flight there."""


class Published:
    """The model as the scorer reads it: the learning targets' weights, per-pod speeds and
    the expected output length as of the last publication. Learning is immediate and
    publication batched (``due``), so responses learned between two picks leave the
    per-endpoint cost cache valid until the batch is published."""

    __slots__ = (
        "at",
        "changed",
        "every",
        "interval",
        "n_out",
        "speed_tpot",
        "speed_ttft",
        "unpublished",
        "w_tpot",
        "w_ttft",
    )

    def __init__(
        self, ttft: Target, tpot: Target, output_tokens: float, every: int, interval: float
    ) -> None:
        self.every, self.interval = every, interval
        self.w_ttft, self.w_tpot = tuple(ttft.rls.w), tuple(tpot.rls.w)
        self.speed_ttft: dict[str, float] = {}
        self.speed_tpot: dict[str, float] = {}
        self.n_out = max(0.0, output_tokens - 1.0)
        self.unpublished = 0
        """Reports learned since the last publication."""
        self.changed: set[str] = set()
        """Pods whose speeds were learned since the last publication."""
        self.at = float("-inf")
        """Clock time of the last publication: the first report is published at once."""

    def due(self, now: float) -> bool:
        return self.unpublished >= self.every or now - self.at >= self.interval

    def publish(self, ttft: Target, tpot: Target, output_tokens: float, now: float) -> None:
        self.w_ttft, self.w_tpot = tuple(ttft.rls.w), tuple(tpot.rls.w)
        changed, self.changed = self.changed, set()
        for pod in changed:
            self.publish_speeds(pod, ttft, tpot)
        self.n_out = max(0.0, output_tokens - 1.0)
        self.unpublished = 0
        self.at = now

    def publish_speeds(self, pod: str, ttft: Target, tpot: Target) -> None:
        """Let the scorer read ``pod``'s learned speeds now (none: the prior)."""
        self.changed.discard(pod)
        for live, published in (
            (ttft.speeds.factors, self.speed_ttft),
            (tpot.speeds.factors, self.speed_tpot),
        ):
            factor = live.get(pod)
            if factor is None:
                published.pop(pod, None)
            else:
                published[pod] = factor

    def forget(self, pod: str) -> None:
        self.speed_ttft.pop(pod, None)
        self.speed_tpot.pop(pod, None)
        self.changed.discard(pod)


class Predictor(Protocol):
    def predict(
        self, request: LLMRequest, endpoints: Sequence[Endpoint], cycle_state: CycleState
    ) -> list[Candidate]: ...


class Notes:
    """One cycle's request, predicted per endpoint only when an explanation is read."""

    __slots__ = ("cycle_state", "plugin", "request")

    def __init__(self, plugin: Predictor, request: LLMRequest, cycle_state: CycleState) -> None:
        self.plugin, self.request, self.cycle_state = plugin, request, cycle_state

    def __call__(self, endpoint: Endpoint) -> dict[str, float]:
        (cand,) = self.plugin.predict(self.request, [endpoint], self.cycle_state)
        return {"ttft": cand[2], "tpot": cand[3]}


class LatencyParams(Params):
    prefixScorer: str | None = None
    """Name of a ``prefix-cache-scorer`` whose index gives the prefix-hit estimate."""
    spread: float = Field(default=0.5, gt=0.0)
    """Predicted e2e this much worse than the best candidate's (0.5 = 1.5x) scores 0."""
    expectedOutputTokens: float = Field(default=200.0, gt=0.0)
    """Prior of the output length until completions have been observed."""
    externality: float = Field(default=1.0, ge=0.0)
    """Weight of the delay a request adds to those already on a pod (0: only its own):
    its prefill (the uncached prompt's share of the TTFT, at the pod's TPOT speed: its
    step speed, without the queueing its TTFT speed absorbs), which each waits for once,
    and its decode step and KV share, which slow each of their remaining steps."""
    slotWait: float = Field(default=1.0, ge=0.0)
    """Weight of the expected wait for a LoRA slot to free on a pod whose slots are all
    busy, from the gateway's own in-flight requests per running adapter (0: none)."""
    coldSlotCost: float = Field(default=1.0, ge=0.0)
    """What loading a cold adapter costs the requests that will later need that slot, in
    service times (TPOT x expected output) of this request (0: nothing). It keeps an
    adapter where it is unless the pods holding it are that much worse."""
    coldSlotOnlyWhenShort: bool = True
    """Charge ``coldSlotCost`` only on pods where loading the adapter leaves fewer free
    slots than the other known adapters not there (False: on every pod, as before session
    17). Where every pod has room for every adapter, a slot taken costs nobody anything."""
    slotHoldCost: float = Field(default=1.0, ge=0.0)
    """What a request of a running adapter costs the requests waiting on that pod for a
    LoRA slot (0: nothing). vLLM serves loaded adapters first, so a waiter gets a slot
    only when some running adapter drains; if this request's adapter would drain first
    (fewest of the gateway's requests there, k), one more request of it holds that slot
    about 1/(k+1) of a service time longer, for each waiter (at least one per waiting
    adapter). Without it, affinity keeps feeding the running adapters and the waiters
    starve for tens of seconds."""
    speedLearningRate: float = Field(default=0.1, gt=0.0, le=1.0)
    """Floor of the per-pod speed fit's step (1/n before that): ~10 responses of memory."""
    speedMemory: Seconds | None = 60.0
    """A pod that has taught nothing for this long is probed (None: never): it is priced
    like the pool's median pod until one request is picked there, then as before until
    that request's response teaches its speed in full. Without it a pod learned slow (a
    transient, a warmup) gets nothing while the fast pods have room, so nothing would show
    that it has since recovered; a pod that is still slow costs one request per silence."""
    maxPending: int = Field(default=65536, ge=1)
    """Picked requests awaiting their response; the oldest are dropped beyond this."""
    publishEveryObservations: int = Field(default=16, ge=1)
    """Responses learned before the scorer reads the new model (or ``publishInterval``)."""
    publishInterval: Seconds = 0.005
    """Time after which learned responses are read by the scorer even if fewer. Learning
    is immediate, publishing is batched: each publication invalidates the per-endpoint
    cost cache, so publishing every response would recompute every candidate's cost on
    nearly every pick. At high rates, where pick cost matters, the scorer lags at most 16
    responses (a few milliseconds); at low rates, at most 5 ms. Sized on the harness:
    against publishing every response, 5 ms left p90 e2e unchanged within noise over 12
    seeds x 3 loads of multi-lora with and without a 3x slower pod (one cell of 72 1.34x,
    two better), while 20 ms cost 1.14x on average at 110% load with the slow pod."""

    def plugin_refs(self) -> Iterator[tuple[str, str]]:
        if self.prefixScorer is not None:
            yield "prefixScorer", self.prefixScorer


def relative_scores(e2e: Sequence[float], spread: float) -> list[float]:
    """max(0, 1 - (v - best) / (best * spread)): clamped here (a NaN to 0, as the
    framework would), which spares the framework its per-element clamp."""
    best = min(e2e)
    scale = 1.0 / (best * spread)
    return [r if (r := 1.0 - scale * (v - best)) > 0.0 else 0.0 for v in e2e]


def headroom_scores(
    cands: Sequence[Candidate], slo_ttft: float | None, slo_tpot: float | None, spread: float
) -> list[float]:
    """Candidates predicted to meet both objectives score 0.5..1 by predicted cost, the
    others below 0.5 by how far they miss."""
    misses: list[float] = []
    for _, _, ttft, tpot, _, _ in cands:
        miss = 0.0
        if slo_ttft is not None and ttft > slo_ttft:
            miss += (ttft - slo_ttft) / slo_ttft
        if slo_tpot is not None and tpot > slo_tpot:
            miss += (tpot - slo_tpot) / slo_tpot
        misses.append(miss)
    meeting = [c[5] for c, miss in zip(cands, misses, strict=True) if miss == 0.0]
    rel = [max(0.0, v) for v in relative_scores(meeting, spread)] if meeting else []
    it = iter(rel)
    return [0.5 + 0.5 * next(it) if miss == 0.0 else 0.5 / (1.0 + miss) for miss in misses]
