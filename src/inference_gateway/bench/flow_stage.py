"""Flow control inside the virtual-time harness: the EPP's own core on virtual time.

A policy run ``<name>+fc`` sends every arrival through ``FlowStage.offer``: with nothing
queued and room in the pool (the same ``SaturationGate`` as the EPP, over the harness's
scraped metrics and exact in-flight counts) it goes straight to the scheduler; otherwise
it waits in ``requestcontrol.flowcontrol.queues.FlowQueues``. ``release`` is one dispatch
cycle: expired requests come back to be counted as shed (429), then requests leave in
band / fairness / ordering order while the gate stays open. The harness calls it after
every arrival, finish and scrape tick, which is when the EPP would wake up too.

The request's fairness id is its ``tenant`` (the ``x-gateway-inference-fairness-id`` a
client would send), its priority its criticality's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from inference_gateway.bench.stats import Outcome
from inference_gateway.bench.workloads import BenchRequest
from inference_gateway.datastore.types import Endpoint
from inference_gateway.requestcontrol.flowcontrol.config import (
    BandConfig,
    FlowControlConfig,
)
from inference_gateway.requestcontrol.flowcontrol.gate import SaturationGate
from inference_gateway.requestcontrol.flowcontrol.queues import FlowQueues
from inference_gateway.requestcontrol.flowcontrol.types import (
    DEFAULT_FAIRNESS_ID,
    PRIORITY_OF,
    CapacityError,
    FlowKey,
)
from inference_gateway.requestcontrol.flowcontrol.types import Outcome as FlowOutcome

BENCH_TTL = 30.0
"""Seconds a request may wait: far past any SLO, so it measures starvation, not the TTL."""
_RR = "round-robin-fairness-policy"
BENCH_CONFIG = FlowControlConfig(
    default_ttl=BENCH_TTL,
    bands={-1: BandConfig(-1, max_requests=2, fairness=_RR)},
    template=BandConfig(0, fairness=_RR),
)
"""What ``+fc`` runs with: round-robin between flows in every band, and a Sheddable band
of 2 requests, so under sustained overload Sheddable requests get 429 at once (as without
flow control) while a short burst of them still waits instead."""
BENCH_QUEUE_THRESHOLD = 1
"""``+fc`` releases a request only to a pod with nothing waiting (the detector's
``queueDepthThreshold`` 1 instead of 5): the queue is kept in the EPP, where priority holds,
instead of in the model server's first-come-first-served one. KV and staleness thresholds
stay the policy's."""

Waiting = tuple[BenchRequest, Outcome]


class FlowStage:
    def __init__(self, gate: SaturationGate, config: FlowControlConfig = BENCH_CONFIG) -> None:
        self.gate = replace(gate, queue_threshold=BENCH_QUEUE_THRESHOLD)
        self.queues: FlowQueues[Waiting] = FlowQueues(config)
        self.expired: list[Waiting] = []
        self.contended: dict[str, int] = {}
        """Dispatches per fairness id made while two or more flows of the served band were
        waiting: the fairness policy's share when flows compete (``bench flow-control``)."""

    def offer(
        self, req: BenchRequest, outcome: Outcome, endpoints: Sequence[Endpoint], now: float
    ) -> bool:
        """True: schedule it now. False: queued (or refused: then it is in ``expired``)."""
        if not self.queues.count and self.gate.has_room(endpoints, now):
            return True
        key = FlowKey(req.tenant or DEFAULT_FAIRNESS_ID, PRIORITY_OF[req.criticality.value])
        try:
            _, displaced = self.queues.enqueue(key, req.prompt_tokens * 4, now, (req, outcome))
        except CapacityError:
            self.expired.append((req, outcome))
            return False
        self.expired.extend(i.payload for i in displaced if i.payload is not None)
        return False

    def release(
        self,
        now: float,
        endpoints: Callable[[], Sequence[Endpoint]],
        dispatch: Callable[[BenchRequest, Outcome, float], None],
    ) -> list[Waiting]:
        """Dispatch while the gate is open; return what expired or was refused."""
        q = self.queues
        for gone in q.expire(now):
            assert gone.payload is not None
            self.expired.append(gone.payload)
        while q.count and self.gate.has_room(endpoints(), now):
            band = next(b for b in q.bands() if b.count)
            contended = len(band.active) > 1
            item = q.next_item()
            assert item is not None and item.payload is not None
            if contended:
                fid = item.key.fairness_id
                self.contended[fid] = self.contended.get(fid, 0) + 1
            dispatch(*item.payload, now)
        out, self.expired = self.expired, []
        return out

    def unserved(self, mark: Callable[[Outcome], None]) -> None:
        """At the end of a run: mark what is still queued (it timed out, unserved)."""
        for item in self.queues.drain(FlowOutcome.SHUTDOWN):
            assert item.payload is not None
            mark(item.payload[1])
