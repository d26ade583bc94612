"""The ``latency-predictor``'s readable model: features, predicted TTFT and TPOT, the queue
wait and the cost of one request on each candidate.

``_latency_costs`` is the same arithmetic arranged for speed (the scoring hot path); a test
holds the two equal. Kept apart from the plugin (``plugins.latency``), whose reasons to
change are learning, publication and the pool's comings and goings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from inference_gateway.datastore.types import Endpoint
from inference_gateway.scheduling.plugins._latency_parts import Candidate, LatencyParams, Published
from inference_gateway.scheduling.plugins._latency_pending import PendingRequests
from inference_gateway.scheduling.plugins._lora_slots import lora_slots, slots_short, starving


def predict_candidates(
    target: str,
    endpoints: Sequence[Endpoint],
    *,
    shares: Mapping[str, float],
    tokens: float,
    lora: bool,
    pub: Published,
    params: LatencyParams,
    floors: tuple[float, float],
    known: frozenset[str] | None,
    pending: PendingRequests,
    features: bool = True,
) -> list[Candidate]:
    """One ``Candidate`` per endpoint, in order, for a request of ``target`` with ``tokens``
    prompt kilotokens (``shares``: the prefix each pod holds; ``lora``: whether ``target``
    is a known adapter), under the published model ``pub``; ``floors`` are the (TTFT, TPOT)
    floors. Features are empty unless ``features``: only learning needs them."""
    a0, a1, a2, a3, a5, a6 = pub.w_ttft
    c0, c1, c2, c3 = pub.w_tpot
    speed_ttft, speed_tpot = pub.speed_ttft.get, pub.speed_tpot.get
    f_ttft, f_tpot = floors
    n_out = pub.n_out
    ext_half = params.externality * n_out / 2.0
    slot, cold_slot = params.slotWait, params.coldSlotCost
    hold = params.slotHoldCost
    per_request = tokens * 1000.0 + n_out
    sent = pending.sent
    out: list[Candidate] = []
    for e in endpoints:
        m = e.metrics
        name = e.name
        uncached = tokens * (1.0 - shares.get(name, 0.0)) if shares else tokens
        flight = e.in_flight / 100.0
        waiting = m.waiting / 10.0
        kv = m.kv_usage
        cold = blocked = 0.0
        if lora:  # the slots matter only to a known adapter's request
            loaded, full = lora_slots(m, sent(name))
            if target not in loaded:
                cold = 1.0
                blocked = 1.0 if full else 0.0
        speed = speed_tpot(name, 1.0)
        tpot = speed * (c0 + c1 * flight + c2 * kv + c3 * waiting)
        if tpot < f_tpot:
            tpot = f_tpot
        ttft = speed_ttft(name, 1.0) * (a0 + a1 * uncached + a2 * flight + a3 * waiting)
        if ttft < f_ttft:
            ttft = f_ttft
        if cold:
            ttft += speed_ttft(name, 1.0) * (a5 + a6 * blocked)
        # Queueing is structural, not learned: each request queued ahead waits for a
        # batch slot, one of which frees every (predicted service time / batch) s. vLLM
        # serves requests whose adapter is loaded (or that need none) ahead of those
        # waiting for a LoRA slot, so only a cold request queues behind them; waiters
        # whose adapters all run wait for batch or KV room, in order, like any queue.
        queue_wait = 0.0
        if m.waiting and (cold or not m.waiting_adapters - m.running_adapters):
            queued = m.waiting + max(0, e.in_flight - m.running - m.waiting)
            queue_wait = queued * tpot * n_out / (m.running or 1)
            ttft += queue_wait
        # A cold adapter with every slot busy waits until a running one drains: the
        # one with the fewest of the gateway's requests, k/(k+1) of an output away.
        if blocked and slot and m.running_adapters:
            wait = slot * pending.drain_share(name, m.running_adapters) * tpot * n_out
            queue_wait += wait
            ttft += wait
        # What this request costs the ones already there: each of them waits once for
        # its prefill (the engine computes it in their steps), and decodes its remaining
        # tokens (half an output on average) one marginal step slower. The prefill's
        # share is why a prompt sent away from the pod holding its prefix costs more than
        # its own TTFT shows: without it, on a busy pool `predicted` hit the prefix
        # cache 0.83 of the time against scorer-mix's 0.96, and every running request's
        # TPOT paid for the difference (docs/benchmarks, session 23). It is scaled by the
        # pod's TPOT speed (its step speed), not the TTFT one, which also absorbs queueing:
        # times ~150 in flight, that noise sent long prompts to a few pods of a uniform
        # 100-pod pool at overload (p90 e2e 1.05x).
        blocks, block_size = m.num_blocks, m.block_size
        kv_share = per_request / (blocks * block_size) if blocks and block_size else 0.0
        slower = speed * (c1 / 100.0 + c2 * kv_share)
        cost = (
            ttft
            + tpot * n_out
            + ext_half * e.in_flight * slower
            + params.externality * e.in_flight * speed * (a1 * uncached)
        )
        if cold:
            # Loading it takes a slot that later requests of other adapters may need.
            if slots_short(m, known):
                cost += cold_slot * tpot * n_out
        elif lora and hold and starving(m):
            # Running here, it may hold the slot that requests waiting here need.
            share = pending.hold_share(name, target, loaded, m.waiting_adapters)
            cost += hold * (tpot * n_out) * share
        if not features:
            out.append(((), (), ttft, tpot, queue_wait, cost))
            continue
        x_ttft = (1.0, uncached, flight, waiting, cold, blocked)
        out.append((x_ttft, (1.0, flight, kv, waiting), ttft, tpot, queue_wait, cost))
    return out
