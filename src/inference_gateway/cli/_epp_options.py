"""The ``epp`` command's options: upstream's flag names, defaults and help.

Upstream's names and defaults are from ``cmd/epp/runner/runner.go`` (v1.0.2) and
``pkg/epp/server/options.go`` (v1.5.0). Flags upstream has deprecated still work here with
their v1.0 meaning; flags with no effect here are ``None`` by default so the command can
tell that they were given and log it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, TypeAlias

import typer

from inference_gateway.cli._common import TracingEndpointOption, TransportOption
from inference_gateway.cli._goflags import duration_option

_POOL = "Pool source (exactly one of --pool-name, --pool-file)"
_CONFIG = "EndpointPickerConfig (at most one of --config-file, --config-text)"
_TLS = "ext_proc TLS"
_SCRAPE = "Model-server metrics"
_LOG = "Logging and tracing"
_IGNORED = "Upstream flags accepted with no effect here"


def _opt(*names: str, panel: str | None = None, **kw: Any) -> Any:
    return typer.Option(*names, rich_help_panel=panel, **kw)


PoolName: TypeAlias = Annotated[
    str | None, _opt("--pool-name", panel=_POOL, help="The InferencePool to serve (Kubernetes).")
]
PoolNamespace: TypeAlias = Annotated[
    str, _opt("--pool-namespace", panel=_POOL, envvar="NAMESPACE", help="The pool's namespace.")
]
PoolGroup: TypeAlias = Annotated[
    str,
    _opt("--pool-group", panel=_POOL, help="inference.networking.k8s.io (v1) or ...x-k8s.io."),
]
PoolFile: TypeAlias = Annotated[
    Path | None,
    _opt(
        "--pool-file",
        panel=_POOL,
        exists=True,
        help="Standalone: YAML of InferencePool, InferenceModel and v1/Pod objects.",
    ),
]
Kubeconfig: TypeAlias = Annotated[
    str | None, _opt("--kubeconfig", panel=_POOL, help="Default: in-cluster, then ~/.kube/config.")
]
EndpointSelector: TypeAlias = Annotated[
    str | None,
    _opt(
        "--endpoint-selector",
        panel=_POOL,
        help="Pool-less mode: the namespace's pods with these labels (k=v,...) are the pool.",
    ),
]
EndpointTargetPorts: TypeAlias = Annotated[
    str | None,
    _opt("--endpoint-target-ports", panel=_POOL, help="Pool-less mode: their ports (1-8)."),
]
ConfigFile: TypeAlias = Annotated[
    Path | None, _opt("--config-file", panel=_CONFIG, exists=True, help="The config file.")
]
ConfigText: TypeAlias = Annotated[
    str | None, _opt("--config-text", panel=_CONFIG, help="The config as text.")
]
PluginsConfig: TypeAlias = Annotated[
    str | None,
    _opt("--plugins-config", panel=_CONFIG, help="A built-in config name or a config file."),
]
Host: TypeAlias = Annotated[str, _opt("--host", help="Address for the gRPC ports.")]
GrpcPort: TypeAlias = Annotated[int, _opt("--grpc-port", help="ext_proc port.")]
GrpcHealthPort: TypeAlias = Annotated[int, _opt("--grpc-health-port", help="gRPC health port.")]
MetricsPort: TypeAlias = Annotated[int, _opt("--metrics-port", help="/metrics port.")]
MetricsHost: TypeAlias = Annotated[str, _opt("--metrics-host", help="/metrics address.")]
SecureServing: TypeAlias = Annotated[
    bool | None,
    _opt(
        "--secure-serving/--no-secure-serving",
        panel=_TLS,
        show_default=False,
        help="ext_proc over TLS (default: on with --pool-name, off with --pool-file).",
    ),
]
CertPath: TypeAlias = Annotated[
    Path | None, _opt("--cert-path", panel=_TLS, help="Directory with tls.crt and tls.key.")
]
EnableCertReload: TypeAlias = Annotated[
    bool, _opt("--enable-cert-reload/--no-enable-cert-reload", panel=_TLS, help="Reload certs.")
]
AllowPlaintext: TypeAlias = Annotated[
    bool,
    _opt(
        "--insecure-allow-plaintext/--no-insecure-allow-plaintext",
        panel=_TLS,
        help="Allow plaintext ext_proc on a non-loopback address with --pool-file.",
    ),
]
LeaderElection: TypeAlias = Annotated[
    bool,
    _opt(
        "--ha-enable-leader-election/--no-ha-enable-leader-election",
        help="Only the holder of a coordination.k8s.io Lease reports ready.",
    ),
]
RefreshMetricsInterval: TypeAlias = Annotated[
    float | None,
    _opt(
        "--refresh-metrics-interval",
        panel=_SCRAPE,
        parser=duration_option,
        metavar="DURATION",
        help="Scrape interval per pod (default 50ms).",
    ),
]
StalenessThreshold: TypeAlias = Annotated[
    float | None,
    _opt(
        "--metrics-staleness-threshold",
        panel=_SCRAPE,
        parser=duration_option,
        metavar="DURATION",
        help="Pool gauges count pods scraped this recently (default 2s).",
    ),
]
MsPort: TypeAlias = Annotated[
    int, _opt("--model-server-metrics-port", panel=_SCRAPE, help="0: the target port.")
]
MsPath: TypeAlias = Annotated[
    str | None, _opt("--model-server-metrics-path", panel=_SCRAPE, help="(default /metrics)")
]
MsScheme: TypeAlias = Annotated[
    str | None, _opt("--model-server-metrics-scheme", panel=_SCRAPE, help="http or https.")
]
MsInsecure: TypeAlias = Annotated[
    bool | None,
    _opt(
        "--model-server-metrics-https-insecure-skip-verify/"
        "--no-model-server-metrics-https-insecure-skip-verify",
        panel=_SCRAPE,
        show_default=False,
        help="Do not verify https model servers (default true).",
    ),
]


def _metric(flag: str) -> Any:
    return _opt(flag, panel=_SCRAPE, help="A metric spec for the default engine ('' disables).")


QueuedMetric: TypeAlias = Annotated[str | None, _metric("--total-queued-requests-metric")]
RunningMetric: TypeAlias = Annotated[str | None, _metric("--total-running-requests-metric")]
KvMetric: TypeAlias = Annotated[str | None, _metric("--kv-cache-usage-percentage-metric")]
LoraMetric: TypeAlias = Annotated[str | None, _metric("--lora-info-metric")]
CacheInfoMetric: TypeAlias = Annotated[str | None, _metric("--cache-info-metric")]
DisableSubsetFilter: TypeAlias = Annotated[
    bool,
    _opt(
        "--disable-endpoint-subset-filter/--no-disable-endpoint-subset-filter",
        help="Ignore x-gateway-destination-endpoint-subset.",
    ),
]
MaxBodyBytes: TypeAlias = Annotated[
    int, _opt("--max-body-bytes", help="Largest request body (413 above).")
]
Transport: TypeAlias = TransportOption
InlineSmallBodies: TypeAlias = Annotated[
    bool,
    _opt(
        "--inline-small-bodies",
        help="Send small bodies inside the header answer (needs Envoy >= 1.40).",
    ),
]
Verbosity: TypeAlias = Annotated[
    int | None, _opt("--v", "-v", panel=_LOG, help="Upstream verbosity: 4 or more is debug.")
]
ZapEncoder: TypeAlias = Annotated[
    str | None, _opt("--zap-encoder", panel=_LOG, help="json: one JSON object per line.")
]
ZapLogLevel: TypeAlias = Annotated[
    str | None, _opt("--zap-log-level", panel=_LOG, help="debug, info, error or a number.")
]
LogLevel: TypeAlias = Annotated[
    str | None, _opt("--log-level", panel=_LOG, help="Log level (default info).")
]
Tracing: TypeAlias = Annotated[
    bool, _opt("--tracing/--no-tracing", panel=_LOG, help="Export traces (needs an endpoint).")
]
TracingEndpoint: TypeAlias = TracingEndpointOption


def _ignored(flag: str, *, boolean: bool = False) -> Any:
    names = f"{flag}/--no-{flag[2:]}" if boolean else flag
    return _opt(names, panel=_IGNORED, show_default=False, hidden=False)


EnablePprof: TypeAlias = Annotated[bool | None, _ignored("--enable-pprof", boolean=True)]
HealthChecking: TypeAlias = Annotated[bool | None, _ignored("--health-checking", boolean=True)]
MetricsEndpointAuth: TypeAlias = Annotated[
    bool | None, _ignored("--metrics-endpoint-auth", boolean=True)
]
RefreshPromInterval: TypeAlias = Annotated[
    str | None, _ignored("--refresh-prometheus-metrics-interval")
]
ZapDevel: TypeAlias = Annotated[bool | None, _ignored("--zap-devel", boolean=True)]
ZapStacktraceLevel: TypeAlias = Annotated[str | None, _ignored("--zap-stacktrace-level")]
ZapTimeEncoding: TypeAlias = Annotated[str | None, _ignored("--zap-time-encoding")]
