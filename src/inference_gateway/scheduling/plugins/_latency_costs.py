"""The ``latency-predictor``'s scoring hot path: predicted cost per candidate, cheaply.

``LatencyPredictor.predict`` is the readable model; this is the same arithmetic arranged
for speed, in two paths. While the model stays the same between picks (no response has
been observed since the last one), what depends on an endpoint and the model but not on
the request (``Terms``) is cached per endpoint and a pick adds only the request's part
(uncached prompt tokens, a cold LoRA adapter, its KV share). A new model version makes
those terms stale: when the previous version served a single pick (the predictor publishing
every response), the first pick with the new one computes each cost in one pass without
building the cache, and only a second pick fills it; when the previous version served
several (publication batched, the default), the first pick fills the cache at once. Both
paths read what depends on the endpoint alone (``Load``) from a cache kept across model
versions, until the endpoint's metrics snapshot (swapped whole per scrape) or in-flight
count changes. The LoRA slot terms read the predictor's own pending requests per pod and
adapter, so the predictor drops an endpoint's entries whenever those move (``drop``).

Both paths evaluate every expression in the association the first cached version did,
only with constants hoisted: a recorded-picks test holds scores fixed bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from inference_gateway.datastore.types import Endpoint, Metrics
from inference_gateway.scheduling.plugins._latency_parts import LatencyParams, Published
from inference_gateway.scheduling.plugins._lora_slots import lora_slots, slots_short, starving

MAX_TERMS = 65536
"""Cached endpoints beyond this (pods that left without ``forget``) start the cache afresh."""

Load = tuple[Metrics, int, float, int, int, int, bool, bool, int, frozenset[str], float, bool]
"""(metrics, in-flight, KV use, waiting, requests queued ahead, running (1 if none),
whether some wait for a LoRA slot, whether every adapter slot is busy, KV slots (0 when
unknown), the adapters a request finds loaded (``lora_slots``), k/(k+1) for the fewest
(k) in-flight requests of a running adapter when every slot is busy, else 0, whether some
wait for a slot that is busy (``starving``)) of one endpoint: what its cost needs besides
the model."""

Model = tuple[
    tuple[float, float, float, float, float, float],
    tuple[float, float, float, float, float],
    float,
    Callable[[str, float], float],
    Callable[[str, float], float],
    tuple[float, float, float, frozenset[str] | None],
    float,
]
"""One version of the model as the costs read it: TPOT (c0, c1/100, c2, c3/10, floor,
output tokens after the first), TTFT (a0, a2/100, a3/10, a5, a6), the decode externality
per in-flight request at unit speed, the TPOT and TTFT speed lookups, the LoRA slot terms: the
weight of the wait for a busy slot, what taking a slot costs, in service times, the
weight of holding a slot that waiters need (``slotHoldCost``), and the adapters known to the
predictor, when taking a slot costs only where slots are short (``slots_short``; None:
everywhere), and the weight of the prefill externality (``externality``)."""


class PendingShares(Protocol):
    """What the costs read from the predictor's pending requests (``PendingRequests``)."""

    def sent(self, pod: str) -> frozenset[str]:
        """The adapters of the gateway's requests pending on ``pod``."""
        ...

    def drain_share(self, pod: str, running: frozenset[str]) -> float:
        """k/(k+1) for the running adapter with the fewest (k) pending requests."""
        ...

    def hold_share(
        self, pod: str, target: str, running: frozenset[str], waiting: frozenset[str]
    ) -> float:
        """The waiters times the share of a service time one more request of ``target``
        holds their slot."""
        ...


Terms = tuple[
    Metrics, int, float, float, float, float, float, frozenset[str], float, frozenset[str], float
]
"""(metrics, in-flight, learned TTFT before the prompt, TTFT speed, cold-LoRA TTFT, the
cost's request-independent rest (queue wait, decode, externality at no KV share), the
externality per token of this request's KV share, loaded adapters, the weighted service
time a running adapter's request holds a slot for when some wait for one (else 0), waiting
adapters, the prefill externality per second of the prompt's TTFT at unit speed) of one
endpoint."""


