"""The ext_proc and health services on grpcio's asyncio server (``transport="grpcio"``).

``Process`` is the thin loop STYLE rule 14 asks for (``Stream.serve``: ``async for`` in,
``context.write`` out), one handler ``Stream`` per call. Kept as the reference transport
next to ``_inline``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from envoy.service.ext_proc.v3 import external_processor_pb2 as pb
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc as pb_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio

from inference_gateway.extproc._inline.limits import Limits
from inference_gateway.extproc.handler import Stream
from inference_gateway.extproc.tls import CertStore

# SO_REUSEPORT off so a second EPP on the same port fails loudly.
_GRPC_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ("grpc.so_reuseport", 0),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.keepalive_permit_without_calls", 1),
]


def grpc_options(limits: Limits) -> list[tuple[str, Any]]:
    """The inline server's limits that grpc core has a channel argument for (the rest it
    enforces its own way or not at all; see the README's security section)."""
    return [
        *_GRPC_OPTIONS,
        ("grpc.max_receive_message_length", limits.max_message),
        ("grpc.max_concurrent_streams", limits.max_concurrent_streams),
        ("grpc.max_metadata_size", limits.max_header_block),
        ("grpc.max_connection_idle_ms", int(limits.idle_timeout * 1000)),
    ]


class ExtProcServicer(pb_grpc.ExternalProcessorServicer):  # type: ignore[misc]
    def __init__(self, make_stream: Callable[[], Stream]) -> None:
        self._make_stream = make_stream

    async def Process(
        self,
        request_iterator: AsyncIterator[pb.ProcessingRequest],
        context: grpc.aio.ServicerContext,
    ) -> None:
        await serve_stream(self._make_stream(), request_iterator, context.write)


async def serve_stream(
    stream: Stream,
    requests: AsyncIterator[pb.ProcessingRequest],
    send: Callable[[pb.ProcessingResponse], Awaitable[object]],
) -> None:
    """Drive one handler ``Stream`` from grpcio's message iterator.

    Returns once the stream is ``done`` (grpcio then ends the call cleanly) or when the
    peer half-closes; ``close`` runs in every case, with why the stream ended.
    """
    error = "stream_closed"
    try:
        async for request in requests:
            responses = stream.on_message(request)
            if stream.routing_pending:
                responses = await stream.route_pending()
            for response in responses:
                await send(response)
            if stream.done:
                return
        error = "incomplete"
    except asyncio.CancelledError:
        error = "cancelled"
        raise
    finally:
        stream.close(error=error)


class _DynamicCredentials:
    """grpcio's dynamic server credentials: C-core asks ``fetch`` (from its own thread) at
    each handshake; it answers the pair once per change and None (keep) otherwise."""

    def __init__(self, certs: CertStore) -> None:
        self._pair = (certs.cert, certs.key)
        self._served = self._pair
        certs.on_change(self._changed)

    def _changed(self, cert: bytes, key: bytes) -> None:
        self._pair = (cert, key)

    def fetch(self) -> grpc.ServerCertificateConfiguration | None:
        pair = self._pair
        if pair is self._served:
            return None
        self._served = pair
        return _configuration(pair)

    def credentials(self) -> grpc.ServerCredentials:
        return grpc.dynamic_ssl_server_credentials(_configuration(self._served), self.fetch)


def _configuration(pair: tuple[bytes, bytes]) -> grpc.ServerCertificateConfiguration:
    cert, key = pair
    return grpc.ssl_server_certificate_configuration([(key, cert)])


class _Health(health_aio.HealthServicer):  # type: ignore[misc]
    """grpcio's health servicer, counting the checks it answers."""

    def __init__(self) -> None:
        super().__init__()
        self.checks = 0

    async def Check(
        self, request: health_pb2.HealthCheckRequest, context: grpc.aio.ServicerContext
    ) -> Any:
        self.checks += 1
        return await super().Check(request, context)


class GrpcioBackend:
    """Servers made anew at each ``start`` (a stopped grpcio server cannot start again),
    on the ports the first start bound; the health servicer too (one that went through
    ``enter_graceful_shutdown`` ignores every later ``set``), with the statuses replayed."""

    def __init__(
        self,
        make_stream: Callable[[], Stream],
        host: str,
        port: int,
        health_port: int | None,
        certs: CertStore | None = None,
        limits: Limits | None = None,
    ) -> None:
        self._options = grpc_options(limits or Limits())
        self._credentials = _DynamicCredentials(certs) if certs is not None else None
        self._make_stream = make_stream
        self._host = host
        self._want = (port, health_port)
        self._servers: list[grpc.aio.Server] = []
        self._statuses: dict[str, int] = {}
        self._health = _Health()
        self._checks = 0
        self.port = 0
        self.health_port: int | None = None

    @property
    def health_checks(self) -> int:
        return self._checks + self._health.checks

    async def start(self) -> None:
        port, health_port = self._want
        self._checks += self._health.checks
        self._health = _Health()
        for name, status in self._statuses.items():
            await self._health.set(name, status)
        main = grpc.aio.server(options=self._options)
        pb_grpc.add_ExternalProcessorServicer_to_server(ExtProcServicer(self._make_stream), main)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, main)
        creds = self._credentials.credentials() if self._credentials is not None else None
        self.port = _bind(main, self._host, port, creds)
        self._servers.append(main)
        if health_port is not None:
            health = grpc.aio.server(options=self._options)
            health_pb2_grpc.add_HealthServicer_to_server(self._health, health)
            self.health_port = _bind(health, self._host, health_port)
            self._servers.append(health)
        self._want = (self.port, self.health_port)
        for server in self._servers:
            await server.start()

    async def set_status(self, names: tuple[str, ...], status: int) -> None:
        for name in names:
            self._statuses[name] = status
            await self._health.set(name, status)

    async def stop(self, grace: float) -> None:
        servers, self._servers = self._servers, []
        if servers:
            for name in self._statuses:
                self._statuses[name] = health_pb2.HealthCheckResponse.NOT_SERVING
            await self._health.enter_graceful_shutdown()
            await asyncio.gather(*(server.stop(grace) for server in servers))


def _bind(
    server: grpc.aio.Server, host: str, port: int, creds: grpc.ServerCredentials | None = None
) -> int:
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if creds is None:
        bound = int(server.add_insecure_port(target))
    else:
        bound = int(server.add_secure_port(target, creds))
    if bound == 0:
        raise OSError(f"cannot listen on {target}")
    return bound
