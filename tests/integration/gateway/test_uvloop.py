"""The CLI runs everything under uvloop: the gateway must work on its transports too."""

from __future__ import annotations

import asyncio
from pathlib import Path

import uvloop

from tests.integration.gateway.conftest import LLAMA, MISTRAL, world


async def _requests_flow(tmp_path: Path) -> None:
    assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
    async with world(tmp_path) as w:
        for model, pods in ((LLAMA, w.pool_a), (MISTRAL, w.pool_b)):
            body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
            async with w.session.post(w.url + "/v1/chat/completions", json=body) as resp:
                assert resp.status == 200
                assert resp.headers["x-served-by"] in {p.hostport for p in pods}
                assert (await resp.json())["model"] == model


def test_requests_flow_under_uvloop(tmp_path: Path) -> None:
    uvloop.run(_requests_flow(tmp_path))
