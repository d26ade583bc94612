"""One vLLM server as a discrete-event model over an injected clock (no asyncio, no wall time).

The engine owns time: requests arrive after ``api_overhead``, each step lasts as the latency
profile says, and finished requests come out with their timings. What goes into a step is
the scheduler's (``_scheduler``: vLLM v1's FIFO admission, chunked prefill, preemption),
over the KV pool and prefix cache (``_blocks``) and the LoRA slots (``_lora``).

Speed: decode state is aggregate, never per token (``_decode``). A stretch of steps in which
only decoding happens is a *run*: its length is fixed when it starts (until the next finish,
block exhaustion or queued arrival) and it is applied in one go, with step durations
``A + B*j`` summed in closed form (``_steps``). Results equal stepping one at a time, up to
float rounding.
"""

from __future__ import annotations

import heapq
from collections import Counter

from inference_gateway.simulator import _steps
from inference_gateway.simulator._scheduler import Scheduler
from inference_gateway.simulator._seq import DECODE, DONE, WAITING, Seq
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

_IDLE, _STEP, _RUN = 0, 1, 2
_INF = float("inf")


class Engine:
    """A vLLM server in virtual time. Drive it with ``submit``, ``advance`` and
    ``next_event_time``; read its gauges and counters as properties."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.profile = config.latency
        self.slowdown = config.slowdown
        """Compute-time multiplier; may be changed at run time ('make this pod slow')."""
        self._sched = Scheduler(config)
        self._dec = self._sched.decode
        self.pool = self._sched.pool
        self.adapters: set[str] = set(config.adapters)
        self.now = 0.0
        self.gstep = 0
        self.generation_tokens_total = 0
        self.success: Counter[str] = Counter()
        self.ttft = Histogram(TTFT_BUCKETS)
        self.itl = Histogram(ITL_BUCKETS)
        self.e2e = Histogram(E2E_BUCKETS)
        self._bs = config.block_size
        self._pending: list[tuple[float, int, Seq]] = []
        self._live: dict[str, Seq] = {}
        self._keys = 0
        # the step in progress
        self._phase = _IDLE
        self._step_end = 0.0
        self._step_done: list[Seq] = []
        self._step_decodes = 0
        self._run_max = 0

    # ---- public surface -------------------------------------------------------------
    @property
    def num_running(self) -> int:
        return len(self._sched.running)

    @property
    def num_waiting(self) -> int:
        return len(self._sched.waiting)

    @property
    def num_pending(self) -> int:
        """Requests accepted but still in API overhead (not yet in the waiting queue)."""
        return len(self._pending)

    @property
    def kv_usage(self) -> float:
        return self.pool.used / self.pool.num_blocks

    @property
    def running_adapters(self) -> list[str]:
        return self._sched.lora.running

    @property
    def resident_adapters(self) -> list[str]:
        return self._sched.lora.resident

    @property
    def waiting_adapters(self) -> list[str]:
        return [a for a, c in self._sched.waiting_adapters.items() if c > 0]

    @property
    def num_preemptions(self) -> int:
        return self._sched.num_preemptions

    @property
    def prefix_cache_queries(self) -> int:
        """Prompt tokens looked up in the prefix cache (recomputations included)."""
        return self._sched.prefix_cache_queries

    @property
    def prefix_cache_hits(self) -> int:
        return self._sched.prefix_cache_hits

    @property
    def prompt_tokens_total(self) -> int:
        return self._sched.prompt_tokens_total

    def register_adapter(self, name: str) -> None:
        self.adapters.add(name)

    def unregister_adapter(self, name: str) -> None:
        self.adapters.discard(name)
        self._sched.lora.drop_if_idle(name)

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
        if len(self._sched.waiting) + len(self._pending) >= cfg.max_waiting:
            raise QueueFullError("Failed to enqueue request, waiting requests queue is full")
        rec = RequestRecord(req.request_id, req.adapter, req.prompt_tokens, req.max_tokens, now)
        self._keys += 1
        seq = Seq(req, rec, self._keys)
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
        if seq.state == WAITING:
            if seq.rec.queued != seq.rec.queued:  # still in API overhead
                self._pending.remove(next(e for e in self._pending if e[2] is seq))
                heapq.heapify(self._pending)
            else:
                self._sched.dequeue(seq)
        else:
            if seq.state == DECODE:
                seq.t = self.gstep - seq.anchor
                private = self._dec.leave(seq, self.gstep)
                if self._phase == _STEP:
                    self._step_decodes -= 1
            else:
                private = seq.private
                if seq in self._step_done:
                    self._step_done.remove(seq)
                if seq in self._sched.prefilling:
                    self._sched.prefilling.remove(seq)
            self._sched.release(seq, private)
            if self._phase == _RUN:
                self._run_max = 1  # recompose after the step in progress
        seq.state = DONE
        rec = seq.rec
        rec.finish, rec.output_tokens, rec.finish_reason = self.now, seq.t, "abort"
        self.success["abort"] += 1
        return rec

    def tokens_generated(self, request_id: str) -> int:
        """Output tokens produced so far by a live request (0 when unknown or finished)."""
        seq = self._live.get(request_id)
        if seq is None:
            return 0
        return self.gstep - seq.anchor if seq.state == DECODE else seq.t

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
        now, pending, sched = self.now, self._pending, self._sched
        while pending and pending[0][0] <= now:
            seq = heapq.heappop(pending)[2]
            seq.rec.queued = seq.rec.arrival + self.config.api_overhead
            sched.enqueue(seq, front=False)
        if not sched.running and not sched.waiting:
            self._phase = _IDLE
            return
        g = self.gstep
        batch = sched.schedule(now, g)
        if batch is None:
            self._start_run()
            return
        prefill, ctx, done, lora_cost = batch
        dec, p = self._dec, self.profile
        d = dec.d
        ctx += dec.ssum + d * (g + 1)
        dur = p.b0 + p.b1 * prefill + p.b2 * d + p.b3 * ctx + p.b4 * (d + len(done))
        self._phase = _STEP
        self._step_end = now + dur * self.slowdown + lora_cost
        self._step_done = done
        self._step_decodes = d

    def _start_run(self) -> None:
        a, b = self._run_coeffs()
        dec = self._dec
        k = dec.finish[0][0] - self.gstep if dec.finish else 1 << 60
        free, d, bs = self.pool.free, dec.d, self._bs
        if free < d * -(-k // bs):
            k = min(k, dec.kv_steps(free, self.gstep))
        if self._pending:
            k = min(k, _steps.reach(self._pending[0][0] - self.now, a, b))
        self._phase = _RUN
        self._run_max = max(1, k)

    def _run_coeffs(self) -> tuple[float, float]:
        p, dec, s = self.profile, self._dec, self.slowdown
        d = dec.d
        ctx = dec.ssum + d * (self.gstep + 1)
        return s * (p.b0 + (p.b2 + p.b4) * d + p.b3 * ctx), s * p.b3 * d

    def _steps_to_reach(self, t: float) -> int:
        a, b = self._run_coeffs()
        return max(1, _steps.reach(t - self.now, a, b))

    # ---- applying steps ---------------------------------------------------------------
    def _apply_run(self, k: int, a: float, b: float) -> None:
        d = self._dec.d
        self.itl.observe_series(a, b, k, d)
        self.generation_tokens_total += d * k
        self.now += _steps.span(k, a, b)
        self.gstep += k
        self._dec.alloc(self.pool, self.gstep + 1 if k < self._run_max else self.gstep)

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
                seq.state = DECODE
                self._finish_seq(seq, out, decoding=False)
            else:
                self._dec.join(seq)
        self._step_done = []

    def _finish_due(self, out: list[RequestRecord]) -> None:
        for seq in self._dec.due(self.gstep):
            self._finish_seq(seq, out, decoding=True)

    def _finish_seq(self, seq: Seq, out: list[RequestRecord], *, decoding: bool) -> None:
        private = self._dec.leave(seq, self.gstep) if decoding else seq.private
        self._sched.release(seq, private)
        seq.state = DONE
        rec = seq.rec
        rec.finish = self.now
        rec.output_tokens = seq.m
        reason = "length" if rec.max_tokens is not None and seq.m >= rec.max_tokens else "stop"
        rec.finish_reason = reason
        self.success[reason] += 1
        self.e2e.observe(self.now - rec.arrival)
        del self._live[rec.request_id]
        out.append(rec)
