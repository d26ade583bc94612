"""Usage limits (upstream's ``usageLimitPolicyPluginRef``) and the concurrency gate: lower
bands stop short of full so a Critical request finds room at once."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from inference_gateway.datastore import Datastore, PodInfo, PoolInfo
from inference_gateway.datastore.types import Endpoint, Metrics
from inference_gateway.requestcontrol.flowcontrol.admission import FlowControl, Ticket
from inference_gateway.requestcontrol.flowcontrol.build import (
    register_flow_policies,
    usage_limit,
    with_flow_control,
)
from inference_gateway.requestcontrol.flowcontrol.config import (
    FlowConfigError,
    FlowControlConfig,
    parse_flow_control,
)
from inference_gateway.requestcontrol.flowcontrol.gate import (
    ConcurrencyGate,
    SaturationGate,
    UtilizationGate,
    gate_for,
)
from inference_gateway.requestcontrol.flowcontrol.types import FlowKey
from inference_gateway.requestcontrol.flowcontrol.usage import (
    PriorityParams,
    PriorityUsageLimitPolicy,
    StaticParams,
    StaticUsageLimitPolicy,
    dispatch_ceiling,
)
from inference_gateway.scheduling.concurrency import ConcurrencyDetector, ConcurrencyParams
from inference_gateway.scheduling.config import ConfigError, load_config
from inference_gateway.scheduling.registry import default_registry
from inference_gateway.scheduling.scheduler import build_saturation_detector
from inference_gateway.scheduling.types import Criticality, LLMRequest, NoCapacityError
from inference_gateway.scheduling.utilization import UtilizationDetector, UtilizationParams


def pods(*in_flight: int) -> list[Endpoint]:
    return [
        Endpoint(f"p{i}", f"10.0.0.{i + 1}", 8000, metrics=Metrics(updated_at=0.0), in_flight=n)
        for i, n in enumerate(in_flight)
    ]


def reserve(standard: float, sheddable: float) -> PriorityUsageLimitPolicy:
    params = PriorityParams.model_validate(
        {
            "thresholds": [
                {"priority": 0, "threshold": standard},
                {"priority": -1, "threshold": sheddable},
            ]
        }
    )
    return PriorityUsageLimitPolicy("reserve", params)


def test_concurrency_detector_saturation_filter_and_admission() -> None:
    d = ConcurrencyDetector("c", ConcurrencyParams(maxConcurrency=10, headroom=0.2))
    assert d.saturation(pods(5, 10), 0.0) == pytest.approx(0.75)
    assert d.saturation([], 0.0) == 1.0  # no pods: saturated, as upstream
    llm = LLMRequest("r", "m", "m", criticality=Criticality.SHEDDABLE)
    kept = d.filter(llm, pods(11, 12, 3), {})
    assert [e.name for e in kept] == ["p0", "p2"]  # limit 10 * 1.2 = 12
    d.admit(llm, pods(9, 10), 0.0)  # 0.95: room
    with pytest.raises(NoCapacityError):
        d.admit(llm, pods(10, 10), 0.0)
    d.admit(LLMRequest("r", "m", "m", criticality=Criticality.CRITICAL), pods(10, 10), 0.0)


def test_tokens_mode_is_refused_with_a_clear_message() -> None:
    registry = default_registry()
    text = (
        "apiVersion: inference.networking.x-k8s.io/v1alpha1\nkind: EndpointPickerConfig\n"
        "plugins:\n- type: concurrency-detector\n  parameters: {concurrencyMode: tokens}\n"
        "- type: random-picker\n"
    )
    with pytest.raises(ConfigError, match="'tokens' mode is not supported"):
        load_config(text, registry)


def test_concurrency_gate_stops_at_the_ceiling_of_the_pool() -> None:
    gate = ConcurrencyGate(max_concurrency=10, limit=10)
    assert [e.name for e in gate.room(pods(9, 4), 0.0)] == ["p0", "p1"]
    assert [e.name for e in gate.room(pods(10, 4), 0.0)] == ["p1"]
    assert gate.room(pods(10, 10), 0.0) == []
    assert gate.room(pods(9, 8), 0.0, ceiling=0.85) == []  # 17 of 20 = 0.85
    assert len(gate.room(pods(9, 7), 0.0, ceiling=0.85)) == 2


def test_saturation_gate_applies_a_ceiling_to_upstreams_utilization() -> None:
    gate = SaturationGate(queue_threshold=4, kv_threshold=0.8, staleness=1.0)
    eps = [
        Endpoint("a", "10.0.0.1", 8000, metrics=Metrics(waiting=0, kv_usage=0.4, updated_at=0)),
        Endpoint("b", "10.0.0.2", 8000, metrics=Metrics(waiting=2, kv_usage=0.2, updated_at=0)),
    ]
    assert gate.saturation(eps, 0.5) == pytest.approx(0.5)  # mean(0.5, 0.5)
    assert len(gate.room(eps, 0.5)) == 2
    assert gate.room(eps, 0.5, ceiling=0.5) == []
    assert gate.saturation(eps, 5.0) == 1.0  # stale counts full


@dataclass(frozen=True)
class Band:
    """A queue band as ``dispatch_ceiling`` reads it."""

    priority: int
    count: int


def test_dispatch_ceiling_stops_at_the_first_band_the_pool_is_over() -> None:
    usage = reserve(0.9, 0.8)
    assert dispatch_ceiling(usage, [Band(1, 1), Band(0, 5)]) == 1.0
    assert dispatch_ceiling(usage, [Band(1, 0), Band(0, 5), Band(-1, 3)]) == 0.9
    assert dispatch_ceiling(usage, [Band(0, 0), Band(-1, 3)]) == 0.8
    inverted = PriorityUsageLimitPolicy(
        "x", PriorityParams.model_validate({"thresholds": [{"priority": 1, "threshold": 0.5}]})
    )
    # An empty Critical band with a lower ceiling still stops the Standard one (upstream).
    assert dispatch_ceiling(inverted, [Band(1, 0), Band(0, 4)]) == 0.5
    static = StaticUsageLimitPolicy("s", StaticParams())
    assert not static.gates and dispatch_ceiling(static, [Band(0, 1)]) == 1.0


class Pool:
    def __init__(self, size: int, capacity: int) -> None:
        self.in_flight = [0] * size
        self.capacity = capacity
        self.order: list[str] = []

    def endpoints(self, pool: str) -> Sequence[Endpoint]:
        return pods(*self.in_flight)

    def admit(self, fc: FlowControl, name: str, priority: int) -> Ticket | None:
        def resume(ticket: Ticket) -> str:
            self.take(name)
            return name

        ticket = fc.admit("pool", FlowKey("f", priority), 10, resume, lambda _: None)
        if ticket is None:
            self.take(name)
        return ticket

    def take(self, name: str) -> None:
        i = min(range(len(self.in_flight)), key=lambda j: self.in_flight[j])
        self.in_flight[i] += 1
        self.order.append(name)


async def test_a_reserve_keeps_room_for_critical_while_standard_waits() -> None:
    pool = Pool(size=2, capacity=10)
    fc = FlowControl(
        FlowControlConfig(), pool.endpoints, gate=ConcurrencyGate(10, 10), usage=reserve(0.9, 0.9)
    )
    standard = [pool.admit(fc, f"std-{i}", 0) for i in range(20)]
    assert sum(t is None for t in standard) == 18  # 18 of 20 = 0.9: the rest wait
    assert sum(pool.in_flight) == 18
    for name in ("crit-0", "crit-1"):  # queued behind nobody: dispatched at once
        ticket = pool.admit(fc, name, 1)
        assert ticket is not None and ticket.future.done() and pool.order[-1] == name
    assert sum(pool.in_flight) == 20
    crit = pool.admit(fc, "crit-2", 1)  # the pool is full now: it waits, ahead of Standard
    assert crit is not None and not crit.future.done()
    pool.in_flight[0] -= 1  # a request finishes
    fc.wake()
    assert await asyncio.wait_for(fc.wait(crit), 5.0) == "crit-2"
    assert pool.order[-1] == "crit-2"
    await fc.stop()


def test_usage_limit_ref_builds_the_configured_plugin() -> None:
    registry = default_registry()
    register_flow_policies(registry)
    text = with_flow_control(
        "random",
        {"defaultRequestTTL": "20s"},
        detector={"type": "concurrency-detector", "parameters": {"maxConcurrency": 64}},
        usage_limit={"type": "static-usage-limit-policy", "parameters": {"threshold": 0.75}},
    )
    config = load_config(text, registry)
    gate = gate_for(build_saturation_detector(config))
    assert gate == ConcurrencyGate(64, 64)
    flow = parse_flow_control(config.flow_control, {n: p.type for n, p in config.plugins.items()})
    usage = usage_limit(config, flow, {})
    assert usage.gates and usage.ceiling(1) == 0.75
    by_type = parse_flow_control({"usageLimitPolicyPluginRef": "static-usage-limit-policy"}, {})
    assert usage_limit(config, by_type, {}).ceiling(0) == 1.0
    with pytest.raises(FlowConfigError, match="usageLimitPolicyPluginRef"):
        parse_flow_control({"usageLimitPolicyPluginRef": "no-such-policy"}, {})


def test_fast_path_and_dispatch_agree_on_random_pools() -> None:
    """Whatever the pool, a request the fast path would send is one dispatch would send."""
    rng = random.Random(7)
    gate = ConcurrencyGate(8, 10)
    usage = reserve(0.9, 0.8)
    for _ in range(300):
        eps = pods(*(rng.randint(0, 11) for _ in range(rng.randint(1, 5))))
        for priority in (1, 0, -1):
            ceiling = dispatch_ceiling(usage, [Band(priority, 1)])
            assert ceiling == usage.ceiling(priority)
            room: Any = gate.room(eps, 0.0, ceiling)
            under = sum(e.in_flight for e in eps) < ceiling * 8 * len(eps)
            assert bool(room) == (under and any(e.in_flight < 10 for e in eps))


UPSTREAM_GUIDE_UTILIZATION = """\
apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
featureGates:
  - "flowControl"
