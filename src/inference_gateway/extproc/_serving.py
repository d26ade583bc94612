"""What the inline backend needs around serving: its listening socket, and the first half of
a stop (NOT_SERVING under every name, then grace for open calls)."""

from __future__ import annotations

import asyncio
import contextlib
import socket

from grpc_health.v1 import health_pb2


def bound_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (0: any free port), ready for ``create_server``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


async def drain(statuses: dict[str, int], idle: asyncio.Event, grace: float) -> None:
    for name in statuses:
        statuses[name] = health_pb2.HealthCheckResponse.NOT_SERVING
    if grace > 0:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await idle.wait()
