"""A real gateway (in-process EPP + Envoy) in front of simulated vLLM pods, per test.

Each test describes its pods with ``PodSpec``s (all on one port, one loopback address
each, as a pool has one target port) and gets a ``Cluster``: the gateway, the running
``SimPod``s, an HTTP session and helpers that poll the EPP's datastore instead of sleeping.
The Pod objects in the config are named like the simulator pods, so the endpoint name in
the debug header and the simulator's ``x-served-by`` can be compared directly.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import aiohttp

from inference_gateway.app import EppSettings, Gateway, GatewaySettings
from inference_gateway.datastore.types import Endpoint
from inference_gateway.envoy.bootstrap import EnvoySettings
from inference_gateway.extproc.server import ExtProcSettings
from inference_gateway.simulator.server import PodSpec, SimPod, run_pods
from tests.integration.gateway.pods import documents, free_port, pod_doc, pool_doc

BASE = "sim-model"
POOL = "pool"
SCRAPE_INTERVAL = 0.05

MODEL = """\
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferenceModel
metadata: {{name: {key}, namespace: default}}
spec:
  modelName: {model}
  criticality: {criticality}
  poolRef: {{name: {pool}}}
  targetModels: {targets}
"""


def model_doc(model: str, criticality: str, targets: Sequence[str] = ()) -> str:
    key = model.replace("_", "-").lower()
    items = json.dumps([{"name": t} for t in targets])
    return MODEL.format(key=key, model=model, criticality=criticality, pool=POOL, targets=items)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def served_by(self) -> str | None:
        return self.headers.get("x-served-by")

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Cluster:
    gateway: Gateway
    pods: list[SimPod]
    session: aiohttp.ClientSession

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.pods]

    def pod(self, name: str) -> SimPod:
        return next(p for p in self.pods if p.name == name)

    def endpoints(self) -> dict[str, Endpoint]:
        return {e.name: e for e in self.gateway.datastore.endpoints(f"default/{POOL}")}

    def fresh(self, within: float = 2 * SCRAPE_INTERVAL) -> dict[str, Endpoint]:
        """Endpoints whose metrics were scraped within ``within`` seconds."""
        now = time.monotonic()
        return {n: e for n, e in self.endpoints().items() if e.metrics.age(now) <= within}

    async def wait_until(
        self, cond: Callable[[], bool], what: str, within: float = 3.0, every: float = 0.01
    ) -> float:
        """Poll ``cond`` until true; returns the seconds it took, fails after ``within`` s."""
        start = time.monotonic()
        while not cond():
            if time.monotonic() - start > within:
                raise AssertionError(f"timed out after {within} s waiting for {what}")
            await asyncio.sleep(every)
        return time.monotonic() - start

    async def wait_all_fresh(self) -> None:
        want = set(self.names)
        await self.wait_until(lambda: set(self.fresh()) == want, "fresh metrics for every pod")

    def body(self, model: str = BASE, *, max_tokens: int = 8, **extra: Any) -> dict[str, Any]:
        return {
            "model": model,
            "messages": [{"role": "user", "content": "hello"}],
            "max_tokens": max_tokens,
            "ignore_eos": True,
            **extra,
        }

    async def chat(
        self, model: str = BASE, *, headers: dict[str, str] | None = None, **body: Any
    ) -> Reply:
        url = self.gateway.url + "/v1/chat/completions"
        async with self.session.post(url, json=self.body(model, **body), headers=headers) as r:
            return Reply(r.status, dict(r.headers), await r.read())

    async def hold(self, url: str, model: str, started: asyncio.Event, tokens: int = 4000) -> None:
        """A long streamed request that runs until its task is cancelled (a client leaving)."""
        body = self.body(model, max_tokens=tokens, stream=True)
        async with self.session.post(url + "/v1/chat/completions", json=body) as r:
            assert r.status == 200, await r.read()
            started.set()
            async for _ in r.content.iter_any():
                pass


async def held(c: Cluster, url: str, model: str) -> asyncio.Task[None]:
    """Start ``Cluster.hold`` and return its task once the pod has accepted the request."""
    started = asyncio.Event()
    task = asyncio.create_task(c.hold(url, model, started))
    try:
        await c.wait_until(lambda: started.is_set() or task.done(), "a long request to start")
        if task.done():
            task.result()
    except BaseException:
        await cancel_all([task])
        raise
    return task


async def cancel_all(tasks: Sequence[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@asynccontextmanager
async def cluster(
    tmp: Path,
    specs: Sequence[PodSpec],
    *,
    models: Sequence[str] = (),
    plugins: str = "default",
    time_scale: float = 1.0,
    seed: int = 7,
    transport: Literal["inline", "grpcio"] = "inline",
) -> AsyncIterator[Cluster]:
    """Pods, then the gateway over them; ``models`` are extra InferenceModel documents."""
    async with run_pods(specs, time_scale=time_scale) as pods:
        config = tmp / "gateway.yaml"
        config.write_text(
            documents(
                pool_doc(POOL, pods[0].port),
                model_doc(BASE, "Standard"),
                *models,
                *(pod_doc(p.name, POOL, p.host) for p in pods),
            )
        )
        settings = GatewaySettings(
            epp=EppSettings(
                pool_file=config,
                grpc=ExtProcSettings(port=0, transport=transport),
                plugins_config=plugins,
                scrape_interval=SCRAPE_INTERVAL,
                seed=seed,
            ),
            envoy=EnvoySettings(port=0, admin_port=0, epp_health_interval_seconds=0.2),
            workdir=tmp,
        )
        async with Gateway(settings) as gw, aiohttp.ClientSession() as session:
            c = Cluster(gw, pods, session)
            await c.wait_all_fresh()
            yield c


def specs(hosts: Sequence[str], **engine: Any) -> list[PodSpec]:
    """One pod per host, all on one free port, named ``pod-<i>``."""
    port = free_port(hosts[0])
    return [PodSpec(f"pod-{i}", h, port, model=BASE, **engine) for i, h in enumerate(hosts)]
