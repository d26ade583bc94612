"""The ext_proc and health services on grpclib: pure asyncio HTTP/2, no threads.

grpcio's asyncio server hands every message between its C-core polling thread and the
event loop; ext_proc sends five to seven small messages per HTTP request, so those hand-offs
are most of the EPP's cost. grpclib parses HTTP/2 in the loop itself: in ``bench overhead``
style runs on the 2-core development machine it used about a fifth less CPU per request
and cut the added latency at concurrency 1 by about a third (see the report in
``bench/overhead.py``). The grpcio server stays available (``ExtProcSettings.transport``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import weakref
from collections.abc import Callable
from typing import Any

from envoy.service.ext_proc.v3 import external_processor_pb2 as pb
from grpc_health.v1 import health_pb2
from grpclib.const import Cardinality, Handler, Status
from grpclib.exceptions import GRPCError
from grpclib.protocol import H2Protocol
from grpclib.server import Handler as GrpclibHandler
from grpclib.server import Server
from grpclib.server import Stream as GrpcStream

from inference_gateway.extproc._serving import bound_socket, drain
from inference_gateway.extproc.handler import Stream
from inference_gateway.extproc.tls import CertStore, server_context

PROCESS = "/envoy.service.ext_proc.v3.ExternalProcessor/Process"
CHECK = "/grpc.health.v1.Health/Check"

# HTTP/2 windows: a 10 MiB prompt should not stall on WINDOW_UPDATE round trips.
_WINDOW = 16 * 1024 * 1024


class ExtProcService:
    """grpclib servicer for ``Process``: one handler ``Stream`` per gRPC stream."""

    def __init__(self, make_stream: Callable[[], Stream]) -> None:
        self._make_stream = make_stream
        self.active = 0
        self.idle = asyncio.Event()
        self.idle.set()

    def __mapping__(self) -> dict[str, Handler]:
        return {
            PROCESS: Handler(
                self.process, Cardinality.STREAM_STREAM, pb.ProcessingRequest, pb.ProcessingResponse
            )
        }

    async def process(self, grpc_stream: GrpcStream[Any, Any]) -> None:
        self.active += 1
        self.idle.clear()
        try:
            await self._make_stream().serve(grpc_stream, grpc_stream.send_message)
        finally:
            self.active -= 1
            if not self.active:
                self.idle.set()


class HealthService:
    """``grpc.health.v1.Health/Check`` over a status table shared by every port."""

    def __init__(self, statuses: dict[str, int]) -> None:
        self._statuses = statuses
        self.checks = 0

    def __mapping__(self) -> dict[str, Handler]:
        return {
            CHECK: Handler(
                self.check,
                Cardinality.UNARY_UNARY,
                health_pb2.HealthCheckRequest,
                health_pb2.HealthCheckResponse,
            )
        }

    async def check(self, grpc_stream: GrpcStream[Any, Any]) -> None:
        request = await grpc_stream.recv_message()
        self.checks += 1
        status = self._statuses.get(request.service if request else "")
        if status is None:
            raise GRPCError(Status.NOT_FOUND, "unknown service")
        await grpc_stream.send_message(health_pb2.HealthCheckResponse(status=status))


class _CorkedTransport:
    """Sends what grpclib writes during one loop iteration as one ``write``.

    grpclib writes every HTTP/2 frame as soon as h2 produces it (headers, data, trailers:
    three writes for one ext_proc answer, five when a body follows). Each is a syscall here
    and a wake-up in Envoy; joining them per loop iteration halves both at no latency cost.
    """

    def __init__(self, transport: Any) -> None:
        self._transport = transport
        self._pending: list[bytes] = []
        self._loop = asyncio.get_running_loop()

    def write(self, data: bytes) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        if pending and not self._transport.is_closing():
            self._transport.write(b"".join(pending))

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return bool(self._transport.is_closing())

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)


class _CorkedProtocol(H2Protocol):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.lost = asyncio.Event()
        """Set once the connection is closed (the socket too, not only asked to close)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.raw_transport: Any = transport
        # uvloop's transports are not asyncio.Transport subclasses: duck typing only.
        super().connection_made(_CorkedTransport(transport))  # type: ignore[arg-type]

    def connection_lost(self, exc: BaseException | None) -> None:
        super().connection_lost(exc)
        self.lost.set()


