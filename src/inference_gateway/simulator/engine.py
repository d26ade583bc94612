"""One vLLM server as a discrete-event model over an injected clock (no asyncio, no wall time).

Scheduling follows vLLM v1 (``vllm/v1/core/sched/scheduler.py``): each step first serves the
running sequences (one decode token each, then chunks of unfinished prefills, oldest first,
preempting the newest running sequence when KV blocks run out), then, if nothing was
preempted, admits waiting requests FIFO while the token budget, ``max_num_seqs`` and free
blocks last. A request whose adapter cannot get a LoRA slot is skipped, not blocking the
queue. A preempted sequence frees its blocks, goes to the head of the queue and later
recomputes prompt plus generated tokens (prefix-cache hits included).

Speed: decode state is aggregate, never per token. A decoding sequence's token count is
``gstep - anchor`` (``gstep`` counts engine steps), KV-block growth is counted per residue
class of the sequence length modulo ``block_size``, and context length is a running sum. A
stretch of steps in which only decoding happens is a *run*: its length is fixed when it
starts (until the next finish, block exhaustion or queued arrival) and it is applied in one
go, with step durations ``A + B*j`` summed in closed form. Results equal stepping one at a
time, up to float rounding.
"""

from __future__ import annotations

import heapq
import zlib
from collections import Counter, deque

from inference_gateway.simulator import _steps
from inference_gateway.simulator._blocks import BlockPool
from inference_gateway.simulator._lora import LoraSlots
from inference_gateway.simulator.config import EngineConfig
from inference_gateway.simulator.histogram import (
    E2E_BUCKETS,
    ITL_BUCKETS,
    TTFT_BUCKETS,
    Histogram,
)
from inference_gateway.simulator.records import (
    EngineError,
    QueueFullError,
    RequestRecord,
    SimRequest,
    UnknownModelError,
)

_WAITING, _PREFILL, _DECODE, _DONE = 0, 1, 2, 3
_IDLE, _STEP, _RUN = 0, 1, 2
_INF = float("inf")


class _Seq:
    __slots__ = (
        "adapter", "anchor", "cls", "computed", "hashes", "held", "key", "m", "n", "private",
        "rec", "req", "state", "t", "ver",
    )  # fmt: skip

    def __init__(self, req: SimRequest, rec: RequestRecord, key: int) -> None:
        self.req, self.rec, self.key = req, rec, key
        self.n, self.m, self.adapter = req.prompt_tokens, req.output_tokens, req.adapter
        self.t = 0
        self.state = _WAITING
        self.hashes: tuple[int, ...] | None = None
        self.held = self.private = self.computed = self.anchor = self.cls = self.ver = 0


