"""The EPP in-process plus a real Envoy in front (``Gateway``), for the ``run`` command,
the integration tests, the benchmarks and the demo:

    Epp (``app.epp``) -> ext_proc port <- Envoy (bootstrap from ``envoy.bootstrap``)
    datastore changes -> fallback EDS file -> Envoy (FailOpen path)
    datastore changes -> route file -> Envoy RDS (body-based routing, ``BbrRouting``)

Start order is BBR, EPP, then Envoy; stop order the reverse, so Envoy never sends to an
EPP that is not there yet or any more.
"""

from __future__ import annotations

import logging
import tempfile
from contextlib import AsyncExitStack
from pathlib import Path
from types import TracebackType
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from inference_gateway.app.epp import Epp, EppSettings
from inference_gateway.datastore import Datastore
from inference_gateway.envoy.bbr_routes import RoutesFile
from inference_gateway.envoy.bootstrap import (
    DIRECT_LISTENER,
    GATEWAY_LISTENER,
    EnvoySettings,
    build_bootstrap,
)
from inference_gateway.envoy.endpoints_file import EndpointsFile
from inference_gateway.envoy.process import EnvoyProcess
from inference_gateway.extproc.server import ExtProcSettings
from inference_gateway.observability.tracing import NULL_TRACER, Tracer
from inference_gateway.requestcontrol import DirectorSettings

log = logging.getLogger(__name__)


class BbrRouting(BaseModel):
    """Body-based routing: a BBR server sets ``x-gateway-model-name``, Envoy's route table
    (RDS, rewritten on every reload) picks the pool, and the EPP honours that pool."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    streaming: bool = True
    """Envoy's request-body mode towards BBR: FULL_DUPLEX_STREAMED (True) or BUFFERED."""
    host: str = "127.0.0.1"
    port: int = 9004
    """Where an already running BBR listens; ignored when ``Gateway`` is given ``bbr_server``."""


class BbrService(Protocol):
    """A BBR server ``Gateway`` starts first and stops last (``bbr.BbrServer`` fits)."""

    port: int

    async def __aenter__(self) -> object: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class GatewaySettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    epp: EppSettings
    bbr: BbrRouting | None = None
    """Route pools by the body's model through Envoy (None: the EPP resolves the pool)."""
    envoy: EnvoySettings = Field(default_factory=EnvoySettings)
    failure_mode: Literal["FailOpen", "FailClose"] | None = None
    """None: the fallback pool's own ``failureMode`` (first FailOpen pool, else FailClose).
    In Kubernetes mode the pool may not be synced when Envoy starts: FailClose then."""
    workdir: Path | None = None
    """Where the Envoy bootstrap and EDS file go (a temporary directory when None)."""


class Gateway:
    """EPP in-process plus a real Envoy in front: ``async with Gateway(settings) as gw:``.

    ``gw.url`` is where clients send requests; ``gw.envoy.exited`` is set if Envoy dies.
    With ``settings.bbr``, ``bbr_server`` (if given) is started in-process; ``extproc``
    cannot import ``bbr`` (sibling layers), so the caller builds it.
    """

    def __init__(
        self,
        settings: GatewaySettings,
        *,
        bbr_server: BbrService | None = None,
        tracer: Tracer = NULL_TRACER,
    ) -> None:
        self.settings = settings
        # The EPP's graceful stop waits out one of this Envoy's health-check intervals, and
        # the bundled Envoy takes small bodies inside the header answer.
        grpc: dict[str, object] = {
            "health_interval_seconds": settings.envoy.epp_health_interval_seconds
        }
        if "inline_small_bodies" not in settings.epp.grpc.model_fields_set:
            grpc["inline_small_bodies"] = True
        epp = settings.epp.model_copy(update={"grpc": settings.epp.grpc.model_copy(update=grpc)})
        if settings.bbr is not None:
            director = epp.director.model_copy(update={"pool_header": True})
            epp = epp.model_copy(update={"director": director})
        settings = settings.model_copy(update={"epp": epp})
        self.epp = Epp(settings.epp, tracer=tracer)
        self.bbr_server = bbr_server
        self.envoy: EnvoyProcess | None = None
        self.port = 0
        self.direct_port = 0
        self._stack = AsyncExitStack()

    @property
    def datastore(self) -> Datastore:
        return self.epp.datastore

    @property
    def url(self) -> str:
        return f"http://{self.settings.envoy.host}:{self.port}"

    @property
    def direct_url(self) -> str:
        """The benchmark listener without ext_proc (only with ``envoy.direct_listener``)."""
        return f"http://{self.settings.envoy.host}:{self.direct_port}"

    async def __aenter__(self) -> Gateway:
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def _start(self) -> None:
        stack = self._stack
        if self.bbr_server is not None and self.settings.bbr is not None:
            await stack.enter_async_context(self.bbr_server)
        await stack.enter_async_context(self.epp)
        assert self.epp.server is not None
        workdir = self.settings.workdir
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="igw-")))
        eds_dir = workdir / "eds"
        eds_dir.mkdir(parents=True, exist_ok=True)
        EndpointsFile(eds_dir).follow(self.datastore)
        envoy_settings = self.settings.envoy.model_copy(
            update={
                "epp_port": self.epp.server.port,
                "epp_tls": self.epp.server.certs is not None,
                "failure_mode": self._failure_mode(),
            }
        )
        bbr = self.settings.bbr
        if bbr is not None:
            RoutesFile(eds_dir).follow(self.datastore)
            port = self.bbr_server.port if self.bbr_server is not None else bbr.port
            envoy_settings = envoy_settings.model_copy(
                update={"bbr_port": port, "bbr_host": bbr.host, "bbr_streaming": bbr.streaming}
            )
        bootstrap = build_bootstrap(envoy_settings, eds_dir=eds_dir)
        self.envoy = EnvoyProcess(
            bootstrap,
            workdir=workdir,
            concurrency=envoy_settings.concurrency,
            log_level=envoy_settings.log_level,
        )
        await stack.enter_async_context(self.envoy)
        self.port = await self.envoy.listener_port(GATEWAY_LISTENER)
        if envoy_settings.direct_listener:
            self.direct_port = await self.envoy.listener_port(DIRECT_LISTENER)
        log.info("gateway listening on %s", self.url)

    def _failure_mode(self) -> Literal["FailOpen", "FailClose"]:
        if self.settings.failure_mode is not None:
            return self.settings.failure_mode
        pools = sorted(self.datastore.pools(), key=lambda p: p.key)
        return "FailOpen" if any(p.failure_mode == "FailOpen" for p in pools) else "FailClose"

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.aclose()


def bench_gateway(
    config: Path,
    *,
    account_usage: bool,
    envoy_concurrency: int,
    transport: Literal["inline", "grpcio"] = "inline",
) -> Gateway:
    """The gateway ``bench overhead`` measures: free ports, plus Envoy's direct listener."""
    return Gateway(
        GatewaySettings(
            epp=EppSettings(
                pool_file=config,
                grpc=ExtProcSettings(port=0, transport=transport),
                director=DirectorSettings(account_usage=account_usage),
            ),
            envoy=EnvoySettings(
                port=0, admin_port=0, direct_listener=True, concurrency=envoy_concurrency
            ),
        )
    )


__all__ = ["BbrRouting", "BbrService", "Gateway", "GatewaySettings", "bench_gateway"]
