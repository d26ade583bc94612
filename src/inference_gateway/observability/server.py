"""The ``/metrics`` HTTP endpoint (aiohttp), optionally behind a static bearer token.

Upstream protects the endpoint with Kubernetes TokenReview by default; outside a cluster a
shared token is the equivalent. Rendering runs on the event loop: the datastore the pool
collector reads is owned by that loop, and a render is a few milliseconds at most.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.aiohttp import make_aiohttp_handler


def metrics_app(registry: CollectorRegistry, *, bearer_token: str | None = None) -> web.Application:
    exposition = make_aiohttp_handler(registry, disable_compression=True)

    async def handler(request: web.Request) -> web.StreamResponse:
        if bearer_token is not None:
            given = request.headers.get("Authorization", "")
            expected = f"Bearer {bearer_token}"
            if not hmac.compare_digest(given.encode(), expected.encode()):
                return web.Response(
                    status=401, text="unauthorized\n", headers={"WWW-Authenticate": "Bearer"}
                )
        return await exposition(request)

    app = web.Application()
    app.router.add_get("/metrics", handler)
    return app


@asynccontextmanager
async def serve_metrics(
    registry: CollectorRegistry, host: str, port: int, *, bearer_token: str | None = None
) -> AsyncIterator[int]:
    """Run the metrics app on ``host:port`` (0 picks a free port); yield the bound port."""
    runner = web.AppRunner(metrics_app(registry, bearer_token=bearer_token), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0][1]
        yield int(bound)
    finally:
        await runner.cleanup()
