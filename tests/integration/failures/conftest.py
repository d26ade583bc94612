"""A real gateway (in-process EPP + Envoy) over simulated pods, with failure knobs.

Like ``tests/integration/scheduling``'s ``cluster`` but with the EPP on a fixed port (so it
can be stopped and started again where Envoy expects it), a chosen failure mode, and an
EndpointPickerConfig given as YAML text or a built-in name. Helpers count outcomes and
poll the EPP's datastore instead of sleeping.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import aiohttp

from inference_gateway.app import EppSettings, Gateway, GatewaySettings
from inference_gateway.envoy.bootstrap import EnvoySettings
from inference_gateway.extproc.server import ExtProcSettings
from inference_gateway.simulator.server import PodSpec, run_pods
from tests.integration.gateway.pods import documents, free_port, pod_doc, pool_doc
from tests.integration.scheduling.conftest import BASE, POOL, SCRAPE_INTERVAL, Cluster, model_doc

HEALTH_INTERVAL = 0.2


def health_config(base: float, cap: float, threshold: int = 3) -> str:
    """least-request behind healthy-endpoint-filter with short ejections (for recovery)."""
    return f"""\
apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: healthy-endpoint-filter
  parameters: {{consecutiveFailures: {threshold}, ejectionSeconds: {base}, \
maxEjectionSeconds: {cap}}}
- type: inflight-load-scorer
- type: max-score-picker
schedulingProfiles:
- name: default
  plugins:
  - pluginRef: healthy-endpoint-filter
  - {{pluginRef: inflight-load-scorer, weight: 1}}
  - pluginRef: max-score-picker
"""


@asynccontextmanager
async def gateway(
    tmp: Path,
    specs: Sequence[PodSpec],
    *,
    plugins: str = "default",
    failure_mode: Literal["FailOpen", "FailClose"] = "FailClose",
    time_scale: float = 1.0,
) -> AsyncIterator[Cluster]:
    """Pods, then the gateway over them; ``plugins`` is a built-in name or YAML text."""
    if plugins.lstrip().startswith("apiVersion"):
        path = tmp / "plugins.yaml"
        path.write_text(plugins)
        plugins = str(path)
    async with run_pods(specs, time_scale=time_scale) as pods:
        config = tmp / "gateway.yaml"
        config.write_text(
            documents(
                pool_doc(POOL, pods[0].port, failure_mode),
                model_doc(BASE, "Standard"),
                *(pod_doc(p.name, POOL, p.host) for p in pods),
            )
        )
        settings = GatewaySettings(
            epp=EppSettings(
                pool_file=config,
                grpc=ExtProcSettings(port=free_port("127.0.0.1")),
                plugins_config=plugins,
                scrape_interval=SCRAPE_INTERVAL,
                seed=7,
            ),
            envoy=EnvoySettings(port=0, admin_port=0, epp_health_interval_seconds=HEALTH_INTERVAL),
            failure_mode=failure_mode,
            workdir=tmp,
        )
        timeout = aiohttp.ClientTimeout(total=10)
        async with Gateway(settings) as gw, aiohttp.ClientSession(timeout=timeout) as session:
            c = Cluster(gw, pods, session)
            await c.wait_all_fresh()
            yield c


def pods(n: int, **engine: Any) -> list[PodSpec]:
    """``n`` pods on 127.0.0.11.., one free port, named ``pod-<i>``."""
    hosts = [f"127.0.0.{11 + i}" for i in range(n)]
    port = free_port(hosts[0])
    return [PodSpec(f"pod-{i}", h, port, model=BASE, **engine) for i, h in enumerate(hosts)]


def total_in_flight(c: Cluster) -> int:
    ds = c.gateway.datastore
    return sum(ds.in_flight(e.hostport) for e in ds.all_endpoints())


async def poll(cond: Callable[[], bool], what: str, within: float = 3.0) -> None:
    """Wait for ``cond`` (checked every 10 ms); fail after ``within`` seconds."""

    async def check() -> bool:
        return cond()

    await apoll(check, what, within)


async def apoll(cond: Callable[[], Awaitable[bool]], what: str, within: float = 3.0) -> None:
    """Wait for an async ``cond`` (checked every 10 ms); fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not await cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.01)


async def envoy_sees_epp(c: Cluster) -> bool:
    """Whether Envoy's health check currently counts the EPP as healthy."""
    envoy = c.gateway.envoy
    assert envoy is not None
    text = await envoy.admin("/clusters")
    flags = [ln for ln in text.splitlines() if ln.startswith("epp::") and "::health_flags::" in ln]
    assert len(flags) == 1, text
    return flags[0].endswith("::healthy")


async def restart_epp(c: Cluster) -> None:
    """Serve ext_proc again on the same port (what a restarted EPP pod does)."""
    port = c.gateway.epp.server.port if c.gateway.epp.server is not None else None
    await c.gateway.epp.restart_grpc()
    assert c.gateway.epp.server is not None and c.gateway.epp.server.port == port


@dataclass(frozen=True)
class Outcome:
    started: float
    """``time.monotonic()`` when the request was sent."""
    at: float
    """``time.monotonic()`` when the response ended."""
    status: int | str
    """The HTTP status, or the client exception's class name."""
    served_by: str
    """The simulator pod's ``x-served-by`` ("" when no pod answered)."""
    via_epp: bool
    """The EPP routed it (its debug header came back), rather than a FailOpen bypass."""


class Load:
    """Closed-loop clients sending short chats until stopped; every outcome is kept."""

    def __init__(self, c: Cluster, clients: int, **body: Any) -> None:
        self.c = c
        self.clients = clients
        self.body = c.body(**body)
        self.outcomes: list[Outcome] = []
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def _client(self) -> None:
        url = self.c.gateway.url + "/v1/chat/completions"
        debug = {"x-gateway-debug": "true"}
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                async with self.c.session.post(url, json=self.body, headers=debug) as r:
                    await r.read()
                    served, via = r.headers.get("x-served-by", ""), "x-gateway-debug" in r.headers
                    self.outcomes.append(Outcome(started, time.monotonic(), r.status, served, via))
            except aiohttp.ClientError as e:
                self.outcomes.append(
                    Outcome(started, time.monotonic(), type(e).__name__, "", False)
                )

    def since(self, t: float) -> list[Outcome]:
        return [o for o in self.outcomes if o.at >= t]

    def statuses(self, since: float = float("-inf")) -> Counter[int | str]:
        return Counter(o.status for o in self.since(since))

    def served(self, since: float = float("-inf")) -> Counter[str]:
        return Counter(o.served_by for o in self.since(since))

    async def until(self, n: int, within: float = 3.0) -> None:
        """Wait until ``n`` more requests have finished."""
        target = len(self.outcomes) + n
        await poll(lambda: len(self.outcomes) >= target, f"{n} more responses", within)

    async def __aenter__(self) -> Load:
        self._tasks = [asyncio.create_task(self._client()) for _ in range(self.clients)]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        try:
            async with asyncio.timeout(5):
                await asyncio.gather(*self._tasks)
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
