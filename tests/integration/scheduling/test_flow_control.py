"""Flow control through real Envoy: requests wait in the EPP, not at the pods.

One pod running one sequence at a time, and a saturation detector with a queue threshold
of 1, so the pool is full with two requests at the pod (one running, one waiting). Two
long streamed "hog" requests fill it; everything sent after them waits in the EPP's
flow-control queue, which the tests read through the EPP object (``queued()``) instead of
sleeping. Cancelling the hogs frees the pod, and the dispatch order is recorded by an
observer on the flow-control metrics port.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Literal

import pytest

from inference_gateway.requestcontrol.flowcontrol.admission import (
    FlowControl,
    FlowMetrics,
    QueueLabels,
)
from inference_gateway.requestcontrol.flowcontrol.types import FlowKey
from tests.integration.scheduling.conftest import (
    BASE,
    Cluster,
    Reply,
    cancel_all,
    cluster,
    held,
    model_doc,
    specs,
)

HOSTS = ("127.0.0.111",)
CRITICAL, SHEDDABLE = "critical-chat", "batch-chat"
MODELS = [model_doc(CRITICAL, "Critical", [BASE]), model_doc(SHEDDABLE, "Sheddable", [BASE])]


def config(ttl: str = "60s") -> str:
    return f"""\
apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
featureGates: [flowControl]
plugins:
- type: saturation-detector
  parameters: {{queueDepthThreshold: 1, metricsStalenessThreshold: 2s}}
- type: queue-scorer
- type: max-score-picker
saturationDetector: {{pluginRef: saturation-detector}}
flowControl:
  defaultRequestTTL: {ttl}
