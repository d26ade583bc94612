"""Flow control inside the virtual-time harness: the EPP's own core on virtual time.

A policy run ``<name>+fc`` runs its config with flow control turned on (``flow_source``)
and sends every arrival through ``FlowStage.offer``: with nothing queued and room in the
pool (the same gate and usage limit as the EPP builds from that config, over the
harness's scraped metrics and exact in-flight counts) it goes straight to the scheduler;
otherwise
it waits in ``requestcontrol.flowcontrol.queues.FlowQueues``. ``release`` is one dispatch
cycle: expired requests come back to be counted as shed (429), then requests leave in
band / fairness / ordering order while the gate stays open. The harness calls it after
every arrival, finish and scrape tick, which is when the EPP would wake up too.

The request's fairness id is its ``tenant`` (the ``x-gateway-inference-fairness-id`` a
client would send), its priority its criticality's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from inference_gateway.bench.stats import Outcome
from inference_gateway.bench.workloads import BenchRequest
from inference_gateway.datastore.types import Endpoint
from inference_gateway.requestcontrol.flowcontrol.build import (
    plugin_types,
    usage_limit,
    with_flow_control,
)
from inference_gateway.requestcontrol.flowcontrol.config import parse_flow_control
from inference_gateway.requestcontrol.flowcontrol.gate import gate_for
from inference_gateway.requestcontrol.flowcontrol.queues import FlowQueues
from inference_gateway.requestcontrol.flowcontrol.types import (
    DEFAULT_FAIRNESS_ID,
    PRIORITY_OF,
    CapacityError,
    FlowKey,
)
from inference_gateway.requestcontrol.flowcontrol.types import Outcome as FlowOutcome
from inference_gateway.requestcontrol.flowcontrol.usage import dispatch_ceiling
from inference_gateway.scheduling.config import SchedulerConfig
from inference_gateway.scheduling.scheduler import build_saturation_detector

BENCH_TTL = 30.0
"""Seconds a request may wait: far past any SLO, so it measures starvation, not the TTL."""
_RR = "round-robin-fairness-policy"
BENCH_SECTION: dict[str, Any] = {
    "defaultRequestTTL": f"{BENCH_TTL:g}s",
    "defaultPriorityBand": {"fairnessPolicyRef": _RR},
    "priorityBands": [{"priority": -1, "maxRequests": 2, "fairnessPolicyRef": _RR}],
}
"""What ``+fc`` runs with: round-robin between flows in every band, and a Sheddable band
of 2 requests, so under sustained overload Sheddable requests get 429 at once (as without
flow control) while a short burst of them still waits instead."""
BENCH_DETECTOR: Mapping[str, Any] = {
    "type": "concurrency-detector",
    "parameters": {"maxConcurrency": 128},
}
"""The gate: the EPP's own in-flight count against the pods' batch size (the simulated
vLLM's ``max-num-seqs``), so a request is released only into a free batch slot and never
waits in a pod's first-come-first-served queue."""
BENCH_USAGE_LIMIT: Mapping[str, Any] | None = {
    "type": "priority-usage-limit-policy",
    "parameters": {
        "thresholds": [{"priority": 0, "threshold": 0.995}, {"priority": -1, "threshold": 0.995}]
    },
}
"""Standard and Sheddable stop at 99.5 % of the pool's batch slots (2 of 512 on 4 pods):
a Critical request arriving at a full pool finds a slot at once instead of waiting for
the next request to finish."""


def flow_source(source: str) -> str:
    """``source`` with the ``+fc`` flow-control settings, as an EPP would be configured."""
    return with_flow_control(
        source, BENCH_SECTION, detector=BENCH_DETECTOR, usage_limit=BENCH_USAGE_LIMIT
    )


Waiting = tuple[BenchRequest, Outcome]


class FlowStage:
    def __init__(self, config: SchedulerConfig) -> None:
        """Flow control as ``config`` (with the feature gate) sets it up in the EPP."""
        flow_config = parse_flow_control(config.flow_control, plugin_types(config))
        self.gate = gate_for(build_saturation_detector(config))
        self.usage = usage_limit(config, flow_config, {})
        self.queues: FlowQueues[Waiting] = FlowQueues(flow_config)
        self.expired: list[Waiting] = []
        self.contended: dict[str, int] = {}
        """Dispatches per fairness id made while two or more flows of the served band were
        waiting: the fairness policy's share when flows compete (``bench flow-control``)."""

    def offer(
        self, req: BenchRequest, outcome: Outcome, endpoints: Sequence[Endpoint], now: float
    ) -> bool:
        """True: schedule it now. False: queued (or refused: then it is in ``expired``)."""
        key = FlowKey(req.tenant or DEFAULT_FAIRNESS_ID, PRIORITY_OF[req.criticality.value])
        if not self.queues.count and self.gate.room(
            endpoints, now, self.usage.ceiling(key.priority)
        ):
            return True
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
        while q.count and self.gate.room(endpoints(), now, dispatch_ceiling(self.usage, q.bands())):
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
