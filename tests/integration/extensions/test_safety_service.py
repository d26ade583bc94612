"""The safety-policy plugin against a real HTTP safety service on loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from inference_gateway.requestcontrol.errors import error_body
from inference_gateway.requestcontrol.extensions import ExtensionChain
from inference_gateway.requestcontrol.extensions.safety import SafetyPolicy, SafetyPolicyParams
from inference_gateway.requestcontrol.types import GatewayError
from tests.unit.extensions.helpers import begin, chat_body


@dataclass
class SafetyService:
    """Allows everything except prompts containing "forbidden"; other modes for failures."""

    mode: str = "judge"
    seen: list[dict[str, Any]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""

    async def check(self, request: web.Request) -> web.StreamResponse:
        payload = await request.json()
        self.seen.append(payload)
        if self.mode == "hang":
            await self.release.wait()
        if self.mode == "error":
            return web.Response(status=500, text="boom")
        if self.mode == "garbage":
            return web.Response(text="not json")
        allowed = "forbidden" not in payload["prompt"]
        return web.json_response(
            {"allowed": allowed, "reason": "" if allowed else "nope: forbidden"}
        )


@pytest.fixture
async def service() -> AsyncIterator[SafetyService]:
    svc = SafetyService()
    app = web.Application()
    app.router.add_post("/check", svc.check)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    svc.url = f"http://127.0.0.1:{port}/check"
    yield svc
    svc.release.set()
    await runner.cleanup()


@pytest.fixture
async def make_chain() -> AsyncIterator[Callable[..., ExtensionChain]]:
    chains: list[ExtensionChain] = []

    def make(url: str, **service: object) -> ExtensionChain:
        params = SafetyPolicyParams.model_validate(
            {"denyPatterns": ["local-rule"], "timeout": 30, "service": {"url": url, **service}}
        )
        chain = ExtensionChain([SafetyPolicy("policy", params)])
        chains.append(chain)
        return chain

    yield make
    for chain in chains:
        await chain.close()


def budget(mode: str) -> float:
    """The service timeout: short enough for a hanging service to be given up on quickly,
    long enough for a loaded host to deliver the request first; generous otherwise."""
    return 1.0 if mode == "hang" else 10.0


async def outcome(chain: ExtensionChain, text: str) -> GatewayError | None:
    try:
        await begin(chain, chat_body(text, model="m1")).before_route()
    except GatewayError as err:
        return err
    return None


async def test_service_allows_and_denies(
    service: SafetyService, make_chain: Callable[..., ExtensionChain]
) -> None:
    chain = make_chain(service.url)
    assert await outcome(chain, "How do I bake bread?") is None
    err = await outcome(chain, "something forbidden")
    assert err is not None and (err.status, err.code) == (403, "content_policy_violation")
    assert json.loads(error_body(err))["error"]["message"] == "nope: forbidden"
    assert service.seen == [
        {"model": "m1", "prompt": "user: How do I bake bread?"},
        {"model": "m1", "prompt": "user: something forbidden"},
    ]


async def test_local_rules_refuse_before_the_service_is_asked(
    service: SafetyService, make_chain: Callable[..., ExtensionChain]
) -> None:
    err = await outcome(make_chain(service.url), "this breaks a LOCAL-RULE")
    assert err is not None and err.status == 403
    assert service.seen == []


@pytest.mark.parametrize("mode", ["hang", "error", "garbage"])
async def test_service_failure_fails_closed_with_503(
    service: SafetyService, make_chain: Callable[..., ExtensionChain], mode: str
) -> None:
    service.mode = mode
    chain = make_chain(service.url, timeout=budget(mode), failureMode="closed")
    err = await outcome(chain, "How do I bake bread?")
    assert err is not None and (err.status, err.code) == (503, "safety_service_unavailable")
    assert len(service.seen) == 1


@pytest.mark.parametrize("mode", ["hang", "error", "garbage"])
async def test_service_failure_fails_open(
    service: SafetyService, make_chain: Callable[..., ExtensionChain], mode: str
) -> None:
    service.mode = mode
    chain = make_chain(service.url, timeout=budget(mode), failureMode="open")
    assert await outcome(chain, "How do I bake bread?") is None
    assert len(service.seen) == 1
    refused = await outcome(chain, "local-rule still applies")
    assert refused is not None and refused.status == 403


async def test_unreachable_service(make_chain: Callable[..., ExtensionChain]) -> None:
    # Port 1 on loopback: nothing listens, the connection is refused at once.
    closed = make_chain("http://127.0.0.1:1/check", failureMode="closed")
    err = await outcome(closed, "hi")
    assert err is not None and err.status == 503
    assert await outcome(make_chain("http://127.0.0.1:1/check", failureMode="open"), "hi") is None


async def test_one_session_is_reused_and_closed(
    service: SafetyService, make_chain: Callable[..., ExtensionChain]
) -> None:
    chain = make_chain(service.url)
    await outcome(chain, "a")
    plugin = chain.plugins[0]
    assert isinstance(plugin, SafetyPolicy)
    session = plugin._session
    await outcome(chain, "b")
    assert session is not None and plugin._session is session
    await chain.close()
    assert session.closed and plugin._session is None
