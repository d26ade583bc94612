"""The virtual-time routing harness: the real scheduler in front of N simulated engines.

One heap orders three kinds of events: engine events (a step that finishes a request or
admits one), scrape ticks and request arrivals; ties go in that order, then by push order,
so a run is a pure function of its inputs. The scheduler sees the pool as the EPP does:
each pod's ``Metrics`` is the snapshot of the last scrape tick (every 50 ms by default,
stamped ``updated_at`` = tick time), so staleness is part of the experiment, while
``in_flight`` is the gateway's own exact count (up at pick, down at finish). An ``oracle``
policy instead gets a fresh snapshot of every engine at the moment it picks, and a
``lookahead`` policy tries the request on exact copies of every engine
(``bench.lookahead``). Every finished request is fed to the scheduler's learning plugins
(``scheduling.observe.ResponseObserver``), as the gateway's response path does.

A stage's requests arrive during ``[0, warmup + duration)``; only those arriving after the
warmup are measured. Once arrivals end, the run drains until nothing is in flight or
``drain_cap`` seconds have passed; what is left counts as timed out. The closed-loop mode
(``concurrency``) keeps a fixed number of requests in flight and measures sustained
completions: the capacity probe.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from inference_gateway.bench import lookahead
from inference_gateway.bench._pool import PoolSetup, prepare
from inference_gateway.bench.flow_stage import FlowStage
from inference_gateway.bench.policies import Policy, instantiate, load, observers_of
from inference_gateway.bench.stats import Outcome, Slo, Status
from inference_gateway.bench.workloads import BenchRequest
from inference_gateway.datastore.types import Endpoint, Metrics
from inference_gateway.scheduling.observe import TPOT_SLO_HEADER, TTFT_SLO_HEADER
from inference_gateway.scheduling.types import NoCapacityError
from inference_gateway.simulator.engine import Engine
from inference_gateway.simulator.records import EngineError, QueueFullError, RequestRecord
from inference_gateway.simulator.virtual import snapshot

_ENGINE, _SCRAPE, _MARK, _ARRIVAL = 0, 1, 2, 3
_SLO = Slo()
SLO_HEADERS = MappingProxyType(
    {TTFT_SLO_HEADER: f"{_SLO.ttft * 1000:g}", TPOT_SLO_HEADER: f"{_SLO.tpot * 1000:g}"}
)
"""What ``<policy>+slo`` requests carry: the goodput objectives, in milliseconds."""
_SAMPLE_TOKENS = 32
"""A streaming gateway's one mid-stream TPOT sample per request comes after this many
tokens (about a second on a fast pod), so a slow pod is seen long before it finishes."""


@dataclass(slots=True)
class RunResult:
    outcomes: list[Outcome]
    window: tuple[float, float]
    prefix_hit_rate: float
    """Cached prompt tokens / prompt tokens looked up, over the measured window."""
    preemptions: int
    end: float
    contended: dict[str, int] | None = None
    """Flow control only: dispatches per fairness id while flows competed in a band."""
    predictions: list[tuple[float, float, float, float]] = field(default_factory=list)
    """(predicted TTFT, TTFT, predicted TPOT, TPOT) of each measured request a latency
    predictor scored (TPOT NaN for one-token outputs)."""


class _Run:
    def __init__(self, setup: PoolSetup, policy: Policy, seed: int) -> None:
        self.setup = setup
        self.policy = policy
        config = load(policy)
        self.scheduler, self.detector = instantiate(policy, config, seed)
        self.engines = [Engine(c) for c in setup.engine_configs()]
        self.endpoints = [
            Endpoint(f"pod-{i}", f"10.0.0.{i + 1}", 8000, metrics=Metrics(updated_at=-math.inf))
            for i in range(setup.pods)
        ]
        self.heap: list[tuple[float, int, int, int]] = []
        self.seq = 0
        self.scheduled = [math.inf] * setup.pods
        self.live: dict[str, tuple[Outcome, int]] = {}
        self.outcomes: list[Outcome] = []
        self.marks: list[tuple[int, int, int]] = []
        self.stream: list[BenchRequest] = []
        self.refill: list[BenchRequest] = []
        self.index = {e.name: i for i, e in enumerate(self.endpoints)}
        self.flow: FlowStage | None = None
        if policy.flow_control:  # flow control replaces the detector's shedding, as in the EPP
            self.flow = FlowStage(config)
            self.detector = None
        self.observers = observers_of(self.scheduler)
        self.watch: dict[str, tuple[RequestRecord, int, int]] = {}
        """Requests not yet reported mid-stream: (record, pod, 0 = nothing, 1 = TTFT)."""
        self.predictions: list[tuple[float, tuple[float, float, float, float]]] = []

    def push(self, t: float, kind: int, arg: int) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, kind, self.seq, arg))

    def reschedule(self, i: int) -> None:
        t = self.engines[i].next_event_time()
        if t != self.scheduled[i]:
            self.scheduled[i] = t
            if t != math.inf:
                self.push(t, _ENGINE, i)

    def settle(self, i: int, now: float) -> None:
        for rec in self.engines[i].advance(now):
            self.finished(rec, i)
        self.reschedule(i)

    def finished(self, rec: RequestRecord, i: int) -> None:
        outcome, _ = self.live.pop(rec.request_id)
        outcome.status = Status.OK
        outcome.first_token = rec.first_token
        outcome.finish = rec.finish
        outcome.output_tokens = rec.output_tokens
        outcome.cached_tokens = rec.cached_tokens
        ep = self.endpoints[i]
        self.endpoints[i] = replace(ep, in_flight=ep.in_flight - 1)
        if self.observers:
            self.observe(rec, ep.name)
        self.top_up(rec.finish)
        self.pump(rec.finish)

    def pump(self, now: float) -> None:
        """A flow-control dispatch cycle (no-op without flow control)."""
        if self.flow is not None and (self.flow.queues.count or self.flow.expired):
            for _, outcome in self.flow.release(now, lambda: self.endpoints, self.dispatch):
                outcome.status = Status.SHED
                self.top_up(now)

    def report_streaming(self, now: float) -> None:
        """At a scrape tick, report what a streaming gateway has seen by now: the TTFT of
        requests whose first token is out, then one TPOT sample after ``_SAMPLE_TOKENS``."""
        done: list[str] = []
        for rid, (rec, i, state) in self.watch.items():
            if state == 0:
                if rec.first_token != rec.first_token:  # NaN: no token yet
                    continue
                self.report(rid, i, ttft=rec.ttft, tpot=None, tokens=None, now=now)
                self.watch[rid] = (rec, i, 1)
                continue
            tokens = self.engines[i].tokens_generated(rid)
            if tokens >= _SAMPLE_TOKENS:
                tpot = (now - rec.first_token) / (tokens - 1)
                self.report(rid, i, ttft=None, tpot=tpot, tokens=tokens, now=now)
                done.append(rid)
        for rid in done:
            del self.watch[rid]

    def report(
        self, rid: str, i: int, *, ttft: float | None, tpot: float | None, tokens: int | None,
        now: float,
    ) -> None:  # fmt: skip
        name = self.endpoints[i].name
        for obs in self.observers:
            obs.observe_response(
                rid, name, ttft=ttft, tpot=tpot, prompt_tokens=None, completion_tokens=tokens,
                now=now, final=False,
            )  # fmt: skip

    def observe(self, rec: RequestRecord, pod: str) -> None:
        """Feed a finished request to the learning plugins, as the gateway's response path
        does, noting what each predicted for it first."""
        tpot = rec.tpot if rec.output_tokens > 1 else None
        self.watch.pop(rec.request_id, None)
        for obs in self.observers:
            predicted = getattr(obs, "prediction", None)
            guess = predicted(rec.request_id) if callable(predicted) else None
            if guess is not None:
                actual_tpot = math.nan if tpot is None else tpot
                self.predictions.append((rec.arrival, (guess[0], rec.ttft, guess[1], actual_tpot)))
            obs.observe_response(
                rec.request_id,
                pod,
                ttft=rec.ttft,
                tpot=tpot,
                prompt_tokens=rec.prompt_tokens,
                completion_tokens=rec.output_tokens,
                now=rec.finish,
            )

    def top_up(self, now: float) -> None:
        """Closed loop: replace a request that left the system with the next one."""
        if self.refill:
            self.stream.append(self.refill.pop())
            self.push(now, _ARRIVAL, len(self.stream) - 1)

    def scrape(self, now: float) -> None:
        for i, engine in enumerate(self.engines):
            self.settle(i, now)
            metrics = snapshot(engine, now, exact=self.policy.oracle)
            self.endpoints[i] = replace(self.endpoints[i], metrics=metrics)
        self.pump(now)

    def mark(self) -> tuple[int, int, int]:
        hits = sum(e.prefix_cache_hits for e in self.engines)
        queries = sum(e.prefix_cache_queries for e in self.engines)
        return hits, queries, sum(e.num_preemptions for e in self.engines)

    def arrive(self, req: BenchRequest, now: float) -> None:
        outcome = Outcome(
            req.index, now, Status.SHED, criticality=req.criticality.value,
            prompt_tokens=req.prompt_tokens,
        )  # fmt: skip
        self.outcomes.append(outcome)
        if self.policy.oracle:
            self.scrape(now)
        if self.flow is not None and not self.flow.offer(req, outcome, self.endpoints, now):
            self.pump(now)
            return
        self.dispatch(req, outcome, now)

    def dispatch(self, req: BenchRequest, outcome: Outcome, now: float) -> None:
        llm, sim = prepare(req)
        if self.policy.slo_headers:
            llm = replace(llm, headers=SLO_HEADERS)
        try:
            if self.detector is not None:
                self.detector.admit(llm, self.endpoints, now)
            if self.policy.lookahead is not None:
                i = lookahead.pick(self.engines, sim, now, self.policy.lookahead) or 0
            else:
                endpoints = self.endpoints
                if self.flow is not None:  # released where the gate saw room, as in the EPP
                    endpoints = self.flow.gate.room(endpoints, now) or endpoints
                decision = self.scheduler.schedule(llm, endpoints, now)
                i = self.index[decision.primary.name]
        except NoCapacityError:
            self.top_up(now)
            return
        outcome.pod = i
        try:
            record = self.engines[i].submit(sim, now)
        except EngineError as e:
            outcome.status = Status.REJECTED if isinstance(e, QueueFullError) else Status.ERROR
            for obs in self.observers:  # the final report with nothing measured, as the EPP
                obs.observe_response(
                    sim.request_id, self.endpoints[i].name, ttft=None, tpot=None,
                    prompt_tokens=None, completion_tokens=None, now=now,
                )  # fmt: skip
            self.top_up(now)
            return
        outcome.status = Status.TIMEOUT
        self.live[sim.request_id] = (outcome, i)
        if self.observers:
            self.watch[sim.request_id] = (record, i, 0)
        ep = self.endpoints[i]
        self.endpoints[i] = replace(ep, in_flight=ep.in_flight + 1)
        self.reschedule(i)

    def loop(self, window: tuple[float, float], *, closed: bool) -> float:
        """Process events until drained (open loop) or the window ends (closed loop)."""
        interval, drain_cap = self.setup.scrape_interval, self.setup.drain_cap
        stream = self.stream
        for j, req in enumerate(stream):
            self.push(req.arrival, _ARRIVAL, j)
        self.push(0.0, _SCRAPE, 0)
        self.push(window[0], _MARK, 0)
        self.push(window[1], _MARK, 1)
        last_arrival = max((r.arrival for r in stream), default=0.0)
        deadline = max(last_arrival, window[1]) + drain_cap
        now = 0.0
        while self.heap:
            now, kind, _, arg = heapq.heappop(self.heap)
            if now > deadline:
                break
            if kind == _ENGINE:
                if now == self.scheduled[arg]:
                    self.scheduled[arg] = math.inf
                    self.settle(arg, now)
            elif kind == _ARRIVAL:
                self.arrive(stream[arg], now)
            elif kind == _SCRAPE:
                if not self.live and now >= last_arrival and now >= window[1]:
                    break
                self.scrape(now)
                if self.watch:
                    self.report_streaming(now)
                self.push(now + interval, _SCRAPE, 0)
            else:
                for i in range(len(self.engines)):
                    self.settle(i, now)
                self.marks.append(self.mark())
                if arg == 1 and closed:
                    break
        return now


def run(
    setup: PoolSetup,
    policy: Policy,
    requests: Sequence[BenchRequest],
    *,
    warmup: float,
    duration: float,
    seed: int,
) -> RunResult:
    """Replay ``requests`` (open loop, by arrival time) through ``policy`` on a fresh pool."""
    r = _Run(setup, policy, seed)
    r.stream = list(requests)
    window = (warmup, warmup + duration)
    end = r.loop(window, closed=False)
    return _result(r, window, end)


def run_closed(
    setup: PoolSetup,
    policy: Policy,
    requests: Sequence[BenchRequest],
    *,
    concurrency: int,
    warmup: float,
    duration: float,
    seed: int,
) -> RunResult:
    """Keep ``concurrency`` requests in flight (each finish sends the next) until the window
    ends; ``requests`` must be long enough not to run out."""
    r = _Run(setup, policy, seed)
    r.stream = [replace(req, arrival=0.0) for req in requests[:concurrency]]
    r.refill = list(reversed(requests[concurrency:]))
    window = (warmup, warmup + duration)
    end = r.loop(window, closed=True)
    return _result(r, window, end)


def _result(r: _Run, window: tuple[float, float], end: float) -> RunResult:
    for outcome, _ in r.live.values():
        outcome.status = Status.TIMEOUT
    if r.flow is not None:
        r.flow.unserved(lambda outcome: setattr(outcome, "status", Status.TIMEOUT))
    while len(r.marks) < 2:
        r.marks.append(r.mark())
    (h0, q0, p0), (h1, q1, p1) = r.marks[:2]
    hit_rate = (h1 - h0) / (q1 - q0) if q1 > q0 else 0.0
    contended = dict(r.flow.contended) if r.flow is not None else None
    measured = [p for t, p in r.predictions if window[0] <= t < window[1]]
    return RunResult(r.outcomes, window, hit_rate, p1 - p0, end, contended, measured)