class Engine:
    """A vLLM server in virtual time. Drive it with ``submit``, ``advance`` and
    ``next_event_time``; read its gauges and counters as properties."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.profile = config.latency
        self.slowdown = config.slowdown
        """Compute-time multiplier; may be changed at run time ('make this pod slow')."""
        self.pool = BlockPool(config.kv_blocks)
        self.adapters: set[str] = set(config.adapters)
        self.now = 0.0
        self.gstep = 0
        self.num_preemptions = 0
        self.prefix_cache_queries = 0
        self.prefix_cache_hits = 0
        self.prompt_tokens_total = 0
        self.generation_tokens_total = 0
        self.success: Counter[str] = Counter()
        self.ttft = Histogram(TTFT_BUCKETS)
        self.itl = Histogram(ITL_BUCKETS)
        self.e2e = Histogram(E2E_BUCKETS)
        self._bs = config.block_size
        self._pending: list[tuple[float, int, _Seq]] = []
        self._waiting: deque[_Seq] = deque()
        self._waiting_adapters: Counter[str] = Counter()
        self._running: dict[int, _Seq] = {}
        self._prefilling: list[_Seq] = []
        self._live: dict[str, _Seq] = {}
        self._lora = LoraSlots(config.max_loras)
        self._keys = 0
        # decode aggregates
        self._d = 0
        self._ssum = 0
        self._cnt = [0] * self._bs
        self._finish: list[tuple[int, int, int, _Seq]] = []
        self._alloc_upto = 0
        # the step in progress
        self._phase = _IDLE
        self._step_end = 0.0
        self._step_done: list[_Seq] = []
        self._step_decodes = 0
        self._run_max = 0
        self._seeds: dict[str | None, int] = {}

    # ---- public surface -------------------------------------------------------------
    @property
    def num_running(self) -> int:
        return len(self._running)

    @property
    def num_waiting(self) -> int:
        return len(self._waiting)

    @property
    def num_pending(self) -> int:
        """Requests accepted but still in API overhead (not yet in the waiting queue)."""
        return len(self._pending)

    @property
    def kv_usage(self) -> float:
        return self.pool.used / self.pool.num_blocks

    @property
    def running_adapters(self) -> list[str]:
        return self._lora.running

    @property
    def resident_adapters(self) -> list[str]:
        return self._lora.resident

    @property
    def waiting_adapters(self) -> list[str]:
        return [a for a, c in self._waiting_adapters.items() if c > 0]

    def register_adapter(self, name: str) -> None:
        self.adapters.add(name)

    def unregister_adapter(self, name: str) -> None:
        self.adapters.discard(name)
        self._lora.drop_if_idle(name)

    def serves(self, model: str) -> bool:
        return model == self.config.model or model in self.adapters

    def submit(self, req: SimRequest, now: float) -> RequestRecord:
        """Accept a request arriving at ``now``; it queues after ``api_overhead``."""
        cfg = self.config
        if req.adapter is not None and req.adapter not in self.adapters:
            raise UnknownModelError(f"The model `{req.adapter}` does not exist.")
        if req.prompt_tokens < 1 or req.output_tokens < 1:
            raise EngineError("prompt and output must each have at least one token")
        total = req.prompt_tokens + req.output_tokens
        if total > cfg.max_model_len or -(-total // self._bs) > cfg.kv_blocks:
            raise EngineError(
                f"This model's maximum context length is {cfg.max_model_len} tokens. "
                f"However, you requested {total} tokens ({req.prompt_tokens} in the messages, "
                f"{req.output_tokens} in the completion). Please reduce the length."
            )
        if len(self._waiting) + len(self._pending) >= cfg.max_waiting:
            raise QueueFullError("Failed to enqueue request, waiting requests queue is full")
        rec = RequestRecord(req.request_id, req.adapter, req.prompt_tokens, req.max_tokens, now)
        self._keys += 1
        seq = _Seq(req, rec, self._keys)
        ready = now + cfg.api_overhead
        heapq.heappush(self._pending, (ready, seq.key, seq))
        self._live[req.request_id] = seq
        if self._phase == _RUN:
            self._run_max = min(self._run_max, self._steps_to_reach(ready))
        return rec

    def abort(self, request_id: str) -> RequestRecord | None:
        """Drop a live request at once (its client left), freeing its slot and blocks.

        Call ``advance(now)`` first. The request is removed from the step in progress too,
        which then finishes a little sooner than vLLM's would (it still computes the token).
        """
        seq = self._live.pop(request_id, None)
        if seq is None:
            return None
        if seq.state == _WAITING:
            if seq.rec.queued != seq.rec.queued:  # still in API overhead
                self._pending.remove(next(e for e in self._pending if e[2] is seq))
                heapq.heapify(self._pending)
            else:
                self._waiting.remove(seq)
                if seq.adapter is not None:
                    self._waiting_adapters[seq.adapter] -= 1
        else:
            if seq.state == _DECODE:
                seq.t = self.gstep - seq.anchor
                private = self._leave_decode(seq)
                if self._phase == _STEP:
                    self._step_decodes -= 1
            else:
                private = seq.private
                if seq in self._step_done:
                    self._step_done.remove(seq)
                if seq in self._prefilling:
                    self._prefilling.remove(seq)
            self.pool.release(seq.hashes or (), seq.held, private)
            self._release_slot(seq)
            if self._phase == _RUN:
                self._run_max = 1  # recompose after the step in progress
        seq.state = _DONE
        rec = seq.rec
        rec.finish, rec.output_tokens, rec.finish_reason = self.now, seq.t, "abort"
        self.success["abort"] += 1
        return rec

    def tokens_generated(self, request_id: str) -> int:
        """Output tokens produced so far by a live request (0 when unknown or finished)."""
        seq = self._live.get(request_id)
        if seq is None:
            return 0
        return self.gstep - seq.anchor if seq.state == _DECODE else seq.t

    def next_event_time(self) -> float:
        """When ``advance`` next has something to do: a first token, finish or admission."""
        if self._phase == _STEP:
            return self._step_end
        if self._phase == _RUN:
            a, b = self._run_coeffs()
            return self.now + _steps.span(self._run_max, a, b)
        return self._pending[0][0] if self._pending else _INF

    def next_step_time(self) -> float:
        """End of the step in progress (token granularity, for streaming fronts)."""
        if self._phase == _RUN:
            return self.now + self._run_coeffs()[0]
        return self.next_event_time()

    def advance(self, until: float) -> list[RequestRecord]:
        """Run every step that ends by ``until``; return the requests that finished."""
        out: list[RequestRecord] = []
        while True:
            if self._phase == _STEP:
                if self._step_end > until:
                    break
                self._end_step(out)
                self._compose()
            elif self._phase == _RUN:
                a, b = self._run_coeffs()
                k = min(self._run_max, _steps.within(until - self.now, a, b))
                if k <= 0:
                    break
                self._apply_run(k, a, b)
                if k < self._run_max:
                    self._run_max -= k
                    break
                self._finish_due(out)
                self._compose()
            else:
                if not self._pending or self._pending[0][0] > until:
                    break
                self.now = max(self.now, self._pending[0][0])
                self._compose()
        return out

    # ---- composing a step -----------------------------------------------------------
    def _compose(self) -> None:
        now, pending = self.now, self._pending
        while pending and pending[0][0] <= now:
            seq = heapq.heappop(pending)[2]
            seq.rec.queued = seq.rec.arrival + self.config.api_overhead
            self._enqueue(seq, front=False)
        if not self._running and not self._waiting:
            self._phase = _IDLE
            return
        g, bs, pool = self.gstep, self._bs, self.pool
        need = self._cnt[-g % bs] if self._d else 0
        preempted = False
        while need > pool.free and self._running:
            victim = self._running[next(reversed(self._running))]
            if victim.state == _DECODE and (g + victim.cls) % bs == 0:
                need -= 1
            self._preempt(victim)
            preempted = True
        if need:
            pool.take(need)
        self._alloc_upto = g + 1
        budget = self.config.max_num_batched_tokens - self._d
        prefill, ctx, lora_cost = 0, 0, 0.0
        done: list[_Seq] = []
        for seq in list(self._prefilling):
            if budget <= 0:
                break
            if seq.state != _PREFILL:
                continue
            chunk = self._grow_prefill(seq, min(seq.n + seq.t - seq.computed, budget))
            if chunk < 0:
                preempted = True
                continue
            budget -= chunk
            prefill += chunk
            ctx += seq.computed
            if seq.computed == seq.n + seq.t:
                done.append(seq)
        if not preempted:
            admitted, lora_cost, budget = self._admit(budget, done)
            prefill += admitted[0]
            ctx += admitted[1]
        if self._d and not preempted and not done and prefill == 0 and lora_cost == 0.0:
            self._start_run()
            return
        self._prefilling = [s for s in self._prefilling if s.state == _PREFILL and s not in done]
        d, p = self._d, self.profile
        ctx += self._ssum + d * (g + 1)
        dur = p.b0 + p.b1 * prefill + p.b2 * d + p.b3 * ctx + p.b4 * (d + len(done))
        self._phase = _STEP
        self._step_end = now + dur * self.slowdown + lora_cost
        self._step_done = done
        self._step_decodes = d

    def _admit(self, budget: int, done: list[_Seq]) -> tuple[tuple[int, int], float, int]:
        cfg, pool, bs = self.config, self.pool, self._bs
        waiting, running = self._waiting, self._running
        skipped: list[_Seq] = []
        prefill = ctx = 0
        lora_cost = 0.0
        while waiting and budget > 0 and len(running) < cfg.max_num_seqs:
            seq = waiting[0]
            if seq.adapter is not None and not self._lora.fits(seq.adapter):
                skipped.append(waiting.popleft())
                continue
            if seq.hashes is None:
                seq.hashes = self._chain(seq) if cfg.enable_prefix_caching else ()
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
                self._waiting_adapters[seq.adapter] -= 1
                if self._lora.acquire(seq.adapter):
                    lora_cost += self.config.lora_load_time
            pool.acquire(seq.hashes, 0, hashed, private)
            seq.held, seq.private, seq.computed = hashed, private, kv
            seq.state = _PREFILL
            running[seq.key] = seq
            self.prefix_cache_queries += target
            self.prefix_cache_hits += hit * bs
            rec = seq.rec
            if rec.scheduled != rec.scheduled:  # first admission (nan check)
                rec.scheduled = self.now
                rec.cached_tokens = hit * bs
                self.prompt_tokens_total += seq.n
            budget -= chunk
            prefill += chunk
            ctx += kv
            if kv == target:
                done.append(seq)
            else:
                self._prefilling.append(seq)
        if skipped:
            waiting.extendleft(reversed(skipped))
        return (prefill, ctx), lora_cost, budget

    def _grow_prefill(self, seq: _Seq, chunk: int) -> int:
        """Extend a chunked prefill; preempt the newest until it fits (-1: seq preempted)."""
        bs, pool, hashes = self._bs, self.pool, seq.hashes or ()
        kv = seq.computed + chunk
        hashed = min(len(hashes), kv // bs)
        private = -(-kv // bs) - hashed
        while pool.cost(hashes, seq.held, hashed, private - seq.private) > pool.free:
            victim = self._running[next(reversed(self._running))]
            self._preempt(victim)
            if victim is seq:
                return -1
        pool.acquire(hashes, seq.held, hashed, private - seq.private)
        seq.held, seq.private, seq.computed = hashed, private, kv
        return chunk

    def _start_run(self) -> None:
        a, b = self._run_coeffs()
        k = self._finish[0][0] - self.gstep if self._finish else 1 << 60
        free, d, bs = self.pool.free, self._d, self._bs
        if free < d * -(-k // bs):
            k = min(k, self._kv_steps(free))
        if self._pending:
            k = min(k, _steps.reach(self._pending[0][0] - self.now, a, b))
        self._phase = _RUN
        self._run_max = max(1, k)

    def _kv_steps(self, free: int) -> int:
        """Steps (the current one included) before decode growth needs more than ``free``."""
        g, bs, d, cnt = self.gstep + 1, self._bs, self._d, self._cnt
        cycles = free // d
        g += cycles * bs
        free -= cycles * d
        k = 1 + cycles * bs
        while free >= cnt[-g % bs]:
            free -= cnt[-g % bs]
            g += 1
            k += 1
        return k

    def _run_coeffs(self) -> tuple[float, float]:
        p, d, s = self.profile, self._d, self.slowdown
        ctx = self._ssum + d * (self.gstep + 1)
        return s * (p.b0 + (p.b2 + p.b4) * d + p.b3 * ctx), s * p.b3 * d

    def _steps_to_reach(self, t: float) -> int:
        a, b = self._run_coeffs()
        return max(1, _steps.reach(t - self.now, a, b))

    # ---- applying steps ---------------------------------------------------------------
    def _apply_run(self, k: int, a: float, b: float) -> None:
        d = self._d
        first, last = a, a + b * (k - 1)
        itl = self.itl
        if itl.bucket_of(first) == itl.bucket_of(last):
            itl.counts[itl.bucket_of(first)] += d * k
            itl.sum += d * (k * a + b * k * (k - 1) / 2)
            itl.count += d * k
        else:
            for j in range(k):
                itl.observe(a + b * j, d)
        self.generation_tokens_total += d * k
        self.now += _steps.span(k, a, b)
        self.gstep += k
        self._alloc(self.gstep + 1 if k < self._run_max else self.gstep)

    def _alloc(self, upto: int) -> None:
        lo = self._alloc_upto
        if upto <= lo:
            return
        cnt, bs = self._cnt, self._bs
        span = upto - lo
        blocks = (span // bs) * self._d
        for g in range(lo + (span // bs) * bs, upto):
            blocks += cnt[-g % bs]
        if blocks:
            self.pool.take(blocks)
        self._alloc_upto = upto

    def _end_step(self, out: list[RequestRecord]) -> None:
        dur = self._step_end - self.now
        self.now = self._step_end
        self.gstep += 1
        d = self._step_decodes
        if d:
            self.itl.observe(dur, d)
        self.generation_tokens_total += d + len(self._step_done)
        self._finish_due(out)
        for seq in self._step_done:
            seq.anchor = self.gstep - seq.t - 1
            rec = seq.rec
            if rec.first_token != rec.first_token:
                rec.first_token = self.now
                self.ttft.observe(self.now - rec.arrival)
            if seq.t + 1 >= seq.m:
                seq.state = _DECODE
                self._finish_seq(seq, out, decoding=False)
            else:
                self._join_decode(seq)
        self._step_done = []

    def _finish_due(self, out: list[RequestRecord]) -> None:
        heap, g = self._finish, self.gstep
        while heap and heap[0][0] <= g:
            _, _, ver, seq = heapq.heappop(heap)
            if seq.state == _DECODE and seq.ver == ver:
                self._finish_seq(seq, out, decoding=True)

    def _join_decode(self, seq: _Seq) -> None:
        seq.state = _DECODE
        seq.ver += 1
        c = seq.n - seq.anchor - 1
        seq.cls = c % self._bs
        self._cnt[seq.cls] += 1
        self._ssum += c
        self._d += 1
        heapq.heappush(self._finish, (seq.anchor + seq.m, seq.key, seq.ver, seq))

    def _leave_decode(self, seq: _Seq) -> int:
        """Remove a decoding sequence from the aggregates; return its private blocks."""
        self._cnt[seq.cls] -= 1
        self._ssum -= seq.n - seq.anchor - 1
        self._d -= 1
        seq.ver += 1
        kv = seq.n + self.gstep - seq.anchor - 1
        if self._alloc_upto > self.gstep and (self.gstep + seq.cls) % self._bs == 0:
            kv += 1  # it already took a block for the step in progress
        return -(-kv // self._bs) - seq.held

    def _finish_seq(self, seq: _Seq, out: list[RequestRecord], *, decoding: bool) -> None:
        private = self._leave_decode(seq) if decoding else seq.private
        self.pool.release(seq.hashes or (), seq.held, private)
        self._release_slot(seq)
        seq.state = _DONE
        rec = seq.rec
        rec.finish = self.now
        rec.output_tokens = seq.m
        reason = "length" if rec.max_tokens is not None and seq.m >= rec.max_tokens else "stop"
        rec.finish_reason = reason
        self.success[reason] += 1
        self.e2e.observe(self.now - rec.arrival)
        del self._live[rec.request_id]
        out.append(rec)

    def _preempt(self, seq: _Seq) -> None:
        if seq.state == _DECODE:
            seq.t = self.gstep - seq.anchor
            private = self._leave_decode(seq)
        else:
            private = seq.private
        self.pool.release(seq.hashes or (), seq.held, private)
        self._release_slot(seq)
        seq.held = seq.private = seq.computed = 0
        seq.rec.preemptions += 1
        self.num_preemptions += 1
        self._enqueue(seq, front=True)

    def _release_slot(self, seq: _Seq) -> None:
        del self._running[seq.key]
        if seq.adapter is not None:
            self._lora.release(seq.adapter)

    def _enqueue(self, seq: _Seq, *, front: bool) -> None:
        seq.state = _WAITING
        if front:
            self._waiting.appendleft(seq)
        else:
            self._waiting.append(seq)
        if seq.adapter is not None:
            self._waiting_adapters[seq.adapter] += 1

    # ---- hashing -------------------------------------------------------
    def _chain(self, seq: _Seq) -> tuple[int, ...]:
        seed = self._seeds.get(seq.adapter)
        if seed is None:
            seed = zlib.crc32((seq.adapter or self.config.model).encode())
            self._seeds[seq.adapter] = seed
        h, out = seed, []
        for key in seq.req.block_keys[: seq.n // self._bs]:
            h = hash((h, key))
            out.append(h)
        return tuple(out)
