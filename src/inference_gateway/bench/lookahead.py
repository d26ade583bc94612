"""The ``lookahead`` bound: try the request on an exact copy of every pod, keep the best.

At an arrival every engine is forked (``simulator.fork``: its exact queues, batch, KV pool
with prefix cache and LoRA slots), the request is submitted to each fork, and each fork
runs with no further arrivals until the request finishes. The pick is the pod with the
lowest end-to-end time (``e2e``), or with the most SLO headroom (``slo``: the larger of the
two normalised margins' minimum, ``min(1 - ttft/slo_ttft, 1 - tpot/slo_tpot)``), ties to
the lowest index (``pick`` prunes trials that cannot win). No router can know more about
this request's own latency at its arrival; what it cannot see is the future: a pick also
changes what later requests find, which is why a cache-affine policy can still beat it
over a run.
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


def trial(engine: Engine, req: SimRequest, now: float, limit: float = math.inf) -> Trial | None:
    """This request's exact latencies on a fork of ``engine`` (None: the pod refuses it, or
    it would take longer than ``limit`` seconds end to end, so the fork is abandoned).

    ``engine`` must already be advanced to ``now``.
    """
    copy = fork(engine)
    try:
        rec = copy.submit(req, now)
    except EngineError:
        return None
    deadline = now + limit
    while rec.finish_reason is None:
        t = copy.next_event_time()
        if t == math.inf or t > deadline:
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
    """The best pod for ``req`` at ``now`` by ``mode``.

    For ``e2e`` this is branch and bound: pods are tried least loaded first, and a trial is
    abandoned once it runs past the best end-to-end time so far, which gives the same pick
    (ties still to the lowest index) at a fraction of the cost.
    """
    if mode != "e2e":
        return best([trial(e, req, now) for e in engines], mode, slo)
    order = sorted(
        range(len(engines)),
        key=lambda i: (engines[i].slowdown * (engines[i].num_running + engines[i].num_waiting), i),
    )
    chosen: int | None = None
    bound = math.inf
    for i in order:
        t = trial(engines[i], req, now, bound)
        if t is None:
            continue
        if t.e2e < bound or (t.e2e == bound and chosen is not None and i < chosen):
            chosen, bound = i, t.e2e
    return chosen
