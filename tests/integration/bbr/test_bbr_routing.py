"""Body-based routing end to end: Envoy's route table picks the pool from the body's model."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from multidict import CIMultiDict

from tests.integration.bbr.conftest import LLAMA, MISTRAL, QWEN, BbrWorld, config_docs
from tests.integration.gateway.pods import model_doc

pytestmark = pytest.mark.asyncio(loop_scope="module")


def chat(model: str, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hello"}], **extra}


async def post(
    w: BbrWorld, body: object, headers: dict[str, str] | None = None
) -> tuple[int, CIMultiDict[str], bytes]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    all_headers = {"content-type": "application/json", **(headers or {})}
    async with w.session.post(
        w.url + "/v1/chat/completions", data=data, headers=all_headers
    ) as resp:
        return resp.status, CIMultiDict(resp.headers), await resp.read()


async def test_each_model_reaches_only_its_own_pool_through_the_route(bbr_world: BbrWorld) -> None:
    w = bbr_world
    a_hosts = {p.hostport for p in w.pool_a}
    b_hosts = {p.hostport for p in w.pool_b}
    for _ in range(6):
        for model, hosts, pool in ((LLAMA, a_hosts, "pool-a"), (MISTRAL, b_hosts, "pool-b")):
            status, headers, body = await post(w, chat(model))
            assert status == 200, body
            assert headers["x-served-by"] in hosts
            assert json.loads(body)["model"] == model
            served = next(p for p in w.pool_a + w.pool_b if p.hostport == headers["x-served-by"])
            seen = {k.lower(): v for k, v in served.headers[-1].items()}
            assert seen["x-gateway-model-name"] == model
            assert seen["x-gateway-inference-pool"] == f"default/{pool}"
    assert w.bbr.router.stats.success >= 12


async def test_client_cannot_pick_the_pool_or_the_model_header(bbr_world: BbrWorld) -> None:
    w = bbr_world
    forged = {"x-gateway-inference-pool": "default/pool-b", "x-gateway-model-name": MISTRAL}
    status, headers, body = await post(w, chat(LLAMA), forged)
    assert status == 200, body
    assert headers["x-served-by"] in {p.hostport for p in w.pool_a}


async def test_a_large_body_is_routed_whole_when_streaming(bbr_world: BbrWorld) -> None:
    """Streaming handles any size; BUFFERED is bounded by Envoy's 32 KiB connection buffer."""
    w = bbr_world
    big = "x" * 200_000
    body = json.dumps({"model": MISTRAL, "messages": [{"role": "user", "content": big}]})
    status, headers, reply = await post(w, body.encode())
    if not w.bbr.streaming:
        assert status == 413
        return
    assert status == 200, reply
    assert headers["x-served-by"] in {p.hostport for p in w.pool_b}
    served = next(p for p in w.pool_b if p.hostport == headers["x-served-by"])
    assert json.loads(served.bodies[-1])["messages"][0]["content"] == big


async def test_unknown_model_gets_404_from_the_route_table(bbr_world: BbrWorld) -> None:
    w = bbr_world
    before = sum(len(p.bodies) for p in w.pool_a + w.pool_b)
    status, headers, body = await post(w, chat("no-such-model"))
    assert status == 404
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["error"]["code"] == 404
    assert sum(len(p.bodies) for p in w.pool_a + w.pool_b) == before


async def test_body_without_model_is_a_clean_400(bbr_world: BbrWorld) -> None:
    status, _, body = await post(bbr_world, {"messages": [{"role": "user", "content": "hi"}]})
    assert status == 400
    assert json.loads(body)["error"]["type"] == "BadRequestError"


async def test_body_that_is_not_json_is_a_clean_400(bbr_world: BbrWorld) -> None:
    status, _, body = await post(bbr_world, b"{not json")
    assert status == 400
    assert "error" in json.loads(body)


async def test_bodiless_request_still_reaches_a_pod(bbr_world: BbrWorld) -> None:
    w = bbr_world
    async with w.session.get(w.url + "/health") as resp:
        assert resp.status == 200
        assert resp.headers["x-served-by"] in {p.hostport for p in w.pool_a + w.pool_b}


async def until_status(w: BbrWorld, model: str, want: int) -> CIMultiDict[str]:
    """Poll until a request for ``model`` gets ``want``: reload and RDS have no push to await."""
    for _ in range(200):
        status, headers, body = await post(w, chat(model))
        if status == want:
            return headers
        assert status in (200, 404), body
        await asyncio.sleep(0.05)
    raise AssertionError(f"{model} never answered {want}")


async def test_a_model_added_by_reload_is_routed_without_restart(bbr_world: BbrWorld) -> None:
    w = bbr_world
    status, _, _ = await post(w, chat(QWEN))
    assert status == 404
    w.config.write_text(config_docs(w.pool_a, w.pool_b, model_doc("qwen", QWEN, "pool-b")))
    headers = await until_status(w, QWEN, 200)
    assert headers["x-served-by"] in {p.hostport for p in w.pool_b}
    w.config.write_text(config_docs(w.pool_a, w.pool_b))
    await until_status(w, QWEN, 404)
