"""Builders for request-control tests: a real Datastore with one pool of loopback pods."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping, Sequence

from inference_gateway.datastore import (
    Datastore,
    Endpoint,
    ModelInfo,
    ObjectiveInfo,
    PodInfo,
    PoolInfo,
    RewriteInfo,
    RewriteRule,
    TargetModel,
)
from inference_gateway.requestcontrol import Director, DirectorSettings, IncomingRequest
from inference_gateway.requestcontrol.routed import Routed
from inference_gateway.scheduling.types import Decision, LLMRequest, NoEndpointsError

NS = "default"
POOL = "pool"
POOL_KEY = f"{NS}/{POOL}"
CHAT = "/v1/chat/completions"


class LeastInFlightScheduler:
    """A scheduler double that needs no metrics: least in flight, ties by name."""

    def schedule(self, request: LLMRequest, endpoints: Sequence[Endpoint], now: float) -> Decision:
        if not endpoints:
            raise NoEndpointsError("no candidate endpoints")
        best = min(endpoints, key=lambda e: (e.in_flight, e.name))
        return Decision(
            endpoints=(best,),
            profile="least-in-flight",
            explanation={"picker": "least-in-flight", "in_flight": best.in_flight},
        )


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_store(
    *,
    pods: int = 2,
    models: Sequence[ModelInfo] = (),
    api_version: str = "v1alpha2",
) -> Datastore:
    store = Datastore()
    store.upsert_pool(
        PoolInfo(
            name=POOL,
            namespace=NS,
            selector={"app": "llm"},
            target_ports=(8000,),
            api_version=api_version,  # type: ignore[arg-type]
        )
    )
    for i in range(pods):
        store.upsert_pod(
            PodInfo(
                name=f"pod-{i}", namespace=NS, address=f"127.0.0.{11 + i}", labels={"app": "llm"}
            )
        )
    for m in models:
        store.upsert_model(m)
    return store


def model(
    name: str,
    *,
    targets: Sequence[tuple[str, int | None]] = (),
    criticality: str | None = None,
    created: float = 0.0,
) -> ModelInfo:
    return ModelInfo(
        name=name,
        namespace=NS,
        model_name=name,
        pool=POOL,
        criticality=criticality,  # type: ignore[arg-type]
        targets=tuple(TargetModel(n, w) for n, w in targets),
        created=created,
    )


def objective(name: str, priority: int) -> ObjectiveInfo:
    return ObjectiveInfo(name=name, namespace=NS, pool=POOL, priority=priority)


def rewrite(
    name: str, rules: Sequence[tuple[Sequence[str], Sequence[tuple[str, int]]]], created: float
) -> RewriteInfo:
    return RewriteInfo(
        name=name,
        namespace=NS,
        pool=POOL,
        rules=tuple(
            RewriteRule(tuple(m), tuple(TargetModel(n, w) for n, w in t)) for m, t in rules
        ),
        created=created,
    )


def chat(
    model_name: str = "llama",
    *,
    headers: Mapping[str, str] | None = None,
    subset: Sequence[str] | None = None,
    path: str = CHAT,
    **extra: object,
) -> IncomingRequest:
    body = {"model": model_name, "messages": [{"role": "user", "content": "hi"}], **extra}
    return IncomingRequest(
        headers={":path": path, ":method": "POST", **(headers or {})},
        body=json.dumps(body).encode(),
        subset_hint=subset,
    )


def raw(body: bytes, path: str = CHAT, headers: Mapping[str, str] | None = None) -> IncomingRequest:
    return IncomingRequest(headers={":path": path, **(headers or {})}, body=body)


def make_director(
    store: Datastore,
    *,
    clock: Callable[[], float] | None = None,
    seed: int = 7,
    settings: DirectorSettings | None = None,
    **kwargs: object,
) -> Director:
    return Director(
        store,
        kwargs.pop("scheduler", LeastInFlightScheduler()),  # type: ignore[arg-type]
        rng=random.Random(seed),
        clock=clock or FakeClock(),
        settings=settings,
        **kwargs,  # type: ignore[arg-type]
    )


def stream_response(
    routed: Routed, clock: FakeClock, *, tokens: int = 41, usage: bool = True
) -> None:
    """A streamed answer: the first token 0.2 s after routing, then one every 10 ms, a
    usage block when ``usage``, then ``[DONE]``; the request is finished after it."""
    clock.now += 0.2
    routed.response_started(200, {"content-type": "text/event-stream"}, None)
    routed.response_chunk(b'data: {"choices":[{"text":"a"}]}\n\n', False)
    for _ in range(tokens - 1):
        clock.now += 0.01
        routed.response_chunk(b'data: {"choices":[{"text":"b"}]}\n\n', False)
    end = b"data: [DONE]\n\n"
    if usage:
        end = (
            b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":%d}}\n\n' % tokens
            + end
        )
    routed.response_chunk(end, True)
    routed.finish()
