"""The /metrics endpoint over real HTTP on loopback."""

from __future__ import annotations

import aiohttp

from inference_gateway.observability import EppMetrics


async def test_serves_metrics_and_stops() -> None:
    metrics = EppMetrics()
    metrics.request_routed("llama", "llama", 10)
    async with (
        metrics.serve("127.0.0.1", 0) as port,
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as resp,
    ):
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = await resp.text()
    assert 'inference_model_request_total{model_name="llama",target_model_name="llama"} 1.0' in text
    async with aiohttp.ClientSession() as session:
        try:
            await session.get(f"http://127.0.0.1:{port}/metrics")
        except aiohttp.ClientConnectionError:
            pass
        else:
            raise AssertionError("server still listening after the context closed")


async def test_bearer_token_auth() -> None:
    metrics = EppMetrics()
    async with metrics.serve("127.0.0.1", 0, bearer_token="s3cret") as port:
        url = f"http://127.0.0.1:{port}/metrics"
        async with aiohttp.ClientSession() as session:
            async with session.get(url) as resp:
                assert resp.status == 401
                assert resp.headers["WWW-Authenticate"] == "Bearer"
            async with session.get(url, headers={"Authorization": "Bearer wrong"}) as resp:
                assert resp.status == 401
            async with session.get(url, headers={"Authorization": "Bearer s3cret"}) as resp:
                assert resp.status == 200
                assert "inference_extension_info" in await resp.text()
