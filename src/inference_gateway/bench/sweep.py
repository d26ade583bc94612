"""A policy sweep: probe the pool's capacity, then run every policy at staged rates.

The capacity probe is a closed-loop run with round-robin (the Kubernetes Service
baseline) that keeps every pod's batch full; its completion rate defines 100 %. Each stage
is then an independent open-loop run on a fresh pool at ``fraction x capacity``: its
request stream is generated once, in the parent, and handed unchanged to every policy.
(policy, stage) runs are independent pure functions of their inputs, so spreading them
over worker processes changes the wall time, never the numbers.
"""

from __future__ import annotations

import math
import multiprocessing
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from inference_gateway.bench import harness, policies, workloads
from inference_gateway.bench._pool import PoolSetup, pool_for
from inference_gateway.bench.report import StageResult, SweepResult
from inference_gateway.bench.stats import Slo, StageStats, Status, summarize
from inference_gateway.bench.workloads import BenchRequest, WorkloadSpec

DEFAULT_FRACTIONS = (0.1, 0.3, 0.5, 0.7, 0.9, 1.1, 1.3)

_PREFIX_STAGE = 120.0
"""Shared-prefix requests run ~40 s each (1000 output tokens at ~40 ms TPOT), so a stage
needs minutes, not seconds, to reach steady state."""
_SHORT_STAGE = 30.0


@dataclass(frozen=True, slots=True)
class SweepConfig:
    workload: str
    pods: int = 4
    seed: int = 0
    policies: tuple[str, ...] = policies.DEFAULT_POLICIES
    fractions: tuple[float, ...] = DEFAULT_FRACTIONS
    rates: tuple[float, ...] | None = None
    """Absolute rates (req/s); when given, no capacity probe runs."""
    stage_seconds: float | None = None
    warmup_seconds: float | None = None
    heterogeneous: bool = False
    slow_factor: float = 2.0
    slow_pods: int = 1
    """How many pods ``heterogeneous`` slows (``pods // 2`` makes two speed classes)."""
    slo: Slo = field(default_factory=Slo)
    scrape_interval: float = 0.05
    drain_cap: float | None = None
    processes: int = 2
    probe_policy: str = "round-robin"

    def spec(self) -> WorkloadSpec:
        if self.workload not in workloads.WORKLOADS:
            raise ValueError(
                f"unknown workload {self.workload!r}; known: {sorted(workloads.WORKLOADS)}"
            )
        return workloads.WORKLOADS[self.workload]

    def timing(self) -> tuple[float, float, float]:
        """(stage, warmup, drain cap) seconds, defaulted per workload."""
        long = self.spec().prefix_groups > 0
        stage = self.stage_seconds or (_PREFIX_STAGE if long else _SHORT_STAGE)
        warmup = self.warmup_seconds if self.warmup_seconds is not None else stage / 3
        drain = self.drain_cap if self.drain_cap is not None else (300.0 if long else 60.0)
        return stage, warmup, drain

    def setup(self) -> PoolSetup:
        _, _, drain = self.timing()
        return pool_for(
            self.spec(),
            self.pods,
            heterogeneous=self.heterogeneous,
            slow_factor=self.slow_factor,
            slow_pods=self.slow_pods,
            scrape_interval=self.scrape_interval,
            drain_cap=drain,
        )


def probe_capacity(config: SweepConfig) -> float:
    """Sustained completions per second of the pool with full batches (closed loop)."""
    setup = config.setup()
    stage, warmup, _ = config.timing()
    concurrency = setup.pods * setup.engine.max_num_seqs * 5 // 4
    count = concurrency * 40
    reqs = workloads.generate_closed(config.spec(), count, config.seed)
    policy = policies.resolve(config.probe_policy)
    window = (warmup, warmup + stage)
    res = harness.run_closed(
        setup,
        policy,
        reqs,
        concurrency=concurrency,
        warmup=window[0],
        duration=stage,
        seed=config.seed,
    )
    done = sum(
        1 for o in res.outcomes if o.status is Status.OK and window[0] <= o.finish < window[1]
    )
    return done / stage


@dataclass(frozen=True, slots=True)
class _Task:
    policy: str
    stage: int


_STREAMS: dict[int, list[BenchRequest]] = {}
_CONFIG: list[SweepConfig] = []


