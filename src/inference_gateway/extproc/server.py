"""The EPP's gRPC server: ext_proc ``Process`` plus the gRPC health service.

``Process`` is deliberately thin (one ``Stream`` per call, ``async for`` in, ``yield`` out);
the protocol lives in ``handler`` and every decision in the director. Health follows the
upstream EPP: SERVING once the datastore has been synced, on the main port and, for the
``epp`` command, also on a separate health port (9003) that kubelet probes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

import grpc
from envoy.service.ext_proc.v3 import external_processor_pb2 as pb
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc as pb_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from pydantic import BaseModel, ConfigDict

from inference_gateway.extproc.handler import Stream
from inference_gateway.requestcontrol.extensions import ExtensionChain
from inference_gateway.requestcontrol.types import Director

log = logging.getLogger(__name__)

EXT_PROC_SERVICE = "envoy.service.ext_proc.v3.ExternalProcessor"
_HEALTH_SERVICES = ("", EXT_PROC_SERVICE, "inference-extension", "readiness", "liveness")

# Bodies arrive in Envoy-sized chunks and leave in 62,000-byte ones; 64 MiB only bounds a
# misbehaving peer. SO_REUSEPORT off so a second EPP on the same port fails loudly.
_GRPC_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ("grpc.so_reuseport", 0),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.keepalive_permit_without_calls", 1),
]


class ExtProcSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = 9002
    """0 picks a free port (see ``ExtProcServer.port``)."""
    health_port: int | None = None
    """A second port serving only gRPC health (9003 for the ``epp`` command)."""
    max_body_bytes: int = 10 * 1024 * 1024
    grace_seconds: float = 5.0


class ExtProcServicer(pb_grpc.ExternalProcessorServicer):  # type: ignore[misc]
    def __init__(
        self,
        director: Director,
        *,
        max_body_bytes: int,
        extensions: ExtensionChain | None = None,
    ) -> None:
        self._director = director
        self._max_body = max_body_bytes
        self._extensions = extensions

    async def Process(
        self,
        request_iterator: AsyncIterator[pb.ProcessingRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[pb.ProcessingResponse]:
        stream = Stream(self._director, max_body_bytes=self._max_body, extensions=self._extensions)
        error: str | None = "stream_closed"
        try:
            async for request in request_iterator:
                responses = stream.on_message(request)
                if stream.routing_pending:
                    responses = await stream.route_pending()
                for response in responses:
                    yield response
                if stream.done:
                    return
            error = "incomplete"
        except asyncio.CancelledError:
            error = "cancelled"
            raise
        finally:
            stream.close(error=error)


class ExtProcServer:
    """``async with ExtProcServer(director, settings) as server:`` serves until the block ends."""

    def __init__(
        self,
        director: Director,
        settings: ExtProcSettings | None = None,
        *,
        extensions: ExtensionChain | None = None,
    ) -> None:
        self.settings = settings or ExtProcSettings()
        self._director = director
        self._extensions = extensions
        self._servers: list[grpc.aio.Server] = []
        self._health = health_aio.HealthServicer()
        self.port = 0
        self.health_port: int | None = None

    async def start(self) -> None:
        s = self.settings
        main = grpc.aio.server(options=_GRPC_OPTIONS)
        servicer = ExtProcServicer(
            self._director, max_body_bytes=s.max_body_bytes, extensions=self._extensions
        )
        pb_grpc.add_ExternalProcessorServicer_to_server(servicer, main)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, main)
        self.port = _bind(main, s.host, s.port)
        self._servers.append(main)
        if s.health_port is not None:
            health = grpc.aio.server(options=_GRPC_OPTIONS)
            health_pb2_grpc.add_HealthServicer_to_server(self._health, health)
            self.health_port = _bind(health, s.host, s.health_port)
            self._servers.append(health)
        await self.set_serving(False)
        for server in self._servers:
            await server.start()
        log.info("ext_proc serving on %s:%d", s.host, self.port)

    async def set_serving(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in _HEALTH_SERVICES:
            await self._health.set(name, status)

    async def stop(self, grace: float | None = None) -> None:
        """Refuse new streams, give open ones ``grace`` seconds, then cancel them."""
        servers, self._servers = self._servers, []
        if not servers:
            return
        await self._health.enter_graceful_shutdown()
        g = self.settings.grace_seconds if grace is None else grace
        await asyncio.gather(*(server.stop(g) for server in servers))

    async def __aenter__(self) -> ExtProcServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


def _bind(server: grpc.aio.Server, host: str, port: int) -> int:
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    bound = int(server.add_insecure_port(target))
    if bound == 0:
        raise OSError(f"cannot listen on {target}")
    return bound


async def serve(
    director: Director,
    settings: ExtProcSettings,
    *,
    ready: asyncio.Event,
    stop: asyncio.Event,
) -> None:
    """Serve until ``stop`` is set; health is SERVING from the start (the caller synced)."""
    async with ExtProcServer(director, settings) as server:
        await server.set_serving(True)
        ready.set()
        await stop.wait()
    log.info("ext_proc stopped")
