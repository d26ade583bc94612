"""Listening sockets of the inline server: the ext_proc port (optionally TLS) and a health port."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable

from inference_gateway.extproc._inline.calls import CallCounter, HealthCall, ProcessCall
from inference_gateway.extproc._inline.connection import Connection
from inference_gateway.extproc._inline.limits import Limits, RejectLog
from inference_gateway.extproc._inline.streams import CallFactory
from inference_gateway.extproc._serving import bound_socket, drain
from inference_gateway.extproc.handler import Stream
from inference_gateway.extproc.tls import CertStore, server_context

PROCESS = b"/envoy.service.ext_proc.v3.ExternalProcessor/Process"
CHECK = b"/grpc.health.v1.Health/Check"


class InlineBackend:
    """Same contract as the grpcio backend (``server._Backend``).

    A certificate reload loads the new pair into the same ``SSLContext``: OpenSSL copies a
    context's certificate into each connection as it is accepted, so only new connections
    see it.
    """

    def __init__(
        self,
        make_stream: Callable[[], Stream],
        host: str,
        port: int,
        health_port: int | None,
        certs: CertStore | None = None,
        limits: Limits | None = None,
    ) -> None:
        self._make_stream = make_stream
        self._limits = limits or Limits()
        self._rejects = RejectLog()
        """One per server: its rate limit is on log lines, whichever peer causes them."""
        self._context: ssl.SSLContext | None = None
        if certs is not None:
            self._context = server_context(certs.cert, certs.key)
            certs.on_change(self._reload)
        self._statuses: dict[str, int] = {}
        self._checks = 0
        self._calls = CallCounter()
        self._host = host
        self._want = (port, health_port)
        self._servers: list[asyncio.Server] = []
        self._connections: dict[Connection, None] = {}
        """Connections that are up: registered by ``connection_made``, not by the factory,
        so a failed TLS handshake (a TCP probe, a plaintext client) leaves nothing behind."""
        self._closing = False
        self.port = 0
        self.health_port: int | None = None

    @property
    def health_checks(self) -> int:
        return self._checks

    def _count_check(self) -> None:
        self._checks += 1

    def _process(self, conn: Connection, stream_id: int) -> ProcessCall:
        return ProcessCall(conn, stream_id, self._make_stream(), self._calls)

    def _check(self, conn: Connection, stream_id: int) -> HealthCall:
        return HealthCall(conn, stream_id, self._statuses, self._count_check)

    async def start(self) -> None:
        """Listen; a start after a stop listens on the ports the first start bound."""
        port, health_port = self._want
        self._closing = False
        main: dict[bytes, CallFactory] = {PROCESS: self._process, CHECK: self._check}
        server, self.port = await self._listen(main, port, self._context)
        self._servers.append(server)
        if health_port is not None:
            try:
                extra, self.health_port = await self._listen({CHECK: self._check}, health_port)
            except BaseException:
                await self.stop(0)
                raise
            self._servers.append(extra)
        self._want = (self.port, self.health_port)

    async def _listen(
        self, routes: dict[bytes, CallFactory], port: int, tls: ssl.SSLContext | None = None
    ) -> tuple[asyncio.Server, int]:
        sock = bound_socket(self._host, port)

        def accept() -> Connection:
            return Connection(routes, self._made, self._lost, self._limits, self._rejects)

        server = await asyncio.get_running_loop().create_server(accept, sock=sock, ssl=tls)
        return server, int(sock.getsockname()[1])

    def _made(self, conn: Connection) -> bool:
        """Serve ``conn`` unless stopping (a TLS handshake that ended after ``stop`` closed
        the others) or at the connection limit (counted over both ports)."""
        if self._closing:
            return False
        if len(self._connections) >= self._limits.max_connections and not self._evict_idle():
            return False
        self._connections[conn] = None
        return True

    def _evict_idle(self) -> bool:
        """Make room at the cap by closing (GOAWAY) a connection with no open stream, one
        that never opened any first, the oldest first: idle sockets must not lock Envoy out."""
        idle = [c for c in self._connections if not c.open_streams]
        if not idle:
            return False
        victim = next((c for c in idle if not c.ever_used), idle[0])
        del self._connections[victim]
        victim.close()
        return True

    def _lost(self, conn: Connection) -> None:
        self._connections.pop(conn, None)

    def _reload(self, cert: bytes, key: bytes) -> None:
        if self._context is not None:
            server_context(cert, key, into=self._context)

    async def set_status(self, names: tuple[str, ...], status: int) -> None:
        for name in names:
            self._statuses[name] = status

    async def stop(self, grace: float) -> None:
        """Health goes NOT_SERVING, open calls get ``grace`` seconds, the rest is cancelled.

        Once this returns no socket is left open, so the EPP looks stopped to Envoy (the
        caller has already kept the port up long enough for Envoy to stop opening streams).
        """
        servers, self._servers = self._servers, []
        if not servers:
            return
        await drain(self._statuses, self._calls.idle, grace)
        for server in servers:
            server.close()
        self._closing = True
        connections = list(self._connections)
        for conn in connections:
            conn.close()
        await _closed(connections, within=1.0)
        for conn in connections:
            conn.abort()  # a peer that stopped reading would keep its socket open for good
        await _closed(connections, within=1.0)
        # Every connection we know of is aborted by now; a transport the server still
        # counts (accepted but never made, on some Python versions) must not hold stop.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                for server in servers:
                    await server.wait_closed()


async def _closed(connections: list[Connection], *, within: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(within):
            await asyncio.gather(*(conn.closed.wait() for conn in connections))