plugins:
- type: utilization-detector
  parameters:
    queueDepthThreshold: 2
    kvCacheUtilThreshold: 0.85
- type: random-picker
saturationDetector:
  pluginRef: utilization-detector
"""
"""The examples of upstream's flow-control guide (v1.5 ``site-src/guides/flow-control.md``)
put together, plus a picker. The guide's header says ``config.x-k8s.io/v1alpha1``, which
upstream's own loader refuses (its group is ``inference.networking.x-k8s.io``); so do we."""


def test_upstreams_guide_example_loads_with_its_utilization_detector() -> None:
    registry = default_registry()
    register_flow_policies(registry)
    config = load_config(UPSTREAM_GUIDE_UTILIZATION, registry)
    detector = build_saturation_detector(config)
    assert isinstance(detector, UtilizationDetector)
    assert (detector.queue, detector.kv) == (2, 0.85)
    gate = gate_for(detector)
    assert gate == UtilizationGate(2, 0.85, 0.2, 0.0)


def test_utilization_detector_is_upstreams_mean() -> None:
    d = UtilizationDetector("u", UtilizationParams(queueDepthThreshold=4, kvCacheUtilThreshold=0.8))
    fresh = [
        Endpoint("a", "10.0.0.1", 8000, metrics=Metrics(waiting=2, kv_usage=0.2, updated_at=9.9)),
        Endpoint("b", "10.0.0.2", 8000, metrics=Metrics(waiting=0, kv_usage=0.8, updated_at=9.9)),
        Endpoint("c", "10.0.0.3", 8000, metrics=Metrics(waiting=9, kv_usage=0.1, updated_at=0.0)),
    ]
    assert d.saturation(fresh, 10.0) == pytest.approx((0.5 + 1.0 + 1.0) / 3)  # c is stale
    assert not d.is_saturated(fresh, 10.0)
    llm = LLMRequest("r", "m", "m", criticality=Criticality.SHEDDABLE)
    kept = d.filter(llm, fresh, {"now": 10.0})
    assert [e.name for e in kept] == ["a"]  # b is at the KV limit, c stale
    assert d.filter(llm, fresh[1:], {"now": 10.0}) == fresh[1:]  # none pass: all
    with pytest.raises(NoCapacityError):
        d.admit(llm, fresh[1:], 10.0)  # mean(1.0, 1.0)


