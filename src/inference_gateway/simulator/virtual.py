"""Driving one engine in virtual time: the loop every virtual-time harness repeats.

A harness with many engines keeps a heap of ``engine.next_event_time()`` values next to its
own arrivals; this module is the one-engine version, used by the calibration tests and by
``inference-gateway bench sim-speed``.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from inference_gateway.datastore.types import Metrics
from inference_gateway.simulator.config import EngineConfig
from inference_gateway.simulator.engine import Engine
from inference_gateway.simulator.records import QueueFullError, RequestRecord, SimRequest


def drive(engine: Engine, arrivals: Iterable[tuple[float, SimRequest]]) -> list[RequestRecord]:
    """Submit each request at its time (ascending), run to completion, return finish order.

    Requests the engine refuses with 429 are dropped (a caller wanting them counts
    ``QueueFullError`` itself).
    """
    done: list[RequestRecord] = []
    for t, req in arrivals:
        while engine.next_event_time() <= t:
            done.extend(engine.advance(engine.next_event_time()))
        done.extend(engine.advance(t))
        with contextlib.suppress(QueueFullError):
            engine.submit(req, t)
    while (t_next := engine.next_event_time()) != float("inf"):
        done.extend(engine.advance(t_next))
    return done


def snapshot(engine: Engine, now: float, *, exact: bool = False) -> Metrics:
    """What a scrape of this engine's ``/metrics`` at ``now`` would tell the gateway.

    Call ``engine.advance(now)`` first (and keep what it returns) so the gauges are current.
    ``exact`` also counts requests still in API overhead (accepted, not yet queued), which
    no real scrape can see: what an oracle policy in the bench harness is given.
    """
    cfg = engine.config
    return Metrics(
        waiting=engine.num_waiting + (engine.num_pending if exact else 0),
        running=engine.num_running,
        kv_usage=engine.kv_usage,
        running_adapters=frozenset(engine.running_adapters),
        waiting_adapters=frozenset(engine.waiting_adapters),
        max_adapters=cfg.max_loras,
        block_size=cfg.block_size,
        num_blocks=cfg.kv_blocks,
        updated_at=now,
    )


def poisson_arrivals(
    rate: float,
    count: int,
    *,
    prompt_tokens: int = 200,
    output_tokens: int = 64,
    seed: int = 0,
    shared_prefix_blocks: int = 0,
) -> Iterator[tuple[float, SimRequest]]:
    """A seeded Poisson stream of fixed-size requests (optionally sharing a prefix)."""
    rng = random.Random(seed)
    t = 0.0
    for i in range(count):
        t += rng.expovariate(rate)
        keys = tuple(range(shared_prefix_blocks)) + tuple(
            rng.getrandbits(62) for _ in range(prompt_tokens // 16 - shared_prefix_blocks)
        )
        yield t, SimRequest(f"r{i}", prompt_tokens, output_tokens, keys, None, output_tokens)


@dataclass(frozen=True, slots=True)
class SpeedResult:
    requests: int
    simulated_seconds: float
    wall_seconds: float
    cpu_seconds: float
    """Process CPU time: the figure to trust on a shared, busy machine."""

    @property
    def requests_per_wall_second(self) -> float:
        return self.requests / self.wall_seconds

    @property
    def requests_per_cpu_second(self) -> float:
        return self.requests / self.cpu_seconds


def measure_speed(requests: int = 100_000, rate: float = 80.0, seed: int = 0) -> SpeedResult:
    """Simulate ``requests`` calibration-sized requests at ``rate``/s; time the wall clock."""
    arrivals = list(poisson_arrivals(rate, requests, seed=seed))
    engine = Engine(EngineConfig(max_num_seqs=128))
    start, cpu = time.perf_counter(), time.process_time()
    done = drive(engine, arrivals)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return SpeedResult(len(done), engine.now, wall, cpu)
