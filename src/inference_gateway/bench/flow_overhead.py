"""What flow control costs the EPP per request when nothing is queued (the fast path).

The real ``Director`` (built by the EPP's pipeline from the default EndpointPickerConfig,
real ``Datastore``) routes and finishes the same chat request again and again, with flow
control off and on (as ``bench flow-control`` runs it: concurrency gate, usage limit), at 10,
100 and 1,000 pods. The pods have fresh metrics spread like a busy pool's, with room on
some, and 0-20 requests in flight each (still streaming), so with flow control on every
request takes the fast path: the gate finds room,
nothing is queued, and the candidates are narrowed to the pods with room. CPU time
(``process_time``) per request, best of several interleaved rounds, so that a noisy
neighbour on a shared machine inflates neither side more than the other.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

from inference_gateway.bench.flow_stage import flow_source
from inference_gateway.datastore import Datastore, ModelInfo, PodInfo, PoolInfo
from inference_gateway.datastore.types import Metrics
from inference_gateway.requestcontrol import Director, IncomingRequest
from inference_gateway.requestcontrol.flowcontrol.build import (
    register_flow_policies,
    with_flow_control,
)
from inference_gateway.requestcontrol.pipeline import build_director
from inference_gateway.scheduling.config import load_config
from inference_gateway.scheduling.registry import default_registry

NOW = 1000.0
MODEL = "sim-model"
PLAIN_DETECTOR = {"type": "saturation-detector"}
"""The default config's own detector (queue 5, KV 0.8, 200 ms), as the dispatch gate."""


@dataclass(frozen=True, slots=True)
class OverheadRow:
    pods: int
    off_us: float
    on_us: float
    """Flow control as ``bench flow-control`` runs it: concurrency gate, usage limit."""
    plain_us: float = 0.0
    """Flow control with nothing but the feature gate: the config's own detector."""

    @property
    def ratio(self) -> float:
        return self.on_us / self.off_us

    @property
    def plain_ratio(self) -> float:
        return self.plain_us / self.off_us


def _store(pods: int, rng: random.Random) -> Datastore:
    store = Datastore()
    store.upsert_pool(PoolInfo(name="pool", namespace="default", selector={"app": "llm"},
                               target_ports=(8000,)))  # fmt: skip
    for i in range(pods):
        address = f"127.{i // 62500}.{i // 250 % 250}.{11 + i % 250}"
        store.upsert_pod(PodInfo(name=f"pod-{i}", namespace="default", address=address,
                                 labels={"app": "llm"}))  # fmt: skip
    store.upsert_model(ModelInfo(name=MODEL, namespace="default", model_name=MODEL, pool="pool"))
    for e in store.endpoints("default/pool"):
        waiting = rng.choice((0, 0, 1, 2, 3, 5, 8, 13))
        metrics = Metrics(waiting=waiting, running=rng.randint(8, 64),
                          kv_usage=rng.uniform(0.1, 0.9), updated_at=NOW - 0.02)  # fmt: skip
        store.set_metrics(e.hostport, metrics)
        for _ in range(rng.randint(0, 20)):  # requests of a busy pool, still streaming
            store.acquire(e.hostport)
    return store


def _director(store: Datastore, flow: str) -> Director:
    """The EPP's director for the default config: ``off``; ``on``, flow control as ``bench
    flow-control`` and the demo run it (concurrency gate and usage limit); ``plain``, only
    the feature gate (the default config's own saturation detector gates dispatch)."""
    registry = default_registry()
    register_flow_policies(registry)
    source = {
        "off": "default",
        "on": flow_source("default"),
        "plain": with_flow_control("default", {}, detector=PLAIN_DETECTOR),
    }[flow]
    config = load_config(source, registry)
    director, _ = build_director(store, config, rng=random.Random(0), clock=lambda: NOW)
    return director


def _request() -> IncomingRequest:
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Summarise the following text. " * 30}],
        "max_tokens": 128,
    }
    headers = {":path": "/v1/chat/completions", ":method": "POST", "x-request-id": "bench"}
    return IncomingRequest(headers=headers, body=json.dumps(body).encode())


def _measure(director: Director, request: IncomingRequest, count: int) -> float:
    start = time.process_time()
    for _ in range(count):
        director.route_now(request).finish()
    return (time.process_time() - start) / count * 1e6


def run(pod_counts: Sequence[int] = (10, 100, 1000), rounds: int = 5) -> list[OverheadRow]:
    rows = []
    request = _request()
    for pods in pod_counts:
        store = _store(pods, random.Random(pods))
        directors = [_director(store, flow) for flow in ("off", "on", "plain")]
        count = max(200, 20_000 // pods)
        best = [float("inf")] * len(directors)
        for d in directors:
            _measure(d, request, count // 4)
        for _ in range(rounds):
            for i, d in enumerate(directors):
                best[i] = min(best[i], _measure(d, request, count))
        rows.append(OverheadRow(pods, best[0], best[1], best[2]))
    return rows


def table(rows: Sequence[OverheadRow]) -> str:
    lines = [
        "| pods | off, µs CPU/request | on: concurrency gate + usage limit | on/off "
        "| on: feature gate only | on/off |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.pods} | {r.off_us:.1f} | {r.on_us:.1f} | {r.ratio:.3f} "
            f"| {r.plain_us:.1f} | {r.plain_ratio:.3f} |"
        )
    return "\n".join(lines) + "\n"
