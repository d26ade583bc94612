"""The ``epp`` command: the endpoint picker alone, behind an Envoy someone else runs.

It takes upstream's flags (v1.0-v1.5, ``cmd/epp/runner`` and ``pkg/epp/server/options.go``)
with upstream's meaning, so upstream's manifests and Helm chart start it unchanged:
``--config-file``/``--config-text`` are the EndpointPickerConfig, the pool comes from
``--pool-name`` (Kubernetes), and flags with no effect here are accepted and logged once.
The standalone pool file, ours only, is ``--pool-file``. ``deploy/README.md`` tables what
each upstream flag does here. Options map onto ``EppSettings`` (``_epp_options``).
"""

from __future__ import annotations

import asyncio
import functools
import logging

import pydantic
import typer

from inference_gateway._heap import freeze_long_lived
from inference_gateway.app.epp import Epp, EppSettings
from inference_gateway.cli import _epp_options as o
from inference_gateway.cli import _epp_settings as to
from inference_gateway.cli._common import run_traced, stop_on_signals
from inference_gateway.cli._goflags import GoFlagsCommand, IgnoredFlags
from inference_gateway.extproc.server import ExtProcSettings
from inference_gateway.observability.logging import setup_logging
from inference_gateway.observability.tracing import Tracer
from inference_gateway.requestcontrol import DirectorSettings
from inference_gateway.sources.kubernetes.source import GA_GROUP

log = logging.getLogger(__name__)

_MAX_BODY_BYTES = DirectorSettings().max_body_bytes
_INLINE_SMALL_BODIES = ExtProcSettings().inline_small_bodies
_IGNORED_WHY = {
    "enable-pprof": "no pprof in Python (use py-spy)",
    "health-checking": "gRPC health is always served",
    "metrics-endpoint-auth": "/metrics is served without authentication",
    "refresh-prometheus-metrics-interval": "pool gauges are computed at scrape time",
    "zap-devel": "log format comes from --zap-encoder",
    "zap-stacktrace-level": "tracebacks are logged with errors",
    "zap-time-encoding": "timestamps are RFC 3339",
}


