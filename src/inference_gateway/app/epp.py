"""The endpoint picker alone (``Epp``), as the ``epp`` and ``run`` commands, the tests and
the benchmarks compose it:

    datastore <- source (file with hot reload, or the Kubernetes API) ; scraper -> datastore
    scheduler (EndpointPickerConfig) + saturation detector -> director -> ext_proc server
    request-control plugins (same EndpointPickerConfig) -> ext_proc server

Start order is bottom-up and stop order the reverse, so nothing serves before what it reads
from exists and nothing it reads from disappears while it serves. gRPC health turns
SERVING once the source has synced (the file: its first load; Kubernetes: the pool and
every watch's first list), which may be long after the port opens. ``app.gateway``
puts a real Envoy in front.
"""

from __future__ import annotations

import logging
import random
from contextlib import AsyncExitStack
from pathlib import Path
from types import TracebackType
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from inference_gateway.aio import spawn
from inference_gateway.aio import stop as stop_task
from inference_gateway.app._leading import lead_then_serve
from inference_gateway.app._membership import TellScheduler
from inference_gateway.app._staleness import staleness_warnings
from inference_gateway.datastore import Datastore, PoolInfo
from inference_gateway.extproc.server import ExtProcServer, ExtProcSettings
from inference_gateway.extproc.tls import plaintext_problem
from inference_gateway.modelserver.collector import ScraperCollector
from inference_gateway.modelserver.datalayer import (
    ScrapeSettings,
    register_data_layer,
    scrape_settings,
)
from inference_gateway.modelserver.scraper import MetricsScraper
from inference_gateway.observability.loop_lag import LoopLagMonitor
from inference_gateway.observability.metrics import EppMetrics, metrics_subsystem
from inference_gateway.observability.objects_collector import UnreadableObjectsCollector
from inference_gateway.observability.pool_collector import DEFAULT_FRESH_WITHIN
from inference_gateway.observability.prefix_collector import PrefixIndexerCollector
from inference_gateway.observability.tracing import NULL_TRACER, Tracer
from inference_gateway.requestcontrol import Director, DirectorSettings
from inference_gateway.requestcontrol.extensions import ExtensionChain, register_extensions
from inference_gateway.requestcontrol.flowcontrol.build import register_flow_policies
from inference_gateway.requestcontrol.parsers import register_parsers
from inference_gateway.requestcontrol.pipeline import build_director
from inference_gateway.scheduling.config import load_config
from inference_gateway.scheduling.plugins.prefix import PrefixCacheScorer
from inference_gateway.scheduling.registry import Registry, default_registry
from inference_gateway.scheduling.scheduler import PluginScheduler, build_saturation_detector
from inference_gateway.sources.file import FileSource, plugins_document
from inference_gateway.sources.kubernetes import KubernetesSource, KubeSettings
from inference_gateway.sources.kubernetes.lease import LeaderElectionSettings
from inference_gateway.sources.kubernetes.source import GA_GROUP, X_GROUP

log = logging.getLogger(__name__)


def epp_registry() -> Registry:
    """Every plugin type the EPP's config may name: scheduling, request control, the data
    layer, flow control and the request parser (the benchmarks load configs with it too)."""
    registry = default_registry()
    register_extensions(registry)
    register_data_layer(registry)
    register_flow_policies(registry)
    register_parsers(registry)
    return registry