"""


class Recorder:
    """Passes metrics on and remembers the order in which flows were dispatched."""

    def __init__(self, inner: FlowMetrics) -> None:
        self.inner = inner
        self.dispatched: list[FlowKey] = []
        self.outcomes: list[str] = []

    def enqueued(self, key: FlowKey, size: int, where: QueueLabels) -> None:
        self.inner.enqueued(key, size, where)

    def left(
        self, key: FlowKey, size: int, outcome: str, waited: float, where: QueueLabels
    ) -> None:
        self.outcomes.append(outcome)
        if outcome == "Dispatched":
            self.dispatched.append(key)
        self.inner.left(key, size, outcome, waited, where)

    def rejected(self, key: FlowKey, reason: str) -> None:
        self.inner.rejected(key, reason)

    def saturation(self, pool: str, value: float) -> None:
        self.inner.saturation(pool, value)


def flow_of(c: Cluster) -> FlowControl:
    director = c.gateway.epp.director
    assert director is not None and director.flow is not None
    return director.flow.flow


def record(c: Cluster) -> Recorder:
    fc = flow_of(c)
    recorder = Recorder(fc.metrics)
    fc.metrics = recorder
    return recorder


async def fill(c: Cluster) -> list[asyncio.Task[None]]:
    """Two long requests: one running and one waiting at the only pod."""
    hogs = [await held(c, c.gateway.url, BASE)]
    try:
        second = asyncio.create_task(c.chat(max_tokens=4000, stream=True))
        pod = c.pods[0]
        e = pod.engine
        await c.wait_until(
            lambda: e.num_running + e.num_waiting + e.num_pending == 2, "hog 2", within=15
        )
        await c.wait_until(lambda: flow_of(c).queued() == 0, "hog 2 to leave the queue", within=15)
    except BaseException:
        await cancel_all(hogs)
        raise
    hogs.append(second)  # type: ignore[arg-type]
    return hogs


def send(c: Cluster, model: str, flow: str, **extra: Any) -> asyncio.Task[Reply]:
    headers = {"x-gateway-inference-fairness-id": flow, **extra}
    return asyncio.create_task(c.chat(model, max_tokens=2, headers=headers))


async def queued(c: Cluster, n: int) -> None:
    fc = flow_of(c)
    await c.wait_until(lambda: fc.queued() == n, f"{n} requests queued in the EPP", within=20)


async def test_saturated_pool_holds_requests_and_releases_them_by_priority(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path, specs(HOSTS, max_num_seqs=1), models=MODELS,
                       plugins=config()) as c:  # fmt: skip
        hogs = await fill(c)
        recorder = record(c)
        pod = c.pods[0]
        tasks: list[asyncio.Task[Reply]] = []
        try:
            tasks += [send(c, BASE, f"std-{i}") for i in range(50)]
            await queued(c, 50)
            tasks += [send(c, SHEDDABLE, f"shed-{i}") for i in range(3)]
            await queued(c, 53)
            tasks.append(send(c, CRITICAL, "crit", **{"x-gateway-debug": "true"}))
            await queued(c, 54)
            assert pod.engine.num_waiting + pod.engine.num_pending <= 1, "requests reached the pod"
            await cancel_all(hogs)
            replies = await asyncio.wait_for(asyncio.gather(*tasks), 60)
        finally:
            await cancel_all([*hogs, *tasks])
        assert all(r.status == 200 for r in replies), [r.status for r in replies]
        order = [k.priority for k in recorder.dispatched]
        assert order == [1] + [0] * 50 + [-1] * 3, order
        assert recorder.dispatched[0].fairness_id == "crit"
        debug = replies[-1].headers["x-gateway-debug"]
        assert debug.startswith("queued=") and "band=1; flow=crit;" in debug, debug
        assert "why=others-ahead;" in debug, debug  # 53 were queued when it came


async def test_queued_request_past_its_ttl_gets_429_with_retry_after(tmp_path: Path) -> None:
    async with cluster(tmp_path, specs(HOSTS, max_num_seqs=1), plugins=config("300ms")) as c:
        hogs = await fill(c)
        try:
            reply = await asyncio.wait_for(send(c, BASE, "late"), 10)
        finally:
            await cancel_all(hogs)
        assert reply.status == 429, reply.body
        assert reply.headers["Retry-After"] == "1"
        assert reply.json()["error"]["type"] == "RateLimitError"
        assert reply.served_by is None
        assert flow_of(c).queued() == 0


@pytest.mark.parametrize("transport", ["inline", "grpcio"])
async def test_client_that_hangs_up_leaves_the_queue(
    tmp_path: Path, transport: Literal["inline", "grpcio"]
) -> None:
    """Envoy cancels the ext_proc stream; every gRPC transport cancels the waiting task."""
    async with cluster(
        tmp_path, specs(HOSTS, max_num_seqs=1), plugins=config(), transport=transport
    ) as c:
        hogs = await fill(c)
        recorder = record(c)
        try:
            leaving = send(c, BASE, "leaving")
            staying = send(c, BASE, "staying")
            await queued(c, 2)
            await cancel_all([leaving])  # the client closes its connection
            await queued(c, 1)
            assert recorder.outcomes == ["Cancelled"]
            await cancel_all(hogs)
            reply = await asyncio.wait_for(staying, 30)
        finally:
            await cancel_all([*hogs, staying])
        assert reply.status == 200
        assert [k.fairness_id for k in recorder.dispatched] == ["staying"]


async def test_graceful_stop_answers_every_queued_request(tmp_path: Path) -> None:
    async with cluster(tmp_path, specs(HOSTS, max_num_seqs=1), plugins=config()) as c:
        hogs = await fill(c)
        tasks = [send(c, BASE, f"f{i}") for i in range(5)]
        try:
            await queued(c, 5)
            await c.gateway.epp.stop_grpc(grace=5.0)
            replies = await asyncio.wait_for(asyncio.gather(*tasks), 20)
        finally:
            await cancel_all([*hogs, *tasks])
        assert [r.status for r in replies] == [503] * 5
        assert all(r.headers.get("Retry-After") == "1" for r in replies)
        assert all(r.json()["error"]["code"] == 503 for r in replies)


def reserve_config() -> str:
    """Upstream's ``concurrency-detector`` and a usage limit through upstream's
    ``usageLimitPolicyPluginRef``: Standard and Sheddable stop at half the pod's two slots."""
    return """\
apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
featureGates: [flowControl]
plugins:
- type: concurrency-detector
  parameters: {maxConcurrency: 2}
- name: keep-a-slot-for-critical
  type: priority-usage-limit-policy
  parameters:
    thresholds: [{priority: 0, threshold: 0.5}, {priority: -1, threshold: 0.5}]
- type: queue-scorer
- type: max-score-picker
saturationDetector: {pluginRef: concurrency-detector}
flowControl:
  defaultRequestTTL: 60s
  usageLimitPolicyPluginRef: keep-a-slot-for-critical
"""


async def test_usage_limit_keeps_a_slot_for_critical_while_standard_waits(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path, specs(HOSTS, max_num_seqs=2), models=MODELS,
                       plugins=reserve_config()) as c:  # fmt: skip
        hogs = [await held(c, c.gateway.url, BASE)]  # one Standard request in flight: 0.5
        recorder = record(c)
        waiting: list[asyncio.Task[Reply]] = []
        try:
            waiting.append(send(c, BASE, "std", **{"x-gateway-debug": "true"}))
            await queued(c, 1)
            critical = await asyncio.wait_for(send(c, CRITICAL, "crit"), 30)
            assert flow_of(c).queued() == 1, "the Standard request should still wait"
            await cancel_all(hogs)
            standard = await asyncio.wait_for(waiting[0], 30)
        finally:
            await cancel_all([*hogs, *waiting])
        assert critical.status == 200 and standard.status == 200
        debug = standard.headers["x-gateway-debug"]
        assert "band=0; flow=std; why=usage-limit;" in debug, debug  # the pod had a slot
        # Critical went past the waiting Standard request, into the slot kept for it.
        assert [k.fairness_id for k in recorder.dispatched] == ["crit", "std"]
