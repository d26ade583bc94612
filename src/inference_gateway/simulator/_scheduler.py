"""What each step computes, decided as vLLM v1's scheduler decides it.

First the running sequences: one decode token each (their new KV blocks taken, the newest
running sequence preempted while blocks run out), then chunks of unfinished prefills, oldest
first. Then, if nothing was preempted, waiting requests are admitted FIFO while the token
budget, ``max_num_seqs`` and free blocks last; a request whose adapter cannot get a LoRA
slot is skipped, not blocking the queue. A preempted sequence frees its blocks, goes to the
head of the queue and later recomputes prompt plus generated tokens.

Separate from the engine, which owns time (the clock, step durations, runs, arrivals and
finishes): this module owns the queues, the KV pool, the LoRA slots and the decode batch,
and answers one question per step, "what goes into it", along with the vLLM counters that
answer moves (preemptions, prefix-cache queries and hits, prompt tokens).
"""

from __future__ import annotations

from collections import Counter, deque

from inference_gateway.simulator._blocks import BlockPool, PrefixHasher
from inference_gateway.simulator._decode import DecodeBatch
from inference_gateway.simulator._lora import LoraSlots
from inference_gateway.simulator._seq import DECODE, PREFILL, WAITING, Seq
from inference_gateway.simulator.config import EngineConfig

Batch = tuple[int, int, list[Seq], float]
"""A step's prefill tokens, prefill context, sequences whose prefill it completes, LoRA load
time."""