def _init(config: SweepConfig, streams: dict[int, list[BenchRequest]]) -> None:
    _CONFIG[:] = [config]
    _STREAMS.clear()
    _STREAMS.update(streams)


def _run_task(task: _Task) -> tuple[_Task, StageStats, dict[str, float]]:
    config = _CONFIG[0]
    setup = config.setup()
    stage, warmup, _ = config.timing()
    res = harness.run(
        setup,
        policies.resolve(task.policy),
        _STREAMS[task.stage],
        warmup=warmup,
        duration=stage,
        seed=config.seed,
    )
    stats = summarize(
        res.outcomes,
        window=res.window,
        pods=setup.pods,
        slo=config.slo,
        prefix_hit_rate=res.prefix_hit_rate,
        preemptions=res.preemptions,
    )
    return task, stats, predictor_accuracy(res.predictions)


def predictor_accuracy(
    predictions: Sequence[tuple[float, float, float, float]],
) -> dict[str, float]:
    """Median absolute error of predicted TTFT and TPOT per request, and the medians of
    the observed values for scale (empty when no latency predictor ran)."""
    if not predictions:
        return {}
    ttft = [(p, a) for p, a, _, _ in predictions]
    tpot = [(p, a) for _, _, p, a in predictions if a == a]
    out = {
        "requests": float(len(predictions)),
        "ttft_mae": statistics.median(abs(p - a) for p, a in ttft),
        "ttft_median": statistics.median(a for _, a in ttft),
    }
    if tpot:
        out["tpot_mae"] = statistics.median(abs(p - a) for p, a in tpot)
        out["tpot_median"] = statistics.median(a for _, a in tpot)
    return out


def run_sweep(
    config: SweepConfig,
    *,
    on_probe: Callable[[float], None] | None = None,
    on_task: Callable[[str, int], None] | None = None,
) -> SweepResult:
    """Probe (unless ``rates`` are given), generate the streams, run every (policy, stage)."""
    for name in config.policies:
        policies.load(policies.resolve(name))
    spec = config.spec()
    stage, warmup, _ = config.timing()
    if config.rates is not None:
        capacity = math.nan
        rates: Sequence[float] = config.rates
        fractions: Sequence[float] = [math.nan] * len(rates)
    else:
        capacity = probe_capacity(config)
        fractions = config.fractions
        rates = [f * capacity for f in fractions]
    if on_probe is not None:
        on_probe(capacity)
    streams = {
        i: workloads.generate(spec, rate, warmup + stage, config.seed)
        for i, rate in enumerate(rates)
    }
    tasks = [_Task(p, i) for i in range(len(rates)) for p in config.policies]
    # The longest stages first, so the last task to finish is a short one.
    tasks.sort(key=lambda t: -len(streams[t.stage]))
    done: dict[tuple[str, int], StageStats] = {}
    accuracy: dict[tuple[str, int], dict[str, float]] = {}
    if config.processes <= 1:
        _init(config, streams)
        for task in tasks:
            _, stats, acc = _run_task(task)
            done[(task.policy, task.stage)] = stats
            accuracy[(task.policy, task.stage)] = acc
            if on_task is not None:
                on_task(task.policy, task.stage)
    else:
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(config.processes, initializer=_init, initargs=(config, streams)) as pool:
            for task, stats, acc in pool.imap_unordered(_run_task, tasks):
                done[(task.policy, task.stage)] = stats
                accuracy[(task.policy, task.stage)] = acc
                if on_task is not None:
                    on_task(task.policy, task.stage)
    meta = {
        "workload": spec.name,
        "description": spec.description,
        "pods": config.pods,
        "seed": config.seed,
        "heterogeneous": config.heterogeneous,
        "slow_factor": config.slow_factor if config.heterogeneous else 1.0,
        "slow_pods": config.setup().slow_pods,
        "capacity": capacity,
        "probe_policy": config.probe_policy,
        "stage_seconds": stage,
        "warmup_seconds": warmup,
        "scrape_interval": config.scrape_interval,
        "slo_ttft": config.slo.ttft,
        "slo_tpot": config.slo.tpot,
        "policies": list(config.policies),
    }
    result = SweepResult(meta)
    for name in config.policies:
        result.results[policies.resolve(name).name] = [
            StageResult(fractions[i], rates[i], done[(name, i)], accuracy[(name, i)])
            for i in range(len(rates))
        ]
    return result