class KubernetesSourceSettings(BaseModel):
    """Which InferencePool to serve and how to reach the API server."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pool_name: str
    pool_namespace: str = "default"
    pool_group: Literal["inference.networking.k8s.io", "inference.networking.x-k8s.io"] = (
        "inference.networking.k8s.io"
    )
    """``inference.networking.k8s.io`` (v1 pool) or ``inference.networking.x-k8s.io``
    (v1alpha2 pool)."""
    kubeconfig: str | None = None
    """None: the in-cluster service account, else the default kubeconfig."""
    timings: KubeSettings = Field(default_factory=KubeSettings)
    endpoint_selector: dict[str, str] | None = None
    """Upstream's pool-less mode: no InferencePool; the pods with these labels, on
    ``endpoint_target_ports``, form the pool ``pool_name`` (the EPP's Deployment)."""
    endpoint_target_ports: tuple[int, ...] = ()

    @model_validator(mode="after")
    def _pool_less_needs_ports(self) -> KubernetesSourceSettings:
        ports = self.endpoint_target_ports
        if self.endpoint_selector is None:
            if ports:
                raise ValueError("endpoint_target_ports belong to the pool-less mode")
            return self
        if not self.endpoint_selector:
            raise ValueError("the endpoint selector names no label")
        if not 1 <= len(ports) <= 8 or len(set(ports)) != len(ports):
            raise ValueError("the pool-less mode takes 1 to 8 distinct target ports")
        if not all(1 <= port <= 65535 for port in ports):
            raise ValueError(f"target ports must be 1-65535, not {list(ports)}")
        return self

    def endpoint_pool(self) -> PoolInfo | None:
        """The pool the pool-less mode serves (None: watch the InferencePool)."""
        if self.endpoint_selector is None:
            return None
        return PoolInfo(
            name=self.pool_name,
            namespace=self.pool_namespace,
            selector=dict(self.endpoint_selector),
            target_ports=self.endpoint_target_ports,
            api_version="v1",
        )


class EppSettings(BaseModel):
    """Everything the EPP needs; exactly one of ``pool_file`` and ``kubernetes``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pool_file: Path | None = None
    """Multi-document YAML of pools, models and pods (hot-reloaded)."""
    kubernetes: KubernetesSourceSettings | None = None
    """Watch one InferencePool and its pods through the Kubernetes API instead."""
    allow_plaintext: bool = False
    """Serve plaintext ext_proc on a non-loopback address in file mode (refused otherwise)."""
    grpc: ExtProcSettings = Field(default_factory=ExtProcSettings)
    plugins_config: str | None = None
    """A built-in EndpointPickerConfig name or a file path; None: the EndpointPickerConfig
    document in ``pool_file`` if it has one, else the built-in ``default``."""
    director: DirectorSettings = Field(default_factory=DirectorSettings)
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = None
    """Serve ``/metrics`` here (None: not served)."""
    scrape: bool = True
    """Scrape model-server metrics (off only for upstreams without ``/metrics``)."""
    scrape_interval: float = 0.05
    seed: int | None = None
    scrape_target: ScrapeSettings = Field(default_factory=ScrapeSettings)
    """Scheme, path, port and engine metric names of the scrapes (flags); the
    EndpointPickerConfig's data-layer plugins override them, as upstream."""
    metrics_fresh_within: float = Field(default=DEFAULT_FRESH_WITHIN, gt=0)
    """Pool gauges count endpoints scraped this recently (``--metrics-staleness-threshold``)."""
    leader_election: LeaderElectionSettings | None = None
    """Kubernetes mode: only the Lease holder reports SERVING (``--ha-enable-leader-election``)."""

    @model_validator(mode="after")
    def _one_source_and_no_open_plaintext(self) -> EppSettings:
        if (self.pool_file is None) == (self.kubernetes is None):
            raise ValueError("give exactly one of --config-file and --pool-name")
        # Kubernetes mode may turn TLS off (--no-secure-serving), as upstream's EPP may; in
        # file mode the EPP sits next to its Envoy and plaintext elsewhere must be asked for.
        if self.pool_file is not None and self.grpc.tls is None and not self.allow_plaintext:
            problem = plaintext_problem(self.grpc.host)
            if problem:
                raise ValueError(problem)
        return self


class Epp:
    """The endpoint picker alone: ``async with Epp(settings) as epp: ... epp.server.port``."""

    def __init__(self, settings: EppSettings, *, tracer: Tracer = NULL_TRACER) -> None:
        self.settings = settings
        self.tracer = tracer
        self.datastore = Datastore()
        self.metrics = EppMetrics(
            self.datastore,
            fresh_within=settings.metrics_fresh_within,
            subsystem=metrics_subsystem(
                settings.kubernetes.pool_group if settings.kubernetes is not None else None
            ),
        )
        self.director: Director | None = None
        self.membership: TellScheduler | None = None
        """Tells the scheduler's plugins which endpoints joined and left the pool."""
        self.extensions: ExtensionChain | None = None
        """Request-control plugins from the EndpointPickerConfig (empty when none)."""
        self.server: ExtProcServer | None = None
        self.source: FileSource | KubernetesSource | None = None
        self.metrics_port: int | None = None
        self.loop_lag: LoopLagMonitor | None = None
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
            target = scrape_settings(self._plugins_source(), s.scrape_target)
            scraper = await stack.enter_async_context(
                MetricsScraper(
                    self.datastore,
                    interval=s.scrape_interval,
                    scheme=target.scheme,
                    path=target.path,
                    port=target.port,
                    engines=target.mappings(),
                    engine_label=target.engine_label_key,
                    verify_tls=not target.insecure_skip_verify,
                )
            )
            self.metrics.registry.register(ScraperCollector(scraper.stats))
        self.loop_lag = LoopLagMonitor(self.metrics.registry)
        lagging = spawn(self.loop_lag.run(), name="epp-loop-lag")
        stack.push_async_callback(stop_task, lagging)
        self.source = await stack.enter_async_context(self._source())
        if isinstance(self.source, KubernetesSource):
            self.metrics.registry.register(UnreadableObjectsCollector(self.source.unreadable))
        self.director = self._build_director()
        self.extensions = self.director.extensions
        if self.extensions:
            await self.extensions.start()
            stack.push_async_callback(self.extensions.close)
        grpc_settings = s.grpc.model_copy(update={"max_body_bytes": s.director.max_body_bytes})
        server = ExtProcServer(self.director, grpc_settings, tracer=self.tracer)
        self.server = await stack.enter_async_context(server)
        if self.director.flow is not None:
            # Pushed after the server so it runs first on exit: queued requests get their
            # 503 while the server still drains gracefully (issue 16).
            stack.push_async_callback(self.director.flow.flow.stop)
        if isinstance(self.source, KubernetesSource) and s.leader_election is not None:
            assert s.kubernetes is not None
            await stack.enter_async_context(
                lead_then_serve(s.kubernetes, s.leader_election, self.source, self.server)
            )
        elif isinstance(self.source, KubernetesSource):
            serving = spawn(
                self._serve_when_synced(self.source, self.server),
                name="epp-serve-when-synced",
                forever=False,
            )
            stack.push_async_callback(stop_task, serving)
        else:
            await self.server.set_serving(self.datastore.synced)
        if s.metrics_port is not None:
            self.metrics_port = await stack.enter_async_context(
                self.metrics.serve(s.metrics_host, s.metrics_port)
            )

    def _source(self) -> FileSource | KubernetesSource:
        s = self.settings
        if s.kubernetes is None:
            assert s.pool_file is not None
            return FileSource(s.pool_file, self.datastore)
        k = s.kubernetes
        return KubernetesSource(
            self.datastore,
            pool_name=k.pool_name,
            pool_namespace=k.pool_namespace,
            pool_group=k.pool_group,
            kubeconfig=k.kubeconfig,
            settings=k.timings,
            endpoint_pool=k.endpoint_pool(),
        )

    @staticmethod
    async def _serve_when_synced(source: KubernetesSource, server: ExtProcServer) -> None:
        await source.synced.wait()
        await server.set_serving(True)
        log.info("EPP synced: health SERVING")

    def _build_director(self) -> Director:
        s = self.settings
        config = load_config(self._plugins_source(), epp_registry())
        director, plugins = build_director(
            self.datastore,
            config,
            rng=random.Random(s.seed),
            metrics=self.metrics,
            settings=s.director,
            observer=self.metrics.observe_plugin,
            flow_metrics=self.metrics.flow,
        )
        assert isinstance(director.scheduler, PluginScheduler)
        if s.scrape:
            detector = build_saturation_detector(config, plugins)
            for warning in staleness_warnings(
                s.scrape_interval,
                getattr(detector, "staleness", None),
                director.scheduler.staleness,
            ):
                log.warning("%s", warning)
        if self.loop_lag is not None:
            director.stalled = self.loop_lag.stalled
            if director.flow is not None:
                director.flow.flow.stalled = self.loop_lag.stalled
        self.membership = TellScheduler(director.scheduler)
        self.datastore.add_listener(self.membership)
        telling = spawn(self.membership.run(), name="epp-tell-scheduler")
        self._stack.push_async_callback(stop_task, telling)
        indexes = [p for p in director.scheduler.post_pick if isinstance(p, PrefixCacheScorer)]
        if indexes:
            self.metrics.registry.register(PrefixIndexerCollector(indexes))
        return director

    def _plugins_source(self) -> str:
        s = self.settings
        if s.plugins_config is not None:
            return s.plugins_config
        if s.pool_file is not None:
            inline = plugins_document(s.pool_file.read_text(encoding="utf-8"))
            if inline is not None:
                return inline
        return "default"

    async def stop_grpc(self, grace: float = 0.0) -> None:
        """Stop answering Envoy: at once (0, as a crash) or gracefully (see
        ``ExtProcServer.stop``). Tests use it to exercise FailOpen and FailClose."""
        if self.server is not None:
            flow = self.director.flow if self.director is not None else None
            if grace > 0 and flow is not None:
                await flow.flow.stop()  # queued requests get 503 + Retry-After (issue 16)
            await self.server.stop(grace)

    async def restart_grpc(self) -> None:
        """Serve ext_proc again after ``stop_grpc``, on the same port (Envoy's static EPP
        cluster points there), SERVING if the datastore is synced: a restarted EPP pod."""
        if self.server is not None:
            if self.director is not None and self.director.flow is not None:
                self.director.flow.flow.restart()
            await self.server.start()
            await self.server.set_serving(self.datastore.synced)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.aclose()


__all__ = ["GA_GROUP", "X_GROUP", "Epp", "EppSettings", "KubernetesSourceSettings"]
