"""The capacity gates as the request path runs them: the EPP's own loop stalls are not the
pods' fault, and a refusal says why.

The scrapes run on the loop that serves requests. When it stalls (a CPU-throttled EPP, a
busy node, a long pass of its own) no scrape starts or finishes, and every pod's metrics
age together. The capacity gates count a pod whose metrics are older than their staleness
threshold as full, so a stall alone would refuse or hold requests on a pool with room.
``attentive_now`` is the time to judge staleness by: ``now`` less the time the loop was
stalled since the freshest pod last answered. Queue and KV thresholds are judged as before.
``Capacity`` is the Director's gate: refused only if refused at that time too, and each
refusal period logged with which pods were stale, queued or full, at most once per 10 s.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence

from inference_gateway.datastore import Endpoint
from inference_gateway.requestcontrol.ports import CapacityGate
from inference_gateway.scheduling.types import LLMRequest, NoCapacityError
from inference_gateway.throttled_log import Deferred, Throttled

log = logging.getLogger(__name__)

Stalled = Callable[[float, float], float]
"""``stalled(now, since)``: seconds of ``(since, now)`` the loop was stalled
(``observability.loop_lag.LoopLagMonitor.stalled``)."""


def attentive_now(endpoints: Sequence[Endpoint], now: float, stalled: Stalled | None) -> float:
    """``now`` less the loop's stalls since the freshest of ``endpoints`` answered.

    Called only once a gate has said no: the freshest update is a pass over the pool."""
    if stalled is None or not endpoints or stalled(now, -math.inf) <= 0.0:
        return now
    newest = max(e.metrics.updated_at for e in endpoints)
    return now - stalled(now, newest) if newest < now else now


def admit_unless_stalled(
    gate: CapacityGate,
    request: LLMRequest,
    candidates: Sequence[Endpoint],
    now: float,
    stalled: Stalled | None,
) -> None:
    """``gate.admit``, refused only if it refuses at the attentive time too (the first
    refusal is the one raised, so its log line describes the pods as they are)."""
    try:
        gate.admit(request, candidates, now)
        return
    except NoCapacityError as e:
        excused = attentive_now(candidates, now, stalled)
        if excused >= now:
            raise
        refused = e
    try:
        gate.admit(request, candidates, excused)
    except NoCapacityError:
        raise refused from None


class Capacity:
    """The Director's capacity gate (a saturation detector) with both of the above."""

    __slots__ = ("_refused", "gate")

    def __init__(self, gate: CapacityGate, clock: Callable[[], float] = time.monotonic) -> None:
        self.gate = gate
        self._refused = Throttled(log, every=10.0, clock=clock)

    def admit(
        self,
        request: LLMRequest,
        candidates: Sequence[Endpoint],
        now: float,
        stalled: Stalled | None,
    ) -> None:
        try:
            admit_unless_stalled(self.gate, request, candidates, now, stalled)
        except NoCapacityError as e:
            if e.reason is not None:
                why = Deferred(e.reason)
                self._refused("refusing Sheddable requests, the pool is saturated: %s", why)
            raise


__all__ = ["Capacity", "Stalled", "admit_unless_stalled", "attentive_now"]
