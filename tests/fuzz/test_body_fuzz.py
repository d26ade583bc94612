"""Any request body, path, headers and subset hint through the real Director and Datastore.

The director's contract: it routes, or it raises a ``GatewayError`` that is the client's
fault or the pool's state (4xx, or 503 when no endpoint is ready). A 500 means an
exception escaped the parsing or scheduling code, which is what this hunts for. Routed
requests then take arbitrary response bytes, which must never raise either.
"""

from __future__ import annotations

import json
import random
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from inference_gateway.datastore import Criticality, Metrics, ModelInfo, PoolInfo, TargetModel
from inference_gateway.requestcontrol import (
    Director,
    GatewayError,
    IncomingRequest,
    Routed,
    error_body,
)
from inference_gateway.scheduling.config import load_config
from inference_gateway.scheduling.scheduler import build_saturation_detector, build_scheduler
from tests.fuzz.strategies import byte_mutants, json_values, mutated, mutated_text, seeds
from tests.unit.requestcontrol.builders import NS, FakeClock, make_store, objective

MODELS = ("llama", "qwen", "batch", "nowhere")
PATHS = (
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/embeddings",
    "/v1/chat/completions?x=1",
    "/",
    "",
)
HOSTPORTS = ("127.0.0.11:8000", "127.0.0.12:8000", "127.0.0.13", "10.0.0.1:1", "")


def build_director(config: str) -> Director:
    clock = FakeClock()
    store = make_store(pods=3)
    store.upsert_pool(
        PoolInfo(name="empty", namespace=NS, selector={"app": "none"}, target_ports=(8000,))
    )
    infos = [
        ModelInfo("llama", NS, "llama", "pool", Criticality.CRITICAL, (TargetModel("a1", 90),
                                                             TargetModel("a2", 10))),
        ModelInfo("qwen", NS, "qwen", "pool"),
        ModelInfo("batch", NS, "batch", "pool", Criticality.SHEDDABLE),
        ModelInfo("nowhere", NS, "nowhere", "empty"),
    ]  # fmt: skip
    for info in infos:
        store.upsert_model(info)
    store.upsert_objective(objective("cheap", -1))
    store.upsert_objective(objective("vip", 10))
    loads = (Metrics(waiting=10, kv_usage=0.95), Metrics(waiting=1, kv_usage=0.2), Metrics())
    for endpoint, load in zip(store.all_endpoints(), loads, strict=True):
        fresh = Metrics(
            waiting=load.waiting,
            kv_usage=load.kv_usage,
            running_adapters=frozenset({"a1"}),
            max_adapters=2,
            updated_at=clock.now,
        )
        store.set_metrics(endpoint.hostport, fresh)
    rng = random.Random(0)
    parsed = load_config(config)
    return Director(
        store,
        build_scheduler(parsed, rng=rng),
        admission=build_saturation_detector(parsed),
        rng=rng,
        clock=clock,
    )


DIRECTORS = {name: build_director(name) for name in ("default", "scorer-mix")}

_models = st.one_of(st.sampled_from(MODELS), json_values, st.text(max_size=30))
_message = st.one_of(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "system", "assistant"]), "content": st.text()}
    ),
    st.fixed_dictionaries({}, optional={"role": json_values, "content": json_values}),
    json_values,
)
_prompts = st.one_of(
    st.text(),
    st.lists(st.text(max_size=20), max_size=4),
    st.lists(st.integers(), max_size=6),
    st.lists(st.lists(st.integers(), max_size=4), max_size=3),
    st.lists(st.one_of(st.integers(), st.booleans(), st.text(max_size=3)), max_size=4),
    json_values,
)
_structured = st.fixed_dictionaries(
    {},
    optional={
        "model": _models,
        "messages": st.one_of(st.lists(_message, max_size=4), json_values),
        "prompt": _prompts,
        "stream": st.one_of(st.booleans(), json_values),
        "stream_options": json_values,
        "max_tokens": json_values,
    },
).flatmap(lambda d: st.dictionaries(st.text(max_size=8), json_values, max_size=3).map(
    lambda extra: {**extra, **d}))  # fmt: skip
_near_valid = st.fixed_dictionaries(
    {
        "model": st.sampled_from(MODELS),
        "messages": st.lists(_message, min_size=1, max_size=3),
        "prompt": _prompts,
    },
    optional={"stream": st.booleans(), "extra": json_values},
)
_VALID = {
    "model": "llama",
    "messages": [{"role": "user", "content": "hi"}],
    "prompt": "once upon",
    "stream": True,
}