def model_of(
    pub: Published, params: LatencyParams, tpot_floor: float, known: frozenset[str] | None
) -> Model:
    """The ``Model`` of the predictor's last publication, constants pre-divided as the
    features are scaled (in-flight /100, waiting /10)."""
    a0, _, a2, a3, a5, a6 = pub.w_ttft
    c0, c1, c2, c3 = pub.w_tpot
    n_out = pub.n_out
    return (
        (c0, c1 / 100.0, c2, c3 / 10.0, tpot_floor, n_out),
        (a0, a2 / 100.0, a3 / 10.0, a5, a6),
        params.externality * n_out / 2.0,
        pub.speed_tpot.get,
        pub.speed_ttft.get,
        (params.slotWait, params.coldSlotCost, params.slotHoldCost, known),
        params.externality,
    )


def load_of(e: Endpoint, pending: PendingShares) -> Load:
    m, flight, mw = e.metrics, e.in_flight, e.metrics.waiting
    loaded, blocked = lora_slots(m, pending.sent(e.name))
    drain = 0.0
    if blocked and m.running_adapters:
        drain = pending.drain_share(e.name, m.running_adapters)
    return (
        m,
        flight,
        m.kv_usage,
        mw,
        mw + max(0, flight - m.running - mw),
        m.running or 1,
        bool(m.waiting_adapters - m.running_adapters),
        blocked,
        m.num_blocks * m.block_size if m.num_blocks and m.block_size else 0,
        loaded,
        drain,
        starving(m),
    )


def terms_of(load: Load, name: str, model: Model) -> Terms:
    m, flight, kv, mw, queued, running, lora_waits, blocked, kv_slots, active, k_drain, starved = (
        load
    )
    (
        (c0, c1, c2, c3, f_tpot, n_out),
        (a0, a2, a3, a5, a6),
        ext0,
        tpot_speed,
        ttft_speed,
        (slot, cold_slot, hold, known),
        ext_prefill,
    ) = model
    taken = cold_slot if slots_short(m, known) else 0.0
    speed = tpot_speed(name, 1.0)
    s_ttft = ttft_speed(name, 1.0)
    tpot = speed * (c0 + c1 * flight + c2 * kv + c3 * mw)
    if tpot < f_tpot:
        tpot = f_tpot
    queue_wait = lora_queue = 0.0
    if mw:
        queue_wait = queued * tpot * n_out / running
        if lora_waits:
            queue_wait, lora_queue = 0.0, queue_wait
    ext = ext0 * flight * speed
    return (
        m,
        flight,
        a0 + a2 * flight + a3 * mw,
        s_ttft,
        s_ttft * (a5 + a6 * blocked) + lora_queue + (slot * k_drain + taken) * tpot * n_out,
        queue_wait + tpot * n_out + ext * c1,
        ext * c2 / kv_slots if kv_slots else 0.0,
        active,
        hold * (tpot * n_out) if starved else 0.0,
        m.waiting_adapters,
        ext_prefill * speed * flight,
    )