class _Server(Server):
    """grpclib's server, plus closing its open connections on ``close_connections``.

    ``Server.close`` stops listening and cancels running calls but leaves established
    HTTP/2 connections up, and Envoy would go on opening streams on them; a stopped EPP
    must look stopped (FailOpen/FailClose depend on it), so each connection is closed too.
    """

    def __init__(self, services: list[Any], *, config: Any) -> None:
        super().__init__(services, config=config)
        self.protocols: weakref.WeakSet[_CorkedProtocol] = weakref.WeakSet()

    def _protocol_factory(self) -> H2Protocol:
        # As grpclib's own factory, with a protocol that corks its transport.
        self.__gc_step__()
        handler = GrpclibHandler(
            self._mapping, self._codec, self._status_details_codec, self.__dispatch__
        )
        self._handlers.add(handler)
        protocol = _CorkedProtocol(handler, self._config, self._h2_config)
        self.protocols.add(protocol)
        return protocol

    def close_connections(self) -> None:
        for protocol in list(self.protocols):
            processor = getattr(protocol, "processor", None)
            if processor is not None:
                processor.close("server stopped")

    def abort_connections(self) -> None:
        """Drop what is still open (a TLS peer that never answers close_notify, say)."""
        for protocol in list(self.protocols):
            raw = getattr(protocol, "raw_transport", None)
            if raw is not None and not protocol.lost.is_set():
                raw.abort()

    async def connections_closed(self) -> None:
        """Until every connection's socket is closed (``transport.close`` only asks)."""
        await asyncio.gather(*(p.lost.wait() for p in list(self.protocols)))


async def start_server(
    services: list[Any], host: str, port: int, *, tls: ssl.SSLContext | None = None
) -> tuple[_Server, int]:
    """Listen on ``host:port`` (0: any free port); returns the server and the bound port."""
    from grpclib.config import Configuration

    sock = bound_socket(host, port)
    config = Configuration(http2_connection_window_size=_WINDOW, http2_stream_window_size=_WINDOW)
    server = _Server(services, config=config)
    await server.start(sock=sock, ssl=tls)
    return server, int(sock.getsockname()[1])


class GrpclibBackend:
    """The ext_proc port (TLS when ``certs`` is given) and the plaintext health port.

    A reload loads the new pair into the same ``SSLContext``: OpenSSL copies a context's
    certificate into each connection as it is accepted, so only new connections see it.
    """

    def __init__(
        self,
        make_stream: Callable[[], Stream],
        host: str,
        port: int,
        health_port: int | None,
        certs: CertStore | None = None,
    ) -> None:
        self._service = ExtProcService(make_stream)
        self._context: ssl.SSLContext | None = None
        if certs is not None:
            self._context = server_context(certs.cert, certs.key)
            certs.on_change(self._reload)
        self._statuses: dict[str, int] = {}
        self._health = HealthService(self._statuses)
        self._host = host
        self._want = (port, health_port)
        self._servers: list[_Server] = []
        self.port = 0
        self.health_port: int | None = None

    @property
    def health_checks(self) -> int:
        return self._health.checks

    async def start(self) -> None:
        """Listen; a start after a stop listens on the ports the first start bound."""
        port, health_port = self._want
        health = self._health
        main, self.port = await start_server(
            [self._service, health], self._host, port, tls=self._context
        )
        self._servers.append(main)
        if health_port is not None:
            try:
                extra, self.health_port = await start_server([health], self._host, health_port)
            except BaseException:
                await self.stop(0)
                raise
            self._servers.append(extra)
        self._want = (self.port, self.health_port)

    def _reload(self, cert: bytes, key: bytes) -> None:
        if self._context is not None:
            server_context(cert, key, into=self._context)

    async def set_status(self, names: tuple[str, ...], status: int) -> None:
        for name in names:
            self._statuses[name] = status

    async def stop(self, grace: float) -> None:
        """Health goes NOT_SERVING, open streams get ``grace`` seconds, the rest is cancelled.

        Waiting for no stream to be open suffices here: the caller has already kept the
        port open long enough for Envoy to stop opening new ones (``ExtProcServer.stop``)."""
        servers, self._servers = self._servers, []
        if not servers:
            return
        await drain(self._statuses, self._service.idle, grace)
        for server in servers:
            server.close()
            server.close_connections()
        for server in servers:
            await server.wait_closed()
        # Once ``stop`` returns, the EPP looks stopped to Envoy: no socket left open.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                for server in servers:
                    await server.connections_closed()
        for server in servers:
            server.abort_connections()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                for server in servers:
                    await server.connections_closed()
