"""Requests through real Envoy and the in-process EPP to fake pods on 127.0.0.11-14."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Callable

import pytest
from multidict import CIMultiDict

from tests.integration.gateway.conftest import LLAMA, MAX_BODY, MISTRAL, NOWHERE, SPLIT, World

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def post(w: World, path: str, body: object) -> tuple[int, CIMultiDict[str], bytes]:
    data = io.BytesIO(body if isinstance(body, bytes) else json.dumps(body).encode())
    async with w.session.post(
        w.url + path, data=data, headers={"content-type": "application/json"}
    ) as resp:
        return resp.status, CIMultiDict(resp.headers), await resp.read()


async def test_chat_goes_to_the_models_pool_and_keeps_the_requested_name(
    shared: World, chat: Callable[..., dict[str, object]]
) -> None:
    status, headers, body = await post(shared, "/v1/chat/completions", chat(LLAMA))
    assert status == 200, body
    assert headers["x-served-by"] in {p.hostport for p in shared.pool_a}
    assert json.loads(body)["model"] == LLAMA
    assert json.loads(body)["usage"]["completion_tokens"] == 3


async def test_models_are_routed_to_their_own_pools(
    shared: World, chat: Callable[..., dict[str, object]]
) -> None:
    served = set()
    for _ in range(10):
        status, headers, _ = await post(shared, "/v1/chat/completions", chat(MISTRAL))
        assert status == 200
        served.add(headers["x-served-by"])
    assert served <= {p.hostport for p in shared.pool_b}


async def test_streamed_completion_arrives_as_sse_with_the_requested_model(
    shared: World,
) -> None:
    shared.reset()
    body = {"model": SPLIT, "prompt": "say abc", "stream": True}
    async with shared.session.post(shared.url + "/v1/completions", json=body) as resp:
        assert resp.status == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        events = [line async for line in resp.content if line.startswith(b"data: ")]
    assert events[-1].strip() == b"data: [DONE]"
    models = {json.loads(e[6:])["model"] for e in events[:-1]}
    assert models == {SPLIT}
    seen = sum((p.models for p in shared.pool_a), start=type(shared.pool_a[0].models)())
    assert set(seen) <= {"food-review-1", "food-review-2"} and sum(seen.values()) == 1


async def test_streamed_chat_restores_the_model_in_every_chunk(
    shared: World, chat: Callable[..., dict[str, object]]
) -> None:
    async with shared.session.post(
        shared.url + "/v1/chat/completions", json=chat(SPLIT, stream=True)
    ) as resp:
        text = (await resp.read()).decode()
    assert resp.status == 200
    assert text.count(f'"model": "{SPLIT}"') == 4
    assert "food-review-1" not in text and "food-review-2" not in text


async def test_target_model_split_is_90_10(
    shared: World, chat: Callable[..., dict[str, object]]
) -> None:
    shared.reset()
    gate = asyncio.Semaphore(50)

    async def one() -> None:
        async with gate:
            status, _, body = await post(shared, "/v1/chat/completions", chat(SPLIT))
            assert status == 200, body
            assert json.loads(body)["model"] == SPLIT

    await asyncio.gather(*(one() for _ in range(1000)))
    first = sum(p.models["food-review-1"] for p in shared.pool_a)
    second = sum(p.models["food-review-2"] for p in shared.pool_a)
    assert first + second == 1000
    assert 870 <= first <= 930, (first, second)


async def test_pod_sees_the_target_model_in_the_body(
    shared: World, chat: Callable[..., dict[str, object]]
) -> None:
    shared.reset()
    status, headers, _ = await post(shared, "/v1/chat/completions", chat(SPLIT))
    assert status == 200
    pod = next(p for p in shared.pool_a if p.hostport == headers["x-served-by"])
    sent = json.loads(pod.bodies[-1])
    assert sent["model"] in {"food-review-1", "food-review-2"}
    assert sent["messages"] == [{"role": "user", "content": "hello"}]


async def test_client_cannot_choose_the_upstream(
    shared: World, chat: Callable[..., dict[str, object]]
) -> None:
    forged = shared.pool_b[0].hostport
    async with shared.session.post(
        shared.url + "/v1/chat/completions",
        json=chat(LLAMA),
        headers={"x-gateway-destination-endpoint": forged},
    ) as resp:
        assert resp.status == 200
        assert resp.headers["x-served-by"] in {p.hostport for p in shared.pool_a}


@pytest.mark.parametrize(
    ("body", "status", "kind"),
    [
        (b"{not json", 400, "BadRequestError"),
        (b'{"messages": [{"role": "user", "content": "x"}]}', 400, "BadRequestError"),
        (b'{"model": "nobody-serves-this", "messages": [{"role": "user", "content": "x"}]}',
         404, "NotFoundError"),
        (json.dumps({"model": NOWHERE, "messages": [{"role": "user", "content": "x"}]}).encode(),
         503, "ServiceUnavailableError"),
    ],
)  # fmt: skip
async def test_errors_are_openai_json_with_the_http_status(
    shared: World, body: bytes, status: int, kind: str
) -> None:
    got, headers, raw = await post(shared, "/v1/chat/completions", body)
    assert got == status
    assert headers["content-type"] == "application/json"
    assert "x-gateway-error" in headers
    error = json.loads(raw)["error"]
    assert (error["code"], error["type"]) == (status, kind)
    assert isinstance(error["message"], str) and error["message"]
    assert ("retry-after" in headers) == (status == 503)


async def test_body_over_the_limit_is_413(shared: World) -> None:
    prompt = "x" * (MAX_BODY + 1024)
    got, _, raw = await post(shared, "/v1/completions", {"model": LLAMA, "prompt": prompt})
    assert got == 413
    assert json.loads(raw)["error"]["type"] == "RequestEntityTooLargeError"


async def test_a_5_mib_prompt_is_served_intact(shared: World) -> None:
    shared.reset()
    prompt = "abcdefghij" * (512 * 1024)
    status, headers, _ = await post(shared, "/v1/completions", {"model": LLAMA, "prompt": prompt})
    assert status == 200
    pod = next(p for p in shared.pool_a if p.hostport == headers["x-served-by"])
    assert json.loads(pod.bodies[-1])["prompt"] == prompt


@pytest.mark.parametrize("size", ["small", "large"])
async def test_the_fairness_header_stops_at_the_gateway(
    shared: World, chat: Callable[..., dict[str, object]], size: str
) -> None:
    """Envoy honours the EPP's header removal, with the body inline and after it."""
    shared.reset()
    body = chat(LLAMA, content="x" * (200_000 if size == "large" else 5))
    headers = {"x-gateway-inference-fairness-id": "team-a", "x-kept": "yes"}
    async with shared.session.post(
        shared.url + "/v1/chat/completions", json=body, headers=headers
    ) as resp:
        assert resp.status == 200
        await resp.read()
    (seen,) = [h for p in shared.pool_a for h in p.headers]
    assert "x-gateway-inference-fairness-id" not in {k.lower() for k in seen}
    assert seen.get("x-kept") == "yes"