class Scheduler:
    __slots__ = (
        "_bs", "_hasher", "config", "decode", "lora", "num_preemptions", "pool", "prefilling",
        "prefix_cache_hits", "prefix_cache_queries", "prompt_tokens_total", "running",
        "waiting", "waiting_adapters",
    )  # fmt: skip

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.pool = BlockPool(config.kv_blocks)
        self.lora = LoraSlots(config.max_loras)
        self.decode = DecodeBatch(config.block_size)
        self.waiting: deque[Seq] = deque()
        self.waiting_adapters: Counter[str] = Counter()
        self.running: dict[int, Seq] = {}
        self.prefilling: list[Seq] = []
        self.num_preemptions = 0
        self.prefix_cache_queries = 0
        self.prefix_cache_hits = 0
        self.prompt_tokens_total = 0
        self._hasher = PrefixHasher(config.model)
        self._bs = config.block_size

    def schedule(self, now: float, gstep: int) -> Batch | None:
        """Compose the step after ``gstep``; None when it only decodes (a run may start)."""
        g, bs, pool, dec = gstep, self._bs, self.pool, self.decode
        need = dec.cnt[-g % bs] if dec.d else 0
        preempted = False
        while need > pool.free and self.running:
            victim = self.running[next(reversed(self.running))]
            if victim.state == DECODE and (g + victim.cls) % bs == 0:
                need -= 1
            self.preempt(victim, g)
            preempted = True
        if need:
            pool.take(need)
        dec.alloc_upto = g + 1
        budget = self.config.max_num_batched_tokens - dec.d
        prefill, ctx, lora_cost = 0, 0, 0.0
        done: list[Seq] = []
        for seq in list(self.prefilling):
            if budget <= 0:
                break
            if seq.state != PREFILL:
                continue
            chunk = self._grow_prefill(seq, min(seq.n + seq.t - seq.computed, budget), g)
            if chunk < 0:
                preempted = True
                continue
            budget -= chunk
            prefill += chunk
            ctx += seq.computed
            if seq.computed == seq.n + seq.t:
                done.append(seq)
        if not preempted:
            admitted, admitted_ctx, lora_cost = self._admit(budget, done, now)
            prefill += admitted
            ctx += admitted_ctx
        if dec.d and not preempted and not done and prefill == 0 and lora_cost == 0.0:
            return None
        self.prefilling = [s for s in self.prefilling if s.state == PREFILL and s not in done]
        return prefill, ctx, done, lora_cost

    def _admit(self, budget: int, done: list[Seq], now: float) -> tuple[int, int, float]:
        cfg, pool, bs = self.config, self.pool, self._bs
        waiting, running = self.waiting, self.running
        skipped: list[Seq] = []
        prefill = ctx = 0
        lora_cost = 0.0
        while waiting and budget > 0 and len(running) < cfg.max_num_seqs:
            seq = waiting[0]
            if seq.adapter is not None and not self.lora.fits(seq.adapter):
                skipped.append(waiting.popleft())
                continue
            if seq.hashes is None:
                seq.hashes = (
                    self._hasher.chain(seq.adapter, seq.req.block_keys[: seq.n // bs])
                    if cfg.enable_prefix_caching
                    else ()
                )
            target = seq.n + seq.t
            hit = pool.lookup(seq.hashes, (target - 1) // bs)
            chunk = min(target - hit * bs, budget)
            kv = hit * bs + chunk
            hashed = min(len(seq.hashes), kv // bs)
            private = -(-kv // bs) - hashed
            if pool.cost(seq.hashes, 0, hashed, private) > pool.free:
                break
            waiting.popleft()
            if seq.adapter is not None:
                self.waiting_adapters[seq.adapter] -= 1
                if self.lora.acquire(seq.adapter):
                    lora_cost += cfg.lora_load_time
            pool.acquire(seq.hashes, 0, hashed, private)
            seq.held, seq.private, seq.computed = hashed, private, kv
            seq.state = PREFILL
            running[seq.key] = seq
            self.prefix_cache_queries += target
            self.prefix_cache_hits += hit * bs
            rec = seq.rec
            if rec.scheduled != rec.scheduled:  # first admission (nan check)
                rec.scheduled = now
                rec.cached_tokens = hit * bs
                self.prompt_tokens_total += seq.n
            budget -= chunk
            prefill += chunk
            ctx += kv
            if kv == target:
                done.append(seq)
            else:
                self.prefilling.append(seq)
        if skipped:
            waiting.extendleft(reversed(skipped))
        return prefill, ctx, lora_cost

    def _grow_prefill(self, seq: Seq, chunk: int, gstep: int) -> int:
        """Extend a chunked prefill; preempt the newest until it fits (-1: seq preempted)."""
        bs, pool, hashes = self._bs, self.pool, seq.hashes or ()
        kv = seq.computed + chunk
        hashed = min(len(hashes), kv // bs)
        private = -(-kv // bs) - hashed
        while pool.cost(hashes, seq.held, hashed, private - seq.private) > pool.free:
            victim = self.running[next(reversed(self.running))]
            self.preempt(victim, gstep)
            if victim is seq:
                return -1
        pool.acquire(hashes, seq.held, hashed, private - seq.private)
        seq.held, seq.private, seq.computed = hashed, private, kv
        return chunk

    def preempt(self, seq: Seq, gstep: int) -> None:
        if seq.state == DECODE:
            seq.t = gstep - seq.anchor
            private = self.decode.leave(seq, gstep)
        else:
            private = seq.private
        self.release(seq, private)
        seq.held = seq.private = seq.computed = 0
        seq.rec.preemptions += 1
        self.num_preemptions += 1
        self.enqueue(seq, front=True)

    def release(self, seq: Seq, private: int) -> None:
        """Give back a running sequence's blocks (``private`` unhashed ones) and its slot."""
        self.pool.release(seq.hashes or (), seq.held, private)
        del self.running[seq.key]
        if seq.adapter is not None:
            self.lora.release(seq.adapter)

    def enqueue(self, seq: Seq, *, front: bool) -> None:
        seq.state = WAITING
        if front:
            self.waiting.appendleft(seq)
        else:
            self.waiting.append(seq)
        if seq.adapter is not None:
            self.waiting_adapters[seq.adapter] += 1

    def dequeue(self, seq: Seq) -> None:
        """Take a waiting sequence out of the queue (its client left)."""
        self.waiting.remove(seq)
        if seq.adapter is not None:
            self.waiting_adapters[seq.adapter] -= 1
