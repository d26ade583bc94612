"""Composition of a whole gateway: the EPP (``Epp``) and the EPP plus real Envoy (``Gateway``).

Both are async context managers used by the CLI (``run``, ``epp``), the integration tests,
the benchmarks and the demo, so the wiring lives in one place:

    datastore <- file source (hot reload) ; metrics scraper -> datastore
    scheduler (EndpointPickerConfig) + saturation detector -> director -> ext_proc server
    request-control plugins (same EndpointPickerConfig) -> ext_proc server
    datastore changes -> fallback EDS file -> Envoy (FailOpen path)

Start order is bottom-up and stop order the reverse, so nothing serves before what it reads
from exists and nothing it reads from disappears while it serves. The Kubernetes source
will slot in where ``FileSource`` is entered (``EppSettings.config_file`` is its switch).
"""

from __future__ import annotations

import logging
import random
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path
from types import TracebackType
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from inference_gateway.datastore import Datastore
from inference_gateway.envoy.bootstrap import (
    DIRECT_LISTENER,
    GATEWAY_LISTENER,
    EnvoySettings,
    build_bootstrap,
)
from inference_gateway.envoy.endpoints_file import EndpointsFile
from inference_gateway.envoy.process import EnvoyProcess
from inference_gateway.extproc.server import ExtProcServer, ExtProcSettings
from inference_gateway.modelserver.scraper import MetricsScraper
from inference_gateway.observability.metrics import EppMetrics
from inference_gateway.requestcontrol import Director, DirectorSettings
from inference_gateway.requestcontrol.extensions import (
    ExtensionChain,
    build_chain,
    register_extensions,
)
from inference_gateway.scheduling.config import load_config
from inference_gateway.scheduling.registry import default_registry
from inference_gateway.scheduling.scheduler import build_saturation_detector, build_scheduler
from inference_gateway.sources.file import FileSource

log = logging.getLogger(__name__)


class EppSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    config_file: Path
    """Multi-document YAML of pools, models and pods (hot-reloaded)."""
    grpc: ExtProcSettings = Field(default_factory=ExtProcSettings)
    plugins_config: str = "default"
    """A built-in EndpointPickerConfig name or a file path."""
    director: DirectorSettings = Field(default_factory=DirectorSettings)
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = None
    """Serve ``/metrics`` here (None: not served)."""
    scrape: bool = True
    """Scrape model-server metrics (off only for upstreams without ``/metrics``)."""
    scrape_interval: float = 0.05
    seed: int | None = None


class Epp:
    """The endpoint picker alone: ``async with Epp(settings) as epp: ... epp.server.port``."""

    def __init__(self, settings: EppSettings) -> None:
        self.settings = settings
        self.datastore = Datastore()
        self.metrics = EppMetrics(self.datastore)
        self.director: Director | None = None
        self.extensions: ExtensionChain | None = None
        """Request-control plugins from the EndpointPickerConfig (empty when none)."""
        self.server: ExtProcServer | None = None
        self.source: FileSource | None = None
        self.metrics_port: int | None = None
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> Epp:
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def _start(self) -> None:
        s = self.settings
        stack = self._stack
        if s.scrape:
            await stack.enter_async_context(
                MetricsScraper(self.datastore, interval=s.scrape_interval)
            )
        self.source = await stack.enter_async_context(FileSource(s.config_file, self.datastore))
        self.director, self.extensions = self._build_director()
        if self.extensions:
            await self.extensions.start()
            stack.push_async_callback(self.extensions.close)
        grpc_settings = s.grpc.model_copy(update={"max_body_bytes": s.director.max_body_bytes})
        server = ExtProcServer(self.director, grpc_settings, extensions=self.extensions)
        self.server = await stack.enter_async_context(server)
        await self.server.set_serving(self.datastore.synced)
        if s.metrics_port is not None:
            self.metrics_port = await stack.enter_async_context(
                self.metrics.serve(s.metrics_host, s.metrics_port)
            )

    def _build_director(self) -> tuple[Director, ExtensionChain]:
        s = self.settings
        rng = random.Random(s.seed)
        registry = default_registry()
        register_extensions(registry)
        config = load_config(s.plugins_config, registry)
        scheduler = build_scheduler(
            config, rng=rng, observer=self.metrics.observe_plugin, perf_counter=time.perf_counter
        )
        director = Director(
            self.datastore,
            scheduler,
            metrics=self.metrics,
            admission=build_saturation_detector(config),
            rng=rng,
            settings=s.director,
        )
        chain = build_chain(config.plugins.values(), observer=self.metrics.observe_plugin)
        return director, chain

    async def stop_grpc(self, grace: float = 0.0) -> None:
        """Stop answering Envoy (tests use this to exercise FailOpen and FailClose)."""
        if self.server is not None:
            await self.server.stop(grace)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.aclose()


class GatewaySettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    epp: EppSettings
    envoy: EnvoySettings = Field(default_factory=EnvoySettings)
    failure_mode: Literal["FailOpen", "FailClose"] | None = None
    """None: the fallback pool's own ``failureMode`` (first FailOpen pool, else FailClose)."""
    workdir: Path | None = None
    """Where the Envoy bootstrap and EDS file go (a temporary directory when None)."""


class Gateway:
    """EPP in-process plus a real Envoy in front: ``async with Gateway(settings) as gw:``.

    ``gw.url`` is where clients send requests; ``gw.envoy.exited`` is set if Envoy dies.
    """

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.epp = Epp(settings.epp)
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
        await stack.enter_async_context(self.epp)
        assert self.epp.server is not None
        workdir = self.settings.workdir
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="igw-")))
        eds_dir = workdir / "eds"
        eds_dir.mkdir(parents=True, exist_ok=True)
        EndpointsFile(eds_dir).follow(self.datastore)
        envoy_settings = self.settings.envoy.model_copy(
            update={"epp_port": self.epp.server.port, "failure_mode": self._failure_mode()}
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
    transport: Literal["grpclib", "grpcio"] = "grpclib",
) -> Gateway:
    """The gateway ``bench overhead`` measures: free ports, plus Envoy's direct listener."""
    return Gateway(
        GatewaySettings(
            epp=EppSettings(
                config_file=config,
                grpc=ExtProcSettings(port=0, transport=transport),
                director=DirectorSettings(account_usage=account_usage),
            ),
            envoy=EnvoySettings(
                port=0, admin_port=0, direct_listener=True, concurrency=envoy_concurrency
            ),
        )
    )


__all__ = ["Epp", "EppSettings", "Gateway", "GatewaySettings", "bench_gateway"]