def test_utilization_gate_counts_requests_the_pod_has_not_reported() -> None:
    gate = UtilizationGate(queue_threshold=2, kv_threshold=0.8, staleness=1.0)
    m = Metrics(waiting=0, running=4, kv_usage=0.4, updated_at=0.0)
    quiet = Endpoint("a", "10.0.0.1", 8000, metrics=m, in_flight=4)
    burst = Endpoint("b", "10.0.0.2", 8000, metrics=m, in_flight=6)  # 2 unseen: full
    assert [e.name for e in gate.room([quiet, burst], 0.5)] == ["a"]
    assert gate.saturation([quiet, burst], 0.5) == pytest.approx((0.5 + 1.0) / 2)
    assert gate.room([quiet, burst], 0.5, ceiling=0.75) == []


def test_the_running_totals_never_change_what_the_concurrency_gate_answers() -> None:
    """The datastore's running in-flight totals (every pool's) bound the candidates' from
    above: when the gate answers from them, the pass would have kept every candidate."""
    rng = random.Random(11)
    store = Datastore()
    store.upsert_pool(
        PoolInfo(name="a", namespace="ns", selector={"app": "a"}, target_ports=(8000,))
    )
    for i in range(6):
        labels = {"app": "a" if i < 4 else "b"}  # two pods outside the pool, also busy
        store.upsert_pod(PodInfo(name=f"p{i}", namespace="ns", address=f"10.0.0.{i + 1}",
                                 labels=labels))  # fmt: skip
    hostports = [f"10.0.0.{i + 1}:8000" for i in range(6)]
    detector = ConcurrencyDetector("c", ConcurrencyParams(maxConcurrency=10, headroom=0.1))
    fast, exact = gate_for(detector, store), gate_for(detector)
    answered_in_o1 = 0
    for _ in range(2000):
        hp = rng.choice(hostports)
        if rng.random() < 0.55 or store.in_flight(hp) == 0:
            store.acquire(hp)
        else:
            store.release(hp)
        eps = list(store.endpoints("ns/a"))
        ceiling = rng.choice((1.0, 0.9, 0.5))
        assert fast.room(eps, 0.0, ceiling) == exact.room(eps, 0.0, ceiling)
        total, full = store.load_watch(detector.limit)()
        assert total == sum(store.in_flight(h) for h in hostports)
        assert full == sum(store.in_flight(h) >= detector.limit for h in hostports)
        answered_in_o1 += not full and total < ceiling * len(eps) * 10
    assert answered_in_o1 > 100  # the O(1) answer was exercised
