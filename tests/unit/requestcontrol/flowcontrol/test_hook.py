"""The director with flow control on: fast path, holding, release, the debug header,
and a waiter that leaves after it was dispatched (its pod slot is given back)."""

from __future__ import annotations

import asyncio
import inspect
import math

import pytest
import yaml

from inference_gateway.datastore import Datastore
from inference_gateway.datastore.types import Metrics
from inference_gateway.requestcontrol.flowcontrol.admission import FlowControl
from inference_gateway.requestcontrol.flowcontrol.build import with_flow_control
from inference_gateway.requestcontrol.flowcontrol.config import BandConfig, FlowControlConfig
from inference_gateway.requestcontrol.flowcontrol.gate import SaturationGate
from inference_gateway.requestcontrol.flowcontrol.hook import FlowHook
from inference_gateway.scheduling.config import parse_config
from inference_gateway.scheduling.registry import default_registry
from tests.unit.requestcontrol.builders import POOL_KEY, chat, make_director, make_store, model

NOW = 50.0


def set_load(store: Datastore, waiting: int) -> None:
    for e in store.endpoints(POOL_KEY):
        store.set_metrics(e.hostport, Metrics(waiting=waiting, running=1, updated_at=NOW))


def setup() -> tuple[Datastore, FlowHook]:
    store = make_store(pods=2, models=[model("llama")])
    fc = FlowControl(FlowControlConfig(), store.endpoints, gate=SaturationGate(1, 0.8, 1.0),
                     clock=lambda: NOW)  # fmt: skip
    return store, FlowHook(fc, store)


async def test_fast_path_routes_to_a_pod_with_room() -> None:
    store, hook = setup()
    set_load(store, 0)
    busy = store.endpoints(POOL_KEY)[0]
    store.set_metrics(busy.hostport, Metrics(waiting=3, running=1, updated_at=NOW))
    director = make_director(store, flow=hook)
    routed = director.route_now(chat("llama"))
    assert routed.endpoints != (busy.hostport,)
    routed.finish()
    await hook.flow.stop()


@pytest.mark.parametrize(
    "fairness", ["x-gateway-inference-fairness-id", "x-llm-d-inference-fairness-id"]
)
async def test_held_request_is_released_with_the_time_it_queued_in_the_debug_header(
    fairness: str,
) -> None:
    store, hook = setup()
    set_load(store, 4)
    director = make_director(store, flow=hook)
    headers = {"x-gateway-debug": "true", fairness: "team-a"}
    held = director.route(chat("llama", headers=headers))
    assert inspect.isawaitable(held)
    waiter = asyncio.ensure_future(held)
    await asyncio.sleep(0)  # a scheduling point: the request joins the queue's waiters
    assert hook.flow.queued() == 1
    assert sum(store.in_flight(e.hostport) for e in store.endpoints(POOL_KEY)) == 0
    set_load(store, 0)
    hook.flow.wake()
    routed = await asyncio.wait_for(waiter, 5)
    debug = routed.extra_headers["x-gateway-debug"]
    assert debug.startswith("queued=0.0ms; band=0; flow=team-a; ")
    assert store.in_flight(routed.endpoints[0]) == 1
    routed.finish()
    assert store.in_flight(routed.endpoints[0]) == 0
    await hook.flow.stop()


async def test_waiter_that_leaves_after_dispatch_gives_the_slot_back() -> None:
    store, hook = setup()
    set_load(store, 4)
    director = make_director(store, flow=hook)
    held = director.route(chat("llama"))
    assert inspect.isawaitable(held)
    waiter = asyncio.ensure_future(held)
    await asyncio.sleep(0)  # a scheduling point: the waiter awaits its future
    set_load(store, 0)
    hook.flow._dispatch(POOL_KEY, hook.flow.queues[POOL_KEY])  # dispatched, not yet resumed
    assert sum(store.in_flight(e.hostport) for e in store.endpoints(POOL_KEY)) == 1
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert sum(store.in_flight(e.hostport) for e in store.endpoints(POOL_KEY)) == 0
    await hook.flow.stop()


def test_with_flow_control_turns_a_builtin_config_on() -> None:
    text = with_flow_control("scorer-mix", {"defaultRequestTTL": "20s"})
    doc = yaml.safe_load(text)
    assert doc["featureGates"] == ["flowControl"]
    config = parse_config(doc, default_registry())
    assert config.flow_control == {"defaultRequestTTL": "20s"}
    assert config.saturation_detector == "flow-control-gate"


async def test_a_held_route_closed_unawaited_leaves_the_queue() -> None:
    """The stream closed before the handler awaited its route: nothing stays queued or held."""
    store, hook = setup()
    set_load(store, 4)
    director = make_director(store, flow=hook)
    pending = director.route(chat("llama"))
    assert inspect.isawaitable(pending) and hook.flow.queued() == 1
    pending.close()
    assert hook.flow.queued() == 0
    set_load(store, 0)
    hook.flow.wake()
    assert sum(store.in_flight(e.hostport) for e in store.endpoints(POOL_KEY)) == 0
    await hook.flow.stop()


async def test_slo_deadline_ordering_reads_the_ttft_objective_of_held_requests() -> None:
    store = make_store(pods=2, models=[model("llama")])
    config = FlowControlConfig(template=BandConfig(0, ordering="slo-deadline-ordering-policy"))
    fc = FlowControl(config, store.endpoints, gate=SaturationGate(1, 0.8, 1.0), clock=lambda: NOW)
    hook = FlowHook(fc, store)
    set_load(store, 4)
    director = make_director(store, flow=hook)
    headers = [{}, {"x-slo-ttft-ms": "5000"}, {"x-llm-d-slo-ttft-ms": "500"}]
    held = [director.route(chat("llama", headers=h)) for h in headers]
    waiters = []
    for route in held:
        assert inspect.isawaitable(route)
        waiters.append(asyncio.ensure_future(route))
    await asyncio.sleep(0)
    queues = fc.queues[POOL_KEY]
    order = [item.slo_deadline for item in iter(queues.next_item, None)]
    assert order == [NOW + 0.5, NOW + 5.0, math.inf]  # llm-d's name, ours, none
    for w in waiters:
        w.cancel()
    await asyncio.gather(*waiters, return_exceptions=True)
    await fc.stop()
