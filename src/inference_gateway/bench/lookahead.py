"""The ``lookahead`` bound: try the request on an exact copy of every pod, keep the best.

At an arrival every engine is forked (``simulator.fork``: its exact queues, batch, KV pool
with prefix cache and LoRA slots), the request is submitted to each fork, and each fork
runs with no further arrivals until the request finishes. The pick is the pod with the
lowest end-to-end time (``e2e``), or with the most SLO headroom (``slo``: the larger of the
two normalised margins' minimum, ``min(1 - ttft/slo_ttft, 1 - tpot/slo_tpot)``), ties to
the lowest index. No router can know more about this request's own latency at its
arrival; what it cannot see is the future: a pick also changes what later requests find,
which is why a cache-affine policy can still beat it over a run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from inference_gateway.simulator.engine import Engine
from inference_gateway.simulator.fork import fork
from inference_gateway.simulator.records import EngineError, SimRequest


@dataclass(frozen=True, slots=True)
class Trial:
    ttft: float
    tpot: float
    e2e: float


def trial(engine: Engine, req: SimRequest, now: float) -> Trial | None:
    """This request's exact latencies on a fork of ``engine`` (None: the pod refuses it).

    ``engine`` must already be advanced to ``now``.
    """
    copy = fork(engine)
    try:
        rec = copy.submit(req, now)
    except EngineError:
        return None
    while rec.finish_reason is None:
        t = copy.next_event_time()
        if t == math.inf:
            return None
        copy.advance(t)
    return Trial(rec.ttft, rec.tpot, rec.e2e)


def best(
    trials: Sequence[Trial | None], mode: str = "e2e", slo: tuple[float, float] = (1.0, 0.05)
) -> int | None:
    """Index of the best trial by ``mode`` (None when every pod refused)."""
    pick: int | None = None
    best_key = math.inf
    for i, t in enumerate(trials):
        if t is None:
            continue
        key = -min(1.0 - t.ttft / slo[0], 1.0 - t.tpot / slo[1]) if mode == "slo" else t.e2e
        if key < best_key:
            pick, best_key = i, key
    return pick


def pick(
    engines: Sequence[Engine],
    req: SimRequest,
    now: float,
    mode: str = "e2e",
    slo: tuple[float, float] = (1.0, 0.05),
) -> int | None:
    return best([trial(e, req, now) for e in engines], mode, slo)
