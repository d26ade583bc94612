"""5,000 pods arrive through each source without the loop going long without a turn.

These are tests of chunking, not of speed: a ticker task counts loop iterations and a
datastore listener notes the iteration each endpoint arrived in. However slow the machine,
no iteration may apply more than one step of pods (``EVENTS_PER_TICK`` for a watch,
``SYNC_STEP`` for the file), and the Kubernetes LIST must come in pages. ``bench pool-load``
measures the stall itself.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from inference_gateway.datastore import Datastore, Endpoint
from inference_gateway.datastore.store import SYNC_STEP
from inference_gateway.sources import FileSource
from inference_gateway.sources.kubernetes.watching import EVENTS_PER_TICK
from tests.integration.sources.conftest import SETTINGS, eventually, make_pod, make_pool, source
from tests.integration.sources.fakeapi import FakeApiServer

PODS = 5_000


def ip(i: int) -> str:
    return f"10.0.{i // 250}.{i % 250 + 1}"


class Ticks:
    """Counts loop iterations (the ticker yields once per iteration) and notes, for each
    endpoint the datastore announces, the iteration it was announced in."""

    def __init__(self) -> None:
        self.tick = 0
        self.added_in: Counter[int] = Counter()

    async def run(self) -> None:
        while True:
            self.tick += 1
            await asyncio.sleep(0)

    def endpoint_added(self, endpoint: Endpoint) -> None:
        self.added_in[self.tick] += 1

    def endpoint_removed(self, endpoint: Endpoint) -> None:
        pass


@pytest.fixture
async def ticks() -> AsyncIterator[Ticks]:
    ticks = Ticks()
    task = asyncio.create_task(ticks.run(), name="ticker")
    yield ticks
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_5000_pod_list_is_paged_and_applied_a_step_per_loop_turn(
    ticks: Ticks, tmp_path: Path
) -> None:
    async with FakeApiServer() as api:
        api.put(make_pool())
        for i in range(PODS):
            api.put(make_pod(f"vllm-{i:05d}", ip(i)))
        kubeconfig = str(api.kubeconfig(tmp_path / "kubeconfig"))
        store = Datastore(listeners=[ticks])
        async with source(store, kubeconfig) as src:
            await asyncio.wait_for(src.synced.wait(), 60)
            assert len(store.endpoints("default/pool")) == PODS
        pages = [q for m, p, q in api.requests if p.endswith("/pods") and "watch" not in q]
    assert len(pages) == math.ceil(PODS / SETTINGS.list_page_size)
    assert all(q["limit"] == str(SETTINGS.list_page_size) for q in pages)
    assert max(ticks.added_in.values()) <= EVENTS_PER_TICK
    assert len(ticks.added_in) >= PODS / EVENTS_PER_TICK


async def test_a_server_that_ignores_limit_is_still_applied_a_step_per_loop_turn(
    ticks: Ticks, tmp_path: Path
) -> None:
    async with FakeApiServer() as api:
        api.paginate = False
        api.put(make_pool())
        for i in range(PODS):
            api.put(make_pod(f"vllm-{i:05d}", ip(i)))
        store = Datastore(listeners=[ticks])
        async with source(store, str(api.kubeconfig(tmp_path / "kubeconfig"))) as src:
            await asyncio.wait_for(src.synced.wait(), 60)
            assert len(store.endpoints("default/pool")) == PODS
    assert max(ticks.added_in.values()) <= EVENTS_PER_TICK


POOL = """\
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata: {name: pool, namespace: default}
spec:
  selector: {matchLabels: {app: vllm}}
  targetPorts: [{number: 8000}]
  endpointPickerRef: {name: epp, port: {number: 9002}}
"""
POD = """\
apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: default, labels: {app: vllm}}
status:
  podIP: %s
  conditions: [{type: Ready, status: "True"}]
"""


async def test_a_5000_pod_file_is_applied_a_step_per_loop_turn(
    ticks: Ticks, tmp_path: Path
) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text("---\n".join([POOL] + [POD % (f"vllm-{i:05d}", ip(i)) for i in range(PODS)]))
    store = Datastore(listeners=[ticks])
    async with FileSource(path, store):
        assert len(store.endpoints("default/pool")) == PODS
        assert max(ticks.added_in.values()) <= SYNC_STEP
        assert len(ticks.added_in) >= PODS / SYNC_STEP
        # A reload that moves every pod is applied in steps as well.
        ticks.added_in.clear()
        path.write_text(
            "---\n".join([POOL] + [POD % (f"vllm-{i:05d}", ip(i + PODS)) for i in range(PODS)])
        )
        await eventually(lambda: store.endpoints("default/pool")[0].address == ip(PODS))
        assert len(store.endpoints("default/pool")) == PODS
        assert max(ticks.added_in.values()) <= SYNC_STEP