@st.composite
def _encoded(draw: st.DrawFn, values: st.SearchStrategy[Any]) -> bytes:
    text = json.dumps(draw(values), ensure_ascii=draw(st.booleans()), allow_nan=True)
    return text.encode("utf-8", "surrogatepass")


_pathological = st.sampled_from(
    [
        b"[" * 100_000,
        b'{"model": ' + b"[" * 50_000,
        b'{"model": "llama", "n": ' + b"9" * 5_000 + b"}",
        b'{"model": "llama", "messages": [{}], "x": 1e999999}',
        b'{"model": "llama", "model": 1}',
        b'{"model": "\\ud800", "messages": [1]}',
        b"\xef\xbb\xbf{}",
        b"\xff\xfe{\x00}",
        b"null",
        b" ",
    ]
)
bodies = st.one_of(
    st.binary(max_size=200),
    _encoded(_structured),
    _encoded(_near_valid),
    _encoded(_near_valid),
    _encoded(mutated(_VALID)),
    st.builds(lambda t: t.encode("utf-8", "surrogatepass"), mutated_text(json.dumps(_VALID))),
    _pathological,
)
headers = st.fixed_dictionaries(
    {":path": st.one_of(st.sampled_from(PATHS), st.text(max_size=30))},
    optional={
        "x-gateway-inference-objective": st.one_of(st.sampled_from(["cheap", "vip"]), st.text()),
        "x-gateway-model-name-rewrite": st.one_of(st.sampled_from(["a2", ""]), st.text()),
        "x-gateway-debug": st.sampled_from(["true", "TRUE", "false", ""]),
        "x-request-id": st.text(max_size=40),
    },
)
hints = st.one_of(
    st.none(), st.lists(st.one_of(st.sampled_from(HOSTPORTS), st.text(max_size=20)), max_size=3)
)
responses = st.lists(st.tuples(st.one_of(st.binary(max_size=80), _encoded(json_values))),
                     max_size=4)  # fmt: skip


MUTANTS = 15


@settings(max_examples=1_500, suppress_health_check=[HealthCheck.too_slow])
@given(
    config=st.sampled_from(sorted(DIRECTORS)),
    body=bodies,
    head=headers,
    hint=hints,
    status=st.sampled_from([200, 200, 400, 500, 0]),
    chunks=responses,
    rnd=seeds,
)
def test_director_answers_every_request_cleanly(
    config: str,
    body: bytes,
    head: dict[str, str],
    hint: list[str] | None,
    status: int,
    chunks: list[tuple[bytes]],
    rnd: random.Random,
) -> None:
    """The drawn body and ``MUTANTS`` byte-level mutants of it: 1,500 x 16 = 24,000 requests."""
    director = DIRECTORS[config]
    head = {":method": "POST", **head}
    for mutant in byte_mutants(body, rnd, MUTANTS):
        routed = route_cleanly(director, IncomingRequest(head, mutant, subset_hint=hint))
        if routed is not None:
            routed.finish()
    routed = route_cleanly(director, IncomingRequest(head, body, subset_hint=hint))
    event("drawn body: " + ("routed" if routed else "rejected"))
    if routed is None:
        return
    content_type = "text/event-stream" if routed.streaming else "application/json"
    routed.response_started(status, {"content-type": content_type}, None)
    for i, (chunk,) in enumerate(chunks):
        routed.response_chunk(chunk, i == len(chunks) - 1)
    routed.finish()
    assert all(director.datastore.in_flight(e.hostport) == 0 for e in _endpoints(director))


def route_cleanly(director: Director, request: IncomingRequest) -> Routed | None:
    """Route; a rejection must be a client error or 503 with a well-formed error body."""
    try:
        routed = director.route_now(request)
    except GatewayError as e:
        assert 400 <= e.status < 500 or e.status == 503, (e.status, e.message)
        assert json.loads(error_body(e))["error"]["message"]
        return None
    assert routed.endpoints
    if routed.body is not None:
        assert json.loads(routed.body)["model"] == routed.target_model
    return routed


def test_lone_surrogate_prompt_is_routed() -> None:
    body = b'{"model": "qwen", "messages": [{"role": "user", "content": "a\\ud800b"}]}'
    request = IncomingRequest({":method": "POST", ":path": PATHS[0]}, body)
    routed = DIRECTORS["scorer-mix"].route_now(request)
    routed.finish()
    assert routed.endpoints


def _endpoints(director: Director) -> tuple[Any, ...]:
    return director.datastore.all_endpoints()