def epp(
    pool_name: o.PoolName = None,
    pool_namespace: o.PoolNamespace = "default",
    pool_group: o.PoolGroup = GA_GROUP,
    pool_file: o.PoolFile = None,
    kubeconfig: o.Kubeconfig = None,
    endpoint_selector: o.EndpointSelector = None,
    endpoint_target_ports: o.EndpointTargetPorts = None,
    config_file: o.ConfigFile = None,
    config_text: o.ConfigText = None,
    plugins_config: o.PluginsConfig = None,
    host: o.Host = "0.0.0.0",
    grpc_port: o.GrpcPort = 9002,
    grpc_health_port: o.GrpcHealthPort = 9003,
    metrics_port: o.MetricsPort = 9090,
    metrics_host: o.MetricsHost = "0.0.0.0",
    secure_serving: o.SecureServing = None,
    cert_path: o.CertPath = None,
    enable_cert_reload: o.EnableCertReload = False,
    insecure_allow_plaintext: o.AllowPlaintext = False,
    ha_enable_leader_election: o.LeaderElection = False,
    refresh_metrics_interval: o.RefreshMetricsInterval = None,
    metrics_staleness_threshold: o.StalenessThreshold = None,
    model_server_metrics_port: o.MsPort = 0,
    model_server_metrics_path: o.MsPath = None,
    model_server_metrics_scheme: o.MsScheme = None,
    model_server_metrics_https_insecure_skip_verify: o.MsInsecure = None,
    total_queued_requests_metric: o.QueuedMetric = None,
    total_running_requests_metric: o.RunningMetric = None,
    kv_cache_usage_percentage_metric: o.KvMetric = None,
    lora_info_metric: o.LoraMetric = None,
    cache_info_metric: o.CacheInfoMetric = None,
    disable_endpoint_subset_filter: o.DisableSubsetFilter = False,
    max_body_bytes: o.MaxBodyBytes = _MAX_BODY_BYTES,
    transport: o.Transport = "inline",
    inline_small_bodies: o.InlineSmallBodies = _INLINE_SMALL_BODIES,
    v: o.Verbosity = None,
    zap_encoder: o.ZapEncoder = None,
    zap_log_level: o.ZapLogLevel = None,
    log_level: o.LogLevel = None,
    tracing: o.Tracing = True,
    tracing_endpoint: o.TracingEndpoint = None,
    enable_pprof: o.EnablePprof = None,
    health_checking: o.HealthChecking = None,
    metrics_endpoint_auth: o.MetricsEndpointAuth = None,
    refresh_prometheus_metrics_interval: o.RefreshPromInterval = None,
    zap_devel: o.ZapDevel = None,
    zap_stacktrace_level: o.ZapStacktraceLevel = None,
    zap_time_encoding: o.ZapTimeEncoding = None,
) -> None:
    """Run the endpoint picker alone, behind an Envoy you run yourself.

    The pool comes from the Kubernetes API (--pool-name, as upstream) or from a file of
    InferencePool/InferenceModel/Pod documents (--pool-file).
    """
    setup_logging(to.log_level_from(log_level, v, zap_log_level), json=zap_encoder == "json")
    IgnoredFlags().report(
        {
            "enable-pprof": enable_pprof,
            "health-checking": health_checking,
            "metrics-endpoint-auth": metrics_endpoint_auth,
            "refresh-prometheus-metrics-interval": refresh_prometheus_metrics_interval,
            "zap-devel": zap_devel,
            "zap-stacktrace-level": zap_stacktrace_level,
            "zap-time-encoding": zap_time_encoding,
        },
        _IGNORED_WHY,
    )
    if sum(x is not None for x in (pool_file, pool_name, endpoint_selector)) != 1:
        raise typer.BadParameter(
            "give exactly one of --pool-name (Kubernetes), --endpoint-selector (Kubernetes, "
            "no InferencePool) and --pool-file (standalone)",
            param_hint="--pool-name / --endpoint-selector / --pool-file",
        )
    if endpoint_target_ports is not None and endpoint_selector is None:
        raise typer.BadParameter(
            "--endpoint-target-ports goes with --endpoint-selector",
            param_hint="--endpoint-target-ports",
        )
    plugins = to.plugins_source(config_file, config_text, plugins_config)
    kubernetes = None
    if pool_name is not None:
        kubernetes = to.kubernetes(pool_name, pool_namespace, pool_group, kubeconfig)
    elif endpoint_selector is not None:
        kubernetes = to.pool_less(
            endpoint_selector, endpoint_target_ports, pool_namespace, pool_group, kubeconfig
        )
    tls = to.tls(
        kubernetes is not None if secure_serving is None else secure_serving,
        cert_path,
        enable_cert_reload,
    )
    scrape = to.scrape_target(
        scheme=model_server_metrics_scheme,
        path=model_server_metrics_path,
        port=model_server_metrics_port,
        insecure=model_server_metrics_https_insecure_skip_verify,
        queued=total_queued_requests_metric,
        running=total_running_requests_metric,
        kv=kv_cache_usage_percentage_metric,
        lora=lora_info_metric,
        cache_info=cache_info_metric,
    )
    try:
        settings = EppSettings.model_validate(
            {
                "pool_file": pool_file,
                "kubernetes": kubernetes,
                "allow_plaintext": insecure_allow_plaintext,
                "grpc": to.grpc(host, grpc_port, grpc_health_port, transport, inline_small_bodies)
                | {"tls": tls},
                "plugins_config": plugins,
                "director": DirectorSettings(
                    max_body_bytes=max_body_bytes, subset_filter=not disable_endpoint_subset_filter
                ),
                "metrics_host": metrics_host,
                "metrics_port": metrics_port,
                "scrape_target": scrape,
                "leader_election": to.leader_election(ha_enable_leader_election, pool_name),
            }
            | to.durations(refresh_metrics_interval, metrics_staleness_threshold)
        )
    except pydantic.ValidationError as e:
        raise typer.BadParameter(to.first_message(e)) from None
    raise typer.Exit(
        run_traced(tracing_endpoint if tracing else None, functools.partial(_serve_epp, settings))
    )


async def _serve_epp(settings: EppSettings, tracer: Tracer) -> int:
    stop = asyncio.Event()
    with stop_on_signals(stop):
        freeze_long_lived()  # imports and settings, before a file source loads its pool
        async with Epp(settings, tracer=tracer) as running:
            freeze_long_lived()  # and the servers, clients and plugins just built
            assert running.server is not None
            log.info(
                "EPP ready: ext_proc %s:%d, health %s, metrics %s (%s, %s)",
                settings.grpc.host,
                running.server.port,
                running.server.health_port,
                running.metrics_port,
                "file" if settings.kubernetes is None else "kubernetes",
                "plaintext" if running.server.certs is None else "TLS",
            )
            await stop.wait()
    return 0


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add this module's commands to ``app`` (it has no benchmarks)."""
    app.command("epp", cls=GoFlagsCommand)(epp)


def main() -> None:
    """The ``epp`` console script: only this command, as upstream's image runs ``/epp``
    (so the image's entrypoint takes upstream's args and imports none of the lab)."""
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command("epp", cls=GoFlagsCommand)(epp)
    app()


__all__ = ["epp", "main", "register"]
