"""Kubernetes mode end to end: the fake API server, simulator pods on the IPs its Pod
objects list, and the EPP (alone or behind real Envoy) watching the API."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import aiohttp
import pytest

from inference_gateway.app import (
    EppSettings,
    Gateway,
    GatewaySettings,
    KubernetesSourceSettings,
)
from inference_gateway.envoy.bootstrap import EnvoySettings
from inference_gateway.extproc.server import ExtProcSettings
from inference_gateway.extproc.tls import TlsSettings
from inference_gateway.simulator.server import PodSpec, SimPod, run_pods
from tests.integration.sources.conftest import SETTINGS, X
from tests.integration.sources.fakeapi import FakeApiServer

MODEL = "sim-model"
IPS = {"sim-a": "127.0.0.21", "sim-b": "127.0.0.22", "sim-c": "127.0.0.23"}


def shared_free_port() -> int:
    """A port free on the first pod address; the pool's one targetPort serves every pod."""
    with socket.socket() as s:
        s.bind((IPS["sim-a"], 0))
        return int(s.getsockname()[1])


def v1alpha2_pool(port: int, name: str = "pool") -> dict[str, Any]:
    return {
        "apiVersion": X,
        "kind": "InferencePool",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "selector": {"app": "vllm"},
            "targetPortNumber": port,
            "extensionRef": {"name": "epp"},
        },
    }


def kube_settings(
    kubeconfig: Path, *, group: str = "inference.networking.k8s.io"
) -> KubernetesSourceSettings:
    return KubernetesSourceSettings.model_validate(
        {
            "pool_name": "pool",
            "kubeconfig": str(kubeconfig),
            "pool_group": group,
            "timings": SETTINGS,
        }
    )


@dataclass
class Cluster:
    api: FakeApiServer
    kubeconfig: Path
    port: int
    pods: list[SimPod]
    workdir: Path


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    port = shared_free_port()
    specs = [PodSpec(name, ip, port) for name, ip in IPS.items()]
    async with FakeApiServer() as api, run_pods(specs) as pods:
        kubeconfig = api.kubeconfig(tmp_path / "kubeconfig")
        yield Cluster(api, kubeconfig, port, pods, tmp_path)


@asynccontextmanager
async def kube_gateway(
    cluster: Cluster,
    *,
    group: str = "inference.networking.k8s.io",
    tls: bool = True,
    transport: Literal["inline", "grpcio"] = "inline",
    kubernetes: KubernetesSourceSettings | None = None,
) -> AsyncIterator[Gateway]:
    epp = EppSettings(
        kubernetes=kubernetes or kube_settings(cluster.kubeconfig, group=group),
        grpc=ExtProcSettings(port=0, tls=TlsSettings() if tls else None, transport=transport),
        seed=1,
    )
    envoy = EnvoySettings(port=0, admin_port=0, epp_health_interval_seconds=0.2)
    settings = GatewaySettings(epp=epp, envoy=envoy, workdir=cluster.workdir / "gw")
    async with Gateway(settings) as gw:
        yield gw


async def chat(session: aiohttp.ClientSession, url: str) -> tuple[int, str | None]:
    """One chat completion; the status and the pod that served it (``x-served-by``)."""
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
    async with session.post(
        url + "/v1/chat/completions",
        data=json.dumps(body),
        headers={"content-type": "application/json"},
    ) as resp:
        await resp.read()
        return resp.status, resp.headers.get("x-served-by")


async def first_served(
    session: aiohttp.ClientSession, url: str, *, within: float = 15.0
) -> tuple[int, str | None]:
    """Poll until a request gets a 200: Envoy admits the EPP after its first passing
    health check, which only passes once the EPP has synced."""
    async with asyncio.timeout(within):
        while True:
            status, pod = await chat(session, url)
            if status == 200:
                return status, pod
            await asyncio.sleep(0.05)
