"""What flow control costs the EPP per request when nothing is queued (the fast path).

The real ``Director`` (default EndpointPickerConfig scheduler, real ``Datastore``) routes
and finishes the same chat request again and again, with flow control off and on, at 10,
100 and 1,000 pods. The pods have fresh metrics spread like a busy pool's, with room on
some, so with flow control on every request takes the fast path: the gate finds room,
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

from inference_gateway.datastore import Datastore, ModelInfo, PodInfo, PoolInfo
from inference_gateway.datastore.types import Metrics
from inference_gateway.requestcontrol import Director, IncomingRequest
from inference_gateway.requestcontrol.flowcontrol.admission import FlowControl
from inference_gateway.requestcontrol.flowcontrol.config import FlowControlConfig
from inference_gateway.requestcontrol.flowcontrol.gate import SaturationGate
from inference_gateway.requestcontrol.flowcontrol.hook import FlowHook
from inference_gateway.scheduling.config import load_config
from inference_gateway.scheduling.scheduler import build_saturation_detector, build_scheduler

NOW = 1000.0
MODEL = "sim-model"


@dataclass(frozen=True, slots=True)
class OverheadRow:
    pods: int
    off_us: float
    on_us: float

    @property
    def ratio(self) -> float:
        return self.on_us / self.off_us


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
    return store


def _director(store: Datastore, flow: bool) -> Director:
    config = load_config("default")
    detector = build_saturation_detector(config)
    rng = random.Random(0)
    hook = None
    if flow:
        fc = FlowControl(FlowControlConfig(), store.endpoints, gate=SaturationGate.like(detector),
                         clock=lambda: NOW)  # fmt: skip
        hook = FlowHook(fc, store)
    return Director(store, build_scheduler(config, rng=rng), rng=rng, clock=lambda: NOW,
                    admission=None if flow else detector, flow=hook)  # fmt: skip


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
        off, on = _director(store, False), _director(store, True)
        count = max(200, 20_000 // pods)
        _measure(off, request, count // 4)
        _measure(on, request, count // 4)
        best_off = best_on = float("inf")
        for _ in range(rounds):
            best_off = min(best_off, _measure(off, request, count))
            best_on = min(best_on, _measure(on, request, count))
        rows.append(OverheadRow(pods, best_off, best_on))
    return rows


def table(rows: Sequence[OverheadRow]) -> str:
    lines = ["| pods | off, µs CPU/request | on (empty queue) | on/off |", "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.pods} | {r.off_us:.1f} | {r.on_us:.1f} | {r.ratio:.3f} |")
    return "\n".join(lines) + "\n"
