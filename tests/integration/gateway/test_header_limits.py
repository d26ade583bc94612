"""Header limits are the gateway's to set: too many header bytes never reach a pod."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from inference_gateway.app import Gateway
from tests.integration.gateway.conftest import LLAMA, base_config, gateway_settings
from tests.integration.gateway.pods import documents, run_pods


async def test_oversized_headers_get_431_and_normal_ones_pass(tmp_path: Path) -> None:
    async with run_pods(["127.0.0.11"]) as a, run_pods(["127.0.0.13"]) as b:
        config = tmp_path / "gateway.yaml"
        config.write_text(documents(*base_config(a, b)))
        settings = gateway_settings(config, tmp_path)
        envoy = settings.envoy.model_copy(update={"max_request_headers_kb": 8})
        settings = settings.model_copy(update={"envoy": envoy})
        async with Gateway(settings) as gw, aiohttp.ClientSession() as session:
            body = {"model": LLAMA, "messages": [{"role": "user", "content": "hi"}]}
            url = f"{gw.url}/v1/chat/completions"
            async with session.post(url, json=body, headers={"x-note": "a" * 4000}) as r:
                assert r.status == 200
            # Envoy's HTTP/1 codec answers 431 or, mid-request, just closes the connection.
            try:
                async with session.post(url, json=body, headers={"x-note": "a" * 9000}) as r:
                    assert r.status == 431
            except aiohttp.ServerDisconnectedError:
                pass
        assert sum(a[0].models.values()) == 1
