"""A Sheddable request is not refused for metrics that aged while the EPP's own loop was
stalled (its scrapes could not run), and still is when a pod went quiet on its own."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry

from inference_gateway.aio import spawn, stop
from inference_gateway.datastore import Datastore, Metrics
from inference_gateway.observability.loop_lag import LoopLagMonitor
from inference_gateway.requestcontrol import GatewayError
from inference_gateway.scheduling.saturation import SaturationDetector
from tests.loop_helpers import hold_the_loop, until
from tests.unit.requestcontrol.builders import chat, make_director, make_store, model


@pytest.fixture
async def monitor() -> AsyncIterator[LoopLagMonitor]:
    lag = LoopLagMonitor(CollectorRegistry(), interval=0.005)
    task = spawn(lag.run(), name="lag")
    child = lag.lag.labels()
    await until(lambda: sum(child.counts) >= 2)
    yield lag
    await stop(task)


def _store(age: float) -> Datastore:
    store = make_store(models=[model("batch", criticality="Sheddable")])
    for hostport in ("127.0.0.11:8000", "127.0.0.12:8000"):
        store.set_metrics(hostport, Metrics(updated_at=time.monotonic() - age))
    return store


async def test_metrics_that_aged_in_the_epps_own_stall_do_not_refuse(
    monitor: LoopLagMonitor,
) -> None:
    store = _store(age=0.0)
    blind = make_director(store, clock=time.monotonic, admission=SaturationDetector())
    excusing = make_director(
        store, clock=time.monotonic, admission=SaturationDetector(), stalled=monitor.stalled
    )
    hold_the_loop(0.3)  # both pods' metrics are now 300 ms old; the threshold is 200 ms
    with pytest.raises(GatewayError) as refused:
        blind.route_now(chat("batch"))
    assert refused.value.status == 429
    routed = excusing.route_now(chat("batch"))
    assert routed.endpoints
    routed.finish()


async def test_a_pod_quiet_on_its_own_still_refuses(monitor: LoopLagMonitor) -> None:
    director = make_director(
        _store(age=1.0),
        clock=time.monotonic,
        admission=SaturationDetector(),
        stalled=monitor.stalled,
    )
    with pytest.raises(GatewayError) as refused:
        director.route_now(chat("batch"))
    assert refused.value.status == 429
    hold_the_loop(0.1)  # a stall shorter than the pods' silence does not excuse it
    with pytest.raises(GatewayError) as refused:
        director.route_now(chat("batch"))
    assert refused.value.status == 429
