"""The EPP's gRPC server: ext_proc ``Process`` plus the gRPC health service.

The protocol lives in ``handler`` and every decision in the director; this module only
picks a transport (``inline`` by default, or ``grpcio``, the reference implementation, both
serving the same ``Stream``) and runs it. Health follows the upstream EPP: NOT_SERVING until
the owner says the datastore is synced (``set_serving``), on the main port and, for the ``epp``
command, also on a separate health port (9003) that kubelet probes. With ``tls`` set, the
ext_proc port serves TLS (``extproc.tls``); the health port stays plaintext for kubelet.
"""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from typing import Literal, Protocol

from grpc_health.v1 import health_pb2
from pydantic import BaseModel, ConfigDict

from inference_gateway.aio import spawn
from inference_gateway.aio import stop as stop_task
from inference_gateway.envoy.bootstrap import EPP_HEALTH_INTERVAL_SECONDS
from inference_gateway.extproc._inline.limits import Limits
from inference_gateway.extproc.handler import Stream
from inference_gateway.extproc.routing import Router
from inference_gateway.extproc.tls import CertStore, TlsSettings
from inference_gateway.observability.tracing import NULL_TRACER, Tracer

log = logging.getLogger(__name__)

EXT_PROC_SERVICE = "envoy.service.ext_proc.v3.ExternalProcessor"
_HEALTH_SERVICES = ("", EXT_PROC_SERVICE, "inference-extension", "readiness")
# As upstream: alive while the process serves, synced or not (a pool that takes a while to
# appear must not get the pod restarted); NOT_SERVING only when stopping.
_LIVENESS = ("liveness",)


Transport = Literal["inline", "grpcio"]


class ExtProcSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = 9002
    """0 picks a free port (see ``ExtProcServer.port``)."""
    health_port: int | None = None
    """A second port serving only gRPC health (9003 for the ``epp`` command)."""
    max_body_bytes: int = 10 * 1024 * 1024
    grace_seconds: float = 5.0
    health_interval_seconds: float = EPP_HEALTH_INTERVAL_SECONDS
    """How often the Envoy in front health-checks this server (its
    ``epp_health_interval_seconds``): a graceful stop answers NOT_SERVING this long, plus a
    margin, before it stops taking streams, so Envoy has stopped sending them by then."""
    transport: Transport = "inline"
    """``inline`` (our HTTP/2 framing on an asyncio protocol, see ``extproc._inline``) costs
    the least per message; ``grpcio`` is the general-purpose library, kept as the reference."""
    inline_small_bodies: bool = False
    """Send a body of one chunk or less inside the header answer (CONTINUE_AND_REPLACE),
    one message fewer. Off by default because the EPP may sit behind any Envoy; verified
    with the bundled Envoy 1.40, so ``app.Gateway``, which runs that Envoy, turns it on
    unless the settings say otherwise."""
    tls: TlsSettings | None = None
    """Serve ext_proc over TLS (None: plaintext)."""
    limits: Limits = Limits()
    """What one peer may make the server hold (streams, windows, header blocks, timeouts,
    connections); all of it on ``inline``, what grpcio has a setting for on ``grpcio``."""


class _Backend(Protocol):
    port: int
    health_port: int | None

    @property
    def health_checks(self) -> int:
        """gRPC health checks answered so far, on any port."""

    async def start(self) -> None: ...

    async def set_status(self, names: tuple[str, ...], status: int) -> None: ...

    async def stop(self, grace: float) -> None: ...


class ExtProcServer:
    """``async with ExtProcServer(router, settings) as server:`` serves until the block ends."""

    def __init__(
        self,
        router: Router,
        settings: ExtProcSettings | None = None,
        *,
        tracer: Tracer = NULL_TRACER,
    ) -> None:
        self.settings = s = settings or ExtProcSettings()

        def make_stream() -> Stream:
            return Stream(
                router,
                max_body_bytes=s.max_body_bytes,
                inline_small_bodies=s.inline_small_bodies,
                tracer=tracer,
            )

        self.certs = CertStore(s.tls) if s.tls is not None else None
        """The certificate in use (None: plaintext)."""
        self._backend: _Backend
        if s.transport == "inline":
            from inference_gateway.extproc._inline import InlineBackend

            self._backend = InlineBackend(
                make_stream, s.host, s.port, s.health_port, self.certs, s.limits
            )
        else:
            from inference_gateway.extproc._grpcio import GrpcioBackend

            self._backend = GrpcioBackend(
                make_stream, s.host, s.port, s.health_port, self.certs, s.limits
            )
        self._watch: asyncio.Task[None] | None = None
        self._running = False

    @property
    def port(self) -> int:
        return self._backend.port

    @property
    def health_port(self) -> int | None:
        return self._backend.health_port

    async def start(self) -> None:
        await self.set_serving(False)
        await self._backend.set_status(_LIVENESS, health_pb2.HealthCheckResponse.SERVING)
        await self._backend.start()
        self._running = True
        if self.certs is not None:
            self._watch = spawn(self.certs.watch(), name="extproc-cert-watch", forever=False)
        log.info(
            "ext_proc serving on %s:%d (%s, %s)",
            self.settings.host,
            self.port,
            self.settings.transport,
            "plaintext" if self.certs is None else "TLS",
        )

    async def set_serving(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        await self._backend.set_status(_HEALTH_SERVICES, status)

    async def stop(self, grace: float | None = None) -> None:
        """Stop serving; ``start`` may serve again, on the same ports.

        With ``grace`` > 0 (None: ``settings.grace_seconds``) the stop is graceful: health
        goes NOT_SERVING and, if anything has health-checked the server (else nobody would
        notice), it keeps taking streams for one health-check interval plus a margin, so
        Envoy marks it down and stops opening streams before any is refused; then open
        streams get up to ``grace`` seconds to finish before the rest are cancelled. With
        ``grace`` 0 it stops at once, as a crash would.
        """
        if not self._running:
            return
        self._running = False
        grace = self.settings.grace_seconds if grace is None else grace
        if grace > 0 and self._backend.health_checks:
            await self._backend.set_status(
                _HEALTH_SERVICES, health_pb2.HealthCheckResponse.NOT_SERVING
            )
            try:
                await asyncio.sleep(self.drain_seconds)
            except asyncio.CancelledError:
                grace = 0
                raise
            finally:
                await self._close(grace)
            return
        await self._close(grace)

    async def _close(self, grace: float) -> None:
        if self._watch is not None:
            await stop_task(self._watch)
            self._watch = None
        await self._backend.stop(grace)

    @property
    def drain_seconds(self) -> float:
        """How long a graceful stop answers NOT_SERVING before refusing streams: a health
        check may have started just before the change, so the next one comes at most one
        interval plus that check's round trip later (a fifth of an interval, at least 50 ms)."""
        interval = self.settings.health_interval_seconds
        return interval + max(0.05, interval / 5)

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


async def serve(
    router: Router,
    settings: ExtProcSettings,
    *,
    ready: asyncio.Event,
    stop: asyncio.Event,
) -> None:
    """Serve until ``stop`` is set; health is SERVING from the start (the caller synced)."""
    async with ExtProcServer(router, settings) as server:
        await server.set_serving(True)
        ready.set()
        await stop.wait()
    log.info("ext_proc stopped")
