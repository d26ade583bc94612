"""An independent copy of an engine's exact state, to ask "what if" without touching it.

The benchmark's ``lookahead`` bound forks every candidate engine at each arrival, submits
the request to each fork and runs it with no further arrivals. A fork shares only what
nobody mutates (the config, the latency profile, frozen ``SimRequest``s, hash tuples and
the hasher); queues, the KV pool, LoRA slots, the decode aggregates and every live
``Seq``/``RequestRecord`` are copied, so the fork and the original evolve apart. Its
histograms are fresh: a fork's observations are not the original's.

This reads the engine's private parts on purpose: it belongs to the simulator package, and
a fork must stay exact (same step times, same prefix hits, same preemptions) or the bound
it serves is not one.
"""

from __future__ import annotations

from collections import Counter, OrderedDict, deque

from inference_gateway.simulator._blocks import BlockPool
from inference_gateway.simulator._decode import DecodeBatch
from inference_gateway.simulator._lora import LoraSlots
from inference_gateway.simulator._scheduler import Scheduler
from inference_gateway.simulator._seq import Seq
from inference_gateway.simulator.engine import Engine
from inference_gateway.simulator.histogram import (
    E2E_BUCKETS,
    ITL_BUCKETS,
    TTFT_BUCKETS,
    Histogram,
)
from inference_gateway.simulator.records import RequestRecord


def _seq(old: Seq, memo: dict[int, Seq]) -> Seq:
    # Spelled out rather than looped over __slots__ or copy.copy: a fork copies every live
    # request, and the lookahead bound forks every pod at every arrival.
    new = memo.get(id(old))
    if new is None:
        new = _new_seq(Seq)
        new.req, new.key, new.n, new.m = old.req, old.key, old.n, old.m
        new.adapter, new.t, new.state, new.hashes = old.adapter, old.t, old.state, old.hashes
        new.held, new.private, new.computed = old.held, old.private, old.computed
        new.anchor, new.cls, new.ver = old.anchor, old.cls, old.ver
        r = old.rec
        new.rec = RequestRecord(
            r.request_id, r.adapter, r.prompt_tokens, r.max_tokens, r.arrival, r.queued,
            r.scheduled, r.first_token, r.finish, r.output_tokens, r.cached_tokens,
            r.preemptions, r.finish_reason,
        )  # fmt: skip
        memo[id(old)] = new
    return new


_new_seq = object.__new__


def _pool(old: BlockPool) -> BlockPool:
    new = BlockPool.__new__(BlockPool)
    new.num_blocks, new.used = old.num_blocks, old.used
    new._ref = old._ref.copy()
    new._evictable = OrderedDict.fromkeys(old._evictable)
    return new


def _lora(old: LoraSlots) -> LoraSlots:
    new = LoraSlots.__new__(LoraSlots)
    new.max_loras = old.max_loras
    new._users = old._users.copy()
    return new


def _decode(old: DecodeBatch, memo: dict[int, Seq]) -> DecodeBatch:
    new = DecodeBatch.__new__(DecodeBatch)
    new.bs, new.d, new.ssum, new.alloc_upto = old.bs, old.d, old.ssum, old.alloc_upto
    new.cnt = list(old.cnt)
    # A heap stays a heap under an order-preserving copy of its list.
    new.finish = [(g, k, v, _seq(s, memo)) for g, k, v, s in old.finish]
    return new


def _scheduler(old: Scheduler, memo: dict[int, Seq]) -> Scheduler:
    new = Scheduler.__new__(Scheduler)
    new.config, new._bs, new._hasher = old.config, old._bs, old._hasher
    new.pool = _pool(old.pool)
    new.lora = _lora(old.lora)
    new.decode = _decode(old.decode, memo)
    new.waiting = deque(_seq(s, memo) for s in old.waiting)
    new.waiting_adapters = Counter(old.waiting_adapters)
    new.running = {k: _seq(s, memo) for k, s in old.running.items()}
    new.prefilling = [_seq(s, memo) for s in old.prefilling]
    new.num_preemptions = old.num_preemptions
    new.prefix_cache_queries = old.prefix_cache_queries
    new.prefix_cache_hits = old.prefix_cache_hits
    new.prompt_tokens_total = old.prompt_tokens_total
    return new


def fork(engine: Engine) -> Engine:
    """A copy of ``engine`` that evolves exactly as the original would, independently."""
    memo: dict[int, Seq] = {}
    new = Engine.__new__(Engine)
    new.config, new.profile, new.slowdown = engine.config, engine.profile, engine.slowdown
    new._sched = _scheduler(engine._sched, memo)
    new._dec = new._sched.decode
    new.pool = new._sched.pool
    new.adapters = set(engine.adapters)
    new.now, new.gstep = engine.now, engine.gstep
    new.generation_tokens_total = engine.generation_tokens_total
    new.success = Counter(engine.success)
    new.ttft, new.itl, new.e2e = (
        Histogram(TTFT_BUCKETS),
        Histogram(ITL_BUCKETS),
        Histogram(E2E_BUCKETS),
    )
    new._bs = engine._bs
    new._pending = [(t, k, _seq(s, memo)) for t, k, s in engine._pending]
    new._live = {rid: _seq(s, memo) for rid, s in engine._live.items()}
    new._keys = engine._keys
    new._phase, new._step_end = engine._phase, engine._step_end
    new._step_done = [_seq(s, memo) for s in engine._step_done]
    new._step_decodes, new._run_max = engine._step_decodes, engine._run_max
    return new
