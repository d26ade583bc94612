"""What one demo run stands on: four simulated pods, their config file, EPP and Envoy.

A pool has one target port, so all four pods listen on the same port on 127.0.0.11-14;
``shared_free_port`` finds one that is free on every address. The standalone config is
written at run time (pods are ``v1/Pod`` objects whose ``podIP`` is the loopback address)
with four InferenceModels that exercise the routing rules the demo shows: a Critical chat
model on a LoRA adapter, a Standard model split 90/10 between two adapter versions (a
rollout), a Sheddable batch model and the base model by its own name.

``demo_world`` starts pods, then the gateway, and waits (bounded) until the EPP has fresh
metrics for all four pods, so the first scheduled request already sees the whole pool.
Exit stops them in reverse order, Envoy (a child process) included.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from inference_gateway.app import EppSettings, Gateway, GatewaySettings
from inference_gateway.demo.settings import (
    ADAPTERS,
    BASE_MODEL,
    CHAT_ADAPTER,
    POD_HOSTS,
    POD_NAMES,
    POOL_NAME,
    SLOW_POD,
    SQL_V1,
    SQL_V2,
    DemoSettings,
    Policy,
)
from inference_gateway.envoy.bootstrap import EnvoySettings
from inference_gateway.extproc.server import ExtProcSettings
from inference_gateway.requestcontrol.flowcontrol.build import with_flow_control
from inference_gateway.simulator import PodSpec, SimPod, ports, run_pods

_READY_TIMEOUT = 10.0
_READY_POLL = 0.05
_LOOPBACK_HINT = (
    "cannot bind {host} ({error}). The demo gives each simulated pod its own loopback "
    "address; Linux routes all of 127.0.0.0/8 to lo, macOS needs aliases first: "
    "for i in 11 12 13 14; do sudo ifconfig lo0 alias 127.0.0.$i up; done"
)


@dataclass(frozen=True, slots=True)
class ModelEntry:
    """One InferenceModel of the demo: the client-facing name and where it goes."""

    name: str
    criticality: str
    targets: tuple[tuple[str, int], ...]


MODELS = (
    ModelEntry("chat", "Critical", ((CHAT_ADAPTER, 100),)),
    ModelEntry("support", "Standard", ((SQL_V1, 90), (SQL_V2, 10))),
    ModelEntry("batch", "Sheddable", ((BASE_MODEL, 100),)),
    ModelEntry(BASE_MODEL, "Standard", ((BASE_MODEL, 100),)),
)
CRITICALITY = {m.name: m.criticality for m in MODELS}


class DemoStartError(RuntimeError):
    """Something the demo needs could not start; the message says what and why."""


def shared_free_port(hosts: Sequence[str]) -> int:
    """A TCP port free on every host, or a ``DemoStartError`` that says what to fix."""
    try:
        return ports.shared_free_port(hosts)
    except OSError as e:
        raise DemoStartError(_LOOPBACK_HINT.format(host=hosts[0], error=e)) from e
    except RuntimeError as e:
        raise DemoStartError(str(e)) from e


def pod_specs(settings: DemoSettings, port: int) -> list[PodSpec]:
    return [
        PodSpec(
            name,
            host,
            port,
            model=BASE_MODEL,
            adapters=ADAPTERS,
            max_loras=settings.max_loras,
            max_num_seqs=settings.max_num_seqs,
            slowdown=settings.slowdown if name == SLOW_POD else 1.0,
            seed=i,
        )
        for i, (name, host) in enumerate(zip(POD_NAMES, POD_HOSTS, strict=True))
    ]


def config_yaml(port: int) -> str:
    """The standalone config: one pool, the four models and the four pods."""
    pool = {
        "apiVersion": "inference.networking.x-k8s.io/v1alpha2",
        "kind": "InferencePool",
        "metadata": {"name": POOL_NAME, "namespace": "default"},
        "spec": {
            "selector": {"app": POOL_NAME},
            "targetPortNumber": port,
            "extensionRef": {"name": "epp", "failureMode": "FailClose"},
        },
    }
    docs: list[object] = [pool]
    for i, m in enumerate(MODELS):
        targets = [{"name": n, "weight": w} for n, w in m.targets]
        docs.append(
            {
                "apiVersion": "inference.networking.x-k8s.io/v1alpha2",
                "kind": "InferenceModel",
                "metadata": {"name": f"model-{i}", "namespace": "default"},
                "spec": {
                    "modelName": m.name,
                    "criticality": m.criticality,
                    "poolRef": {"name": POOL_NAME},
                    "targetModels": targets,
                },
            }
        )
    for name, host in zip(POD_NAMES, POD_HOSTS, strict=True):
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "namespace": "default", "labels": {"app": POOL_NAME}},
                "status": {"podIP": host, "conditions": [{"type": "Ready", "status": "True"}]},
            }
        )
    # JSON is YAML; one object per document keeps the file readable for a curious user.
    return "---\n".join(json.dumps(d, indent=2) + "\n" for d in docs)


@dataclass
class World:
    gateway: Gateway
    pods: list[SimPod]
    policy: Policy

    @property
    def url(self) -> str:
        return self.gateway.url

    def pod_name(self, hostport: str) -> str:
        return next((p.name for p in self.pods if f"{p.host}:{p.port}" == hostport), hostport)


FLOW_CONTROL = {"defaultRequestTTL": "20s", "priorityBands": [{"priority": -1, "maxRequests": 4}]}
"""Requests wait up to 20 s; Sheddable ones only 4 at a time, the rest get 429 at once."""


def flow_config(policy: str, settings: DemoSettings) -> str:
    """``policy`` with flow control as ``bench flow-control`` runs it: released only into a
    free batch slot (upstream's ``concurrency-detector`` at the pods' ``max_num_seqs``), and
    one slot of the pool kept for Critical (a usage limit on the lower bands)."""
    slots = len(POD_HOSTS) * settings.max_num_seqs
    below_full = (slots - 1) / slots
    return with_flow_control(
        policy,
        FLOW_CONTROL,
        detector={
            "type": "concurrency-detector",
            "parameters": {"maxConcurrency": settings.max_num_seqs},
        },
        usage_limit={
            "type": "priority-usage-limit-policy",
            "parameters": {
                "thresholds": [
                    {"priority": 0, "threshold": below_full},
                    {"priority": -1, "threshold": below_full},
                ]
            },
        },
    )


@contextlib.asynccontextmanager
async def demo_world(settings: DemoSettings, policy: Policy, workdir: Path) -> AsyncIterator[World]:
    """Pods, then EPP + Envoy with ``policy``'s scheduler config; all stopped on exit."""
    port = shared_free_port(POD_HOSTS)
    config = _write_config(workdir, port)
    gw_settings = GatewaySettings(
        epp=EppSettings(
            pool_file=config,
            grpc=ExtProcSettings(port=0),
            # Flow control (issue 16) for the main run: the baseline stays a plain proxy.
            plugins_config=(flow_config(policy, settings) if policy == settings.policy else policy),
            seed=settings.seed,
        ),
        envoy=EnvoySettings(
            port=0,
            admin_port=0,
            log_level=settings.envoy_log_level,
            epp_health_interval_seconds=0.2,
        ),
        workdir=workdir,
    )
    async with contextlib.AsyncExitStack() as stack:
        try:
            pods = await stack.enter_async_context(
                run_pods(pod_specs(settings, port), time_scale=settings.time_scale)
            )
        except OSError as e:
            raise DemoStartError(f"could not start the simulated pods on port {port}: {e}") from e
        gateway = await stack.enter_async_context(Gateway(gw_settings))
        await _wait_for_metrics(gateway)
        yield World(gateway, pods, policy)


def _write_config(workdir: Path, port: int) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "gateway.yaml"
    config.write_text(config_yaml(port))
    return config


async def _wait_for_metrics(gateway: Gateway) -> None:
    """Until the EPP has scraped every pod once (bounded); the scheduler needs that."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _READY_TIMEOUT
    while loop.time() < deadline:
        endpoints = gateway.datastore.all_endpoints()
        scraped = [e for e in endpoints if e.metrics.updated_at > float("-inf")]
        if len(scraped) == len(POD_NAMES):
            return
        await asyncio.sleep(_READY_POLL)
    raise DemoStartError("the endpoint picker did not see metrics from all four pods in time")
