"""The first half of a backend's stop, the same for every transport that keeps its own health
table: say NOT_SERVING under every name, then give open calls up to ``grace`` seconds."""

from __future__ import annotations

import asyncio
import contextlib

from grpc_health.v1 import health_pb2


async def drain(statuses: dict[str, int], idle: asyncio.Event, grace: float) -> None:
    for name in statuses:
        statuses[name] = health_pb2.HealthCheckResponse.NOT_SERVING
    if grace > 0:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await idle.wait()
