"""Safety policy and semantic cache through real Envoy, the in-process EPP and simulated pods.

The EndpointPickerConfig carries the scheduling plugins and both request-control plugins;
the safety service is a real aiohttp server on loopback. A cache hit is recognisable from
the outside: ``x-cache: hit`` and no ``x-served-by`` (the simulator stamps every answer).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from inference_gateway.app import EppSettings, Gateway, GatewaySettings
from inference_gateway.envoy.bootstrap import EnvoySettings
from inference_gateway.extproc.server import ExtProcSettings
from inference_gateway.simulator.server import PodSpec, run_pods
from tests.integration.gateway.pods import documents, free_port, model_doc, pod_doc, pool_doc

pytestmark = pytest.mark.asyncio(loop_scope="module")

HOSTS = ("127.0.0.41", "127.0.0.42")
MODEL = "qwen"
BROKEN = "qwen-broken"  # routed to an adapter no pod has: the simulator answers 404
BREAD = "How do I bake bread?"
BREAD_AGAIN = "What is the way to bake bread?"

PLUGINS = """\
apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: queue-scorer
- type: max-score-picker
- name: policy
  type: safety-policy
  parameters:
    denyPatterns: ['make\\s+a\\s+bomb']
    maxPromptTokens: 200
    service: {{url: "{service}", timeout: 2s, failureMode: closed}}
- name: answers
  type: semantic-cache
  parameters: {{threshold: 0.95, ttl: 5m}}
schedulingProfiles:
- name: default
  plugins: [{{pluginRef: queue-scorer}}, {{pluginRef: max-score-picker}}]
"""


@dataclass
class World:
    gateway: Gateway
    session: aiohttp.ClientSession
    checks: list[dict[str, Any]]

    async def chat(self, text: str, *, model: str = MODEL, **extra: Any) -> Reply:
        body = {"model": model, "messages": [{"role": "user", "content": text}], **extra}
        url = self.gateway.url + "/v1/chat/completions"
        async with self.session.post(url, json=body) as resp:
            return Reply(resp.status, dict(resp.headers), await resp.read())


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def content(self) -> str:
        return str(self.json()["choices"][0]["message"]["content"])


async def _safety_service(checks: list[dict[str, Any]]) -> tuple[web.AppRunner, str]:
    async def check(request: web.Request) -> web.Response:
        payload = await request.json()
        checks.append(payload)
        allowed = "launch codes" not in payload["prompt"]
        return web.json_response({"allowed": allowed, "reason": "no launch codes"})

    app = web.Application()
    app.router.add_post("/check", check)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port("127.0.0.1")
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}/check"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    tmp = tmp_path_factory.mktemp("ext")
    checks: list[dict[str, Any]] = []
    service, url = await _safety_service(checks)
    port = free_port(HOSTS[0])
    specs = [PodSpec(f"sim-{i}", host, port, model=MODEL) for i, host in enumerate(HOSTS)]
    try:
        async with run_pods(specs, time_scale=0.02):
            config = tmp / "gateway.yaml"
            config.write_text(
                documents(
                    pool_doc("pool", port),
                    model_doc("qwen", MODEL, "pool"),
                    model_doc("broken", BROKEN, "pool", {"no-such-adapter": 1}),
                    *(pod_doc(f"p{i}", "pool", h) for i, h in enumerate(HOSTS)),
                )
            )
            plugins = tmp / "plugins.yaml"
            plugins.write_text(PLUGINS.format(service=url))
            epp = EppSettings(
                pool_file=config, plugins_config=str(plugins), grpc=ExtProcSettings(port=0)
            )
            settings = GatewaySettings(
                epp=epp,
                envoy=EnvoySettings(port=0, admin_port=0, epp_health_interval_seconds=0.2),
                workdir=tmp,
            )
            async with Gateway(settings) as gw, aiohttp.ClientSession() as session:
                yield World(gw, session, checks)
    finally:
        await service.cleanup()


async def test_paraphrase_is_answered_from_the_cache(world: World) -> None:
    first = await world.chat(BREAD, max_tokens=16)
    assert first.status == 200, first.body
    assert first.headers["x-cache"] == "miss" and "x-served-by" in first.headers
    hit = await world.chat(BREAD_AGAIN, max_tokens=16)
    assert hit.status == 200, hit.body
    assert hit.headers["x-cache"] == "hit" and "x-served-by" not in hit.headers
    assert float(hit.headers["x-cache-similarity"]) >= 0.95
    assert hit.content() == first.content()
    assert hit.json()["model"] == MODEL and hit.json()["id"] != first.json()["id"]


async def test_streamed_hit_is_a_valid_event_stream(world: World) -> None:
    await world.chat("Which planet is the largest?", max_tokens=8)
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "What planet is the largest?"}],
        "max_tokens": 8,
        "stream": True,
    }
    async with world.session.post(world.gateway.url + "/v1/chat/completions", json=body) as r:
        assert r.status == 200
        assert r.headers["x-cache"] == "hit"
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = [line.strip() async for line in r.content if line.startswith(b"data: ")]
    assert lines[-1] == b"data: [DONE]"
    events = [json.loads(line[6:]) for line in lines[:-1]]
    assert {e["object"] for e in events} == {"chat.completion.chunk"}
    assert events[-1]["choices"][0]["finish_reason"] is not None


async def test_errors_are_not_cached(world: World) -> None:
    for _ in range(2):
        reply = await world.chat("Tell me about adapters", model=BROKEN)
        assert reply.status == 404
        assert reply.headers.get("x-cache") == "miss"


async def test_denied_pattern_gets_403_without_reaching_a_pod(world: World) -> None:
    before = len(world.checks)
    reply = await world.chat("Explain how to MAKE A BOMB")
    assert reply.status == 403
    assert "x-served-by" not in reply.headers
    assert reply.json()["error"]["code"] == 403
    assert reply.json()["error"]["type"] == "PermissionDeniedError"
    assert reply.headers["x-gateway-error"] == "Forbidden"
    assert len(world.checks) == before  # refused locally, the service was not asked


async def test_prompt_token_limit(world: World) -> None:
    reply = await world.chat("word " * 200)
    assert reply.status == 403 and "prompt" in reply.json()["error"]["message"]


async def test_external_safety_service_decides(world: World) -> None:
    refused = await world.chat("Give me the launch codes")
    assert refused.status == 403
    assert refused.json()["error"]["message"] == "no launch codes"
    assert world.checks[-1] == {"model": MODEL, "prompt": "user: Give me the launch codes"}
    allowed = await world.chat("Say hello", max_tokens=4)
    assert allowed.status == 200 and "x-served-by" in allowed.headers
