"""EPP CPU per request through the real Director, datastore and scheduler, at real pool sizes.

``bench pick`` times the scheduler alone on a ready-made list; this times what the server
does for each request: the Director parses the body, resolves the model, reads the pool's
endpoints from the datastore, asks admission and the scheduler, acquires the in-flight
slot, and ``finish`` releases it and records metrics. The pieces are the ones the EPP
builds (its registry, the built-in config, ``EppMetrics``, the saturation detector).
Every endpoint carries fresh, varied metrics written through ``Datastore.set_metrics`` as
the scraper would. Next to it, the scheduler's own pick cost on the same endpoints and
requests (what ``bench pick`` measures), so the difference is the cost around the
scheduler. Figures are CPU time of this process per request (``time.process_time``), best
of several rounds, so other work on a shared machine does not count against it.

The Director is built by ``_director`` and driven by ``_handle``, the two places that know
its API.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from inference_gateway.app import epp_registry
from inference_gateway.bench.pick_speed import ADAPTERS, SYSTEM_PROMPTS
from inference_gateway.datastore import Datastore, Metrics, ModelInfo, PodInfo, PoolInfo
from inference_gateway.observability.metrics import EppMetrics
from inference_gateway.requestcontrol import Director
from inference_gateway.requestcontrol.pipeline import build_director
from inference_gateway.requestcontrol.types import GatewayError, IncomingRequest
from inference_gateway.scheduling.config import load_config
from inference_gateway.scheduling.scheduler import build_scheduler
from inference_gateway.scheduling.types import Criticality, LLMRequest, NoCapacityError

NOW = 1000.0
MODEL = "llama"
POOL = PoolInfo(name="bench", namespace="default", selector={"app": "vllm"}, target_ports=(8000,))


@dataclass(frozen=True, slots=True)
class RequestCost:
    config: str
    pods: int
    route_us: float
    """CPU per request through the Director (route + finish), microseconds."""
    pick_us: float
    """CPU per pick of the scheduler alone on the same endpoints, microseconds."""
    requests: int
    rejected: int
    """Requests the Director answered with an error (admission shed them): still measured."""

    @property
    def around_us(self) -> float:
        """What the EPP spends around the scheduler per request."""
        return self.route_us - self.pick_us


def pool_datastore(pods: int, rng: random.Random) -> Datastore:
    """A datastore with one pool of ``pods`` ready pods, each with fresh scraped metrics."""
    ds = Datastore()
    ds.upsert_pool(POOL)
    ds.upsert_model(ModelInfo(name=MODEL, namespace="default", model_name=MODEL, pool="bench"))
    for i in range(pods):
        address = f"127.{1 + i // 62500}.{(i // 250) % 250}.{11 + i % 250}"
        ds.upsert_pod(
            PodInfo(
                name=f"vllm-{i:05d}", namespace="default", address=address, labels=POOL.selector
            )
        )
    for endpoint in ds.endpoints(POOL.key):
        ds.set_metrics(endpoint.hostport, _metrics(rng))
    return ds


def _metrics(rng: random.Random) -> Metrics:
    return Metrics(
        waiting=rng.choice((0, 0, 1, 2, 3, 5, 8, 13)),
        running=rng.randint(0, 64),
        kv_usage=rng.uniform(0.0, 0.9),
        running_adapters=frozenset(rng.sample(ADAPTERS, rng.randint(0, 2))),
        max_adapters=3,
        updated_at=NOW - rng.uniform(0.0, 0.05),
    )


def _bodies(count: int, rng: random.Random) -> list[tuple[str, bytes]]:
    prompts = []
    for i in range(count):
        prompt = rng.choice(SYSTEM_PROMPTS) + f"question {i}: " + "w" * rng.randint(0, 400)
        body = {"model": MODEL, "messages": [{"role": "user", "content": prompt}]}
        prompts.append((prompt, json.dumps(body).encode()))
    return prompts


def _director(config: str, ds: Datastore, seed: int) -> Director:
    """Built as ``Epp`` builds it, on a fixed clock so the metrics stay fresh."""
    metrics = EppMetrics(ds, clock=lambda: NOW)
    director, _ = build_director(
        ds,
        load_config(config, epp_registry()),
        rng=random.Random(seed),
        metrics=metrics,
        observer=metrics.observe_plugin,
        clock=lambda: NOW,
    )
    return director


_HEADERS = {":path": "/v1/chat/completions", ":method": "POST", "content-type": "application/json"}


def _handle(director: Director, body: bytes) -> bool:
    """One request through the Director as the ext_proc handler drives it; False if refused.

    The built-in configs have no request-side plugin, so routing is synchronous.
    """
    try:
        routed = director.route_now(IncomingRequest(headers=_HEADERS, body=body))
    except GatewayError:
        return False
    routed.finish()
    return True


def _best_cpu_per_call(call: Callable[[int], object], *, rounds: int, per_round: int) -> float:
    best = float("inf")
    done = 0
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(per_round):
            call(done)
            done += 1
        best = min(best, (time.process_time() - started) / per_round)
    return best


def measure(
    config: str, pods: int, *, seed: int = 0, seconds: float = 1.0, rounds: int = 5
) -> RequestCost:
    rng = random.Random(seed)
    ds = pool_datastore(pods, rng)
    bodies = _bodies(256, rng)
    director = _director(config, ds, seed)
    rejected = 0

    def route(i: int) -> None:
        nonlocal rejected
        if not _handle(director, bodies[i % len(bodies)][1]):
            rejected += 1

    # One request to size the rounds: each round should take ~seconds/rounds of CPU.
    started = time.process_time()
    for i in range(20):
        route(i)
    per_request = max((time.process_time() - started) / 20, 1e-6)
    per_round = max(20, int(seconds / rounds / per_request))
    route_cost = _best_cpu_per_call(route, rounds=rounds, per_round=per_round)
    total = 20 + rounds * per_round

    scheduler = build_scheduler(load_config(config, epp_registry()), rng=random.Random(seed))
    endpoints = ds.endpoints(POOL.key)  # the published view, as the Director passes it
    requests = [
        LLMRequest(
            request_id=f"r{i}",
            model=MODEL,
            target_model=MODEL,
            criticality=Criticality.STANDARD,
            prompt=prompt,
        )
        for i, (prompt, _) in enumerate(bodies)
    ]

    def pick(i: int) -> None:
        with contextlib.suppress(NoCapacityError):
            scheduler.schedule(requests[i % len(requests)], endpoints, NOW)

    pick_cost = _best_cpu_per_call(pick, rounds=rounds, per_round=per_round)
    return RequestCost(config, pods, route_cost * 1e6, pick_cost * 1e6, total, rejected)


def run(
    configs: Sequence[str] = ("default", "scorer-mix"),
    sizes: Sequence[int] = (10, 100, 1000, 5000),
    *,
    seed: int = 0,
    seconds: float = 1.0,
) -> list[RequestCost]:
    return [measure(c, n, seed=seed, seconds=seconds) for c in configs for n in sizes]