class CostCache:
    """Per-endpoint loads and terms of one predictor, and which model version they hold."""

    __slots__ = ("loads", "model", "reused", "terms", "version")

    def __init__(self) -> None:
        self.loads: dict[str, Load] = {}
        self.terms: dict[str, Terms] = {}
        self.model: Model | None = None
        self.version = -1
        self.reused = False
        """Whether the current model version has served more than one pick."""

    def drop(self, name: str) -> None:
        """Forget one endpoint's load and terms: its pending requests per adapter moved."""
        self.loads.pop(name, None)
        self.terms.pop(name, None)

    def drop_all(self) -> None:
        """Forget every endpoint's load and terms: which targets are adapters changed."""
        self.loads.clear()
        self.terms.clear()

    def costs(
        self,
        endpoints: Sequence[Endpoint],
        version: int,
        model_of: Callable[[], Model],
        *,
        request: tuple[float, float, float, bool, str],
        shares: Mapping[str, float],
        pending: PendingShares,
    ) -> list[float]:
        """Predicted cost per endpoint; ``request`` is (TTFT floor, a1 x prompt kilotokens,
        per-request tokens, whether the target is a known adapter, the target)."""
        if len(self.loads) > MAX_TERMS:
            self.loads.clear()
        if version != self.version or self.model is None:
            self.version, self.model = version, model_of()
            self.terms.clear()
            reused, self.reused = self.reused, False
            if not reused:
                return self._one_pass(endpoints, self.model, request, shares, pending)
        else:
            self.reused = True
        if len(self.terms) > MAX_TERMS:
            self.terms.clear()
        return self._cached(endpoints, self.model, request, shares, pending)

    def _cached(
        self,
        endpoints: Sequence[Endpoint],
        model: Model,
        request: tuple[float, float, float, bool, str],
        shares: Mapping[str, float],
        pending: PendingShares,
    ) -> list[float]:
        f_ttft, a1_tokens, per_request, lora, target = request
        hold_share = pending.hold_share
        terms, loads = self.terms, self.loads
        out: list[float] = []
        append = out.append
        shares_get = shares.get if shares else None
        for e in endpoints:
            name, m, flight = e.name, e.metrics, e.in_flight
            t = terms.get(name)
            if t is None or t[0] is not m or t[1] != flight:
                load = loads.get(name)
                if load is None or load[0] is not m or load[1] != flight:
                    load = loads[name] = load_of(e, pending)
                t = terms[name] = terms_of(load, name, model)
            _, _, base, s_ttft, cold, rest, ext_kv, active, held, waiting, ext_pre = t
            prompt = a1_tokens * (1.0 - shares_get(name, 0.0)) if shares_get else a1_tokens
            ttft = s_ttft * (base + prompt)
            if ttft < f_ttft:
                ttft = f_ttft
            if lora and target not in active:
                ttft += cold
            elif held and lora:
                share = hold_share(name, target, active, waiting)
                append(ttft + rest + ext_kv * per_request + ext_pre * prompt + held * share)
                continue
            append(ttft + rest + ext_kv * per_request + ext_pre * prompt)
        return out

    def _one_pass(
        self,
        endpoints: Sequence[Endpoint],
        model: Model,
        request: tuple[float, float, float, bool, str],
        shares: Mapping[str, float],
        pending: PendingShares,
    ) -> list[float]:
        """``terms_of`` and ``_cached`` fused, expression for expression."""
        f_ttft, a1_tokens, per_request, lora, target = request
        hold_share = pending.hold_share
        (
            (c0, c1, c2, c3, f_tpot, n_out),
            (a0, a2, a3, a5, a6),
            ext0,
            tpot_speed,
            ttft_speed,
            (slot, cold_slot, hold, known),
            ext_prefill,
        ) = model
        loads = self.loads
        out: list[float] = []
        append = out.append
        shares_get = shares.get if shares else None
        for e in endpoints:
            name, m, flight = e.name, e.metrics, e.in_flight
            load = loads.get(name)
            if load is None or load[0] is not m or load[1] != flight:
                load = loads[name] = load_of(e, pending)
            (_, _, kv, mw, queued, running, lora_waits, blocked, kv_slots, active, k_drain,
             starved) = load  # fmt: skip
            speed = tpot_speed(name, 1.0)
            s_ttft = ttft_speed(name, 1.0)
            tpot = speed * (c0 + c1 * flight + c2 * kv + c3 * mw)
            if tpot < f_tpot:
                tpot = f_tpot
            queue_wait = lora_queue = 0.0
            if mw:
                queue_wait = queued * tpot * n_out / running
                if lora_waits:
                    queue_wait, lora_queue = 0.0, queue_wait
            ext = ext0 * flight * speed
            prompt = a1_tokens * (1.0 - shares_get(name, 0.0)) if shares_get else a1_tokens
            ttft = s_ttft * (a0 + a2 * flight + a3 * mw + prompt)
            if ttft < f_ttft:
                ttft = f_ttft
            if lora and target not in active:
                taken = cold_slot if slots_short(m, known) else 0.0
                ttft += (
                    s_ttft * (a5 + a6 * blocked)
                    + lora_queue
                    + (slot * k_drain + taken) * tpot * n_out
                )
            ext_kv = ext * c2 / kv_slots if kv_slots else 0.0
            cost = (
                ttft
                + (queue_wait + tpot * n_out + ext * c1)
                + ext_kv * per_request
                + ext_prefill * speed * flight * prompt
            )
            if starved and lora and hold and target in active:
                held = hold * (tpot * n_out)
                cost += held * hold_share(name, target, active, m.waiting_adapters)
            append(cost)
        return out
