"""Builders and fixtures for the Kubernetes source tests against the fake API server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from inference_gateway.datastore import Datastore
from inference_gateway.sources.kubernetes import KubernetesSource, KubeSettings
from tests.integration.sources.fakeapi import FakeApiServer

GA = "inference.networking.k8s.io/v1"
X = "inference.networking.x-k8s.io/v1alpha2"

# Short real-world-shaped timings; the tests that wait on them run on virtual time.
SETTINGS = KubeSettings(
    watch_backoff=(1.0, 2.0, 4.0),
    request_backoff=(0.5, 1.0),
    watch_timeout=300,
    inactivity_timeout=120.0,
    missing_crd_retry=60.0,
)


def make_pool(
    name: str = "pool", *, app: str = "vllm", ports: tuple[int, ...] = (8000,)
) -> dict[str, Any]:
    return {
        "apiVersion": GA,
        "kind": "InferencePool",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": {"app": app}},
            "targetPorts": [{"number": p} for p in ports],
            "endpointPickerRef": {"name": "epp", "port": {"number": 9002}},
        },
    }


def make_pod(
    name: str, ip: str, *, app: str = "vllm", ready: bool = True, deleting: bool = False
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default", "labels": {"app": app}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T01:00:00Z"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"containers": [{"name": "vllm", "image": "vllm"}]},
        "status": {
            "phase": "Running",
            "podIP": ip,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def make_model(name: str, model_name: str, *, pool: str = "pool") -> dict[str, Any]:
    return {
        "apiVersion": X,
        "kind": "InferenceModel",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"modelName": model_name, "poolRef": {"name": pool}},
    }


def hostports(store: Datastore, pool: str = "default/pool") -> list[str]:
    return sorted(f"{e.address}:{e.port}" for e in store.endpoints(pool))


async def eventually(
    predicate: Callable[[], bool], *, within: float = 30.0, step: float = 0.01
) -> None:
    """Poll until ``predicate()`` holds; times are loop time (virtual under looptime).

    Polling, because the state lives in several places (datastore, fake server, source)
    with no common notification; each poll is cheap and the deadline bounds the loop.
    """
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(step)


@pytest.fixture
async def api() -> AsyncIterator[FakeApiServer]:
    async with FakeApiServer() as server:
        yield server


@pytest.fixture
def kubeconfig(api: FakeApiServer, tmp_path: Path) -> str:
    return str(api.kubeconfig(tmp_path / "kubeconfig"))


@pytest.fixture
def store() -> Datastore:
    return Datastore()


def source(
    store: Datastore, kubeconfig: str, *, group: str = "inference.networking.k8s.io"
) -> KubernetesSource:
    return KubernetesSource(
        store,
        pool_name="pool",
        pool_namespace="default",
        pool_group=group,
        kubeconfig=kubeconfig,
        settings=SETTINGS,
    )
