"""Gateway commands: ``run``, ``epp``, ``envoy-config`` and ``bench overhead``.

Each command maps its options onto the settings models of ``extproc`` and
``envoy.bootstrap`` (the single source of defaults) and runs the async composition under
uvloop when it is installed. SIGINT/SIGTERM set a stop event; shutdown is Envoy first,
then the EPP, each waiting for its own tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
import typer
import yaml
from kubernetes_asyncio.config import ConfigException as KubeConfigError
from rich.console import Console
from rich.panel import Panel

from inference_gateway.api import ObjectError
from inference_gateway.bbr import BbrServer
from inference_gateway.bench.overhead import OverheadSettings, format_report, run_overhead
from inference_gateway.envoy.bootstrap import EDS_FILE_NAME, EnvoySettings, build_bootstrap
from inference_gateway.envoy.endpoints_file import EndpointsFile
from inference_gateway.envoy.process import EnvoyError
from inference_gateway.extproc import (
    GA_GROUP,
    BbrRouting,
    Epp,
    EppSettings,
    Gateway,
    GatewaySettings,
    KubernetesSourceSettings,
    bench_gateway,
)
from inference_gateway.extproc.server import ExtProcSettings
from inference_gateway.extproc.tls import CertError, TlsSettings
from inference_gateway.observability.logging import setup_logging
from inference_gateway.observability.tracing import setup_tracing, shutdown_tracing
from inference_gateway.requestcontrol import DirectorSettings
from inference_gateway.scheduling.config import ConfigError
from inference_gateway.sources.file import load_file

log = logging.getLogger(__name__)

FailureMode = Literal["FailOpen", "FailClose"]
Transport = Literal["grpclib", "grpcio"]
_CONFIG_HELP = "Multi-document YAML: InferencePool, InferenceModel and v1/Pod objects."
_SOURCE = "Pool source (exactly one of --config-file, --pool-name)"
_TLS = "ext_proc TLS"


def _run(main: Coroutine[Any, Any, int]) -> int:
    """Run under uvloop if installed; a start-up failure is one red line, not a traceback."""
    try:
        try:
            import uvloop
        except ImportError:
            return asyncio.run(main)
        return uvloop.run(main)
    except (ObjectError, ConfigError, CertError, KubeConfigError, FileNotFoundError) as e:
        Console(stderr=True, highlight=False).print(f"[red]configuration error:[/] {e}")
        return 2
    except (EnvoyError, OSError) as e:
        Console(stderr=True, highlight=False).print(f"[red]cannot start:[/] {e}")
        return 1


def _traced(endpoint: str | None, main: Coroutine[Any, Any, int]) -> int:
    """``_run`` with OpenTelemetry tracing on while it runs (a no-op without an endpoint)."""
    setup_tracing(endpoint)
    try:
        return _run(main)
    finally:
        shutdown_tracing()


@contextlib.contextmanager
def _stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        yield
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


# --- run ---------------------------------------------------------------------------------
def run(
    config: Annotated[Path, typer.Option("-f", "--config", exists=True, help=_CONFIG_HELP)],
    port: Annotated[int, typer.Option(help="Client listener port (Envoy).")] = 8081,
    host: Annotated[str, typer.Option(help="Client listener address.")] = "127.0.0.1",
    admin_port: Annotated[int, typer.Option(help="Envoy admin port (0: any).")] = 19000,
    grpc_port: Annotated[int, typer.Option(help="EPP ext_proc port on loopback.")] = 9002,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve EPP /metrics on this port.")
    ] = 9090,
    plugins_config: Annotated[
        str | None,
        typer.Option(
            help="EndpointPickerConfig file or built-in name (default: the config file's own "
            "EndpointPickerConfig document, else 'default')."
        ),
    ] = None,
    failure_mode: Annotated[
        FailureMode | None, typer.Option(help="Override the pools' failureMode.")
    ] = None,
    concurrency: Annotated[int, typer.Option(help="Envoy worker threads.")] = 1,
    max_request_headers_kb: Annotated[
        int, typer.Option(help="Largest request header block, KiB (431 above).")
    ] = 60,
    transport: Annotated[
        Transport, typer.Option(help="gRPC server for ext_proc (grpclib: less CPU).")
    ] = "grpclib",
    log_level: Annotated[str, typer.Option(help="EPP log level.")] = "info",
    tracing_endpoint: Annotated[
        str | None,
        typer.Option(
            envvar="OTEL_EXPORTER_OTLP_ENDPOINT",
            help="OTLP endpoint for OpenTelemetry traces (off when unset).",
        ),
    ] = None,
    envoy_log_level: Annotated[str, typer.Option(help="Envoy log level.")] = "warning",
    bbr: Annotated[
        bool,
        typer.Option(
            help="Body-based routing: BBR sets x-gateway-model-name and Envoy's routes pick "
            "the pool per model."
        ),
    ] = False,
    bbr_body: Annotated[
        Literal["streaming", "buffered"],
        typer.Option(help="Request body mode towards BBR (buffered: bodies over 32 KiB get 413)."),
    ] = "streaming",
) -> None:
    """Run the standalone gateway (EPP in-process + Envoy) until Ctrl-C."""
    setup_logging(log_level)
    settings = GatewaySettings(
        epp=EppSettings(
            config_file=config,
            grpc=ExtProcSettings(port=grpc_port, transport=transport),
            plugins_config=plugins_config,
            metrics_port=metrics_port,
        ),
        envoy=EnvoySettings(
            host=host,
            port=port,
            admin_port=admin_port,
            concurrency=concurrency,
            log_level=envoy_log_level,
            max_request_headers_kb=max_request_headers_kb,
        ),
        failure_mode=failure_mode,
        bbr=BbrRouting(streaming=bbr_body == "streaming") if bbr else None,
    )
    bbr_server = BbrServer("127.0.0.1", 0, streaming=bbr_body == "streaming") if bbr else None
    raise typer.Exit(_traced(tracing_endpoint, _serve_gateway(settings, bbr_server)))


async def _serve_gateway(settings: GatewaySettings, bbr_server: BbrServer | None = None) -> int:
    stop = asyncio.Event()
    with _stop_on_signals(stop):
        async with Gateway(settings, bbr_server=bbr_server) as gw:
            assert gw.envoy is not None
            _announce(gw)
            stopping = asyncio.create_task(stop.wait(), name="stop-signal")
            died = asyncio.create_task(gw.envoy.exited.wait(), name="envoy-exit")
            await asyncio.wait({stopping, died}, return_when=asyncio.FIRST_COMPLETED)
            for task in (stopping, died):
                task.cancel()
            await asyncio.gather(stopping, died, return_exceptions=True)
            if gw.envoy.exited.is_set():
                tail = "\n".join(gw.envoy.tail())
                Console(stderr=True).print(f"[red]Envoy exited ({gw.envoy.returncode}):[/]")
                Console(stderr=True, highlight=False).print(tail)
                return 1
    return 0


def _announce(gw: Gateway) -> None:
    ds = gw.datastore
    models = ", ".join(sorted(m.model_name for m in ds.models())) or "(none)"
    metrics = f"http://127.0.0.1:{gw.epp.metrics_port}/metrics" if gw.epp.metrics_port else "off"
    admin = gw.envoy.admin_url if gw.envoy else ""
    lines = [
        "Send OpenAI requests to",
        f"  [bold]{gw.url}/v1/chat/completions[/]",
        f"  [bold]{gw.url}/v1/completions[/]",
        f"pools: {len(ds.pools())}   endpoints: {len(ds.all_endpoints())}",
        f"models: {models}",
        f"EPP metrics: {metrics}",
        f"Envoy admin: {admin}",
        "Ctrl-C stops Envoy and the EPP.",
    ]
    Console(stderr=True).print(Panel("\n".join(lines), title="inference-gateway"))


# --- epp ---------------------------------------------------------------------------------
def epp(
    config_file: Annotated[
        Path | None,
        typer.Option("--config-file", exists=True, help=_CONFIG_HELP, rich_help_panel=_SOURCE),
    ] = None,
    pool_name: Annotated[
        str | None,
        typer.Option(
            help="Kubernetes mode: the InferencePool to serve (instead of a file).",
            rich_help_panel=_SOURCE,
        ),
    ] = None,
    pool_namespace: Annotated[
        str, typer.Option(envvar="NAMESPACE", help="The pool's namespace.", rich_help_panel=_SOURCE)
    ] = "default",
    pool_group: Annotated[
        str,
        typer.Option(
            help="inference.networking.k8s.io (v1) or inference.networking.x-k8s.io.",
            rich_help_panel=_SOURCE,
        ),
    ] = GA_GROUP,
    kubeconfig: Annotated[
        str | None,
        typer.Option(
            help="Kubeconfig file (default: in-cluster, then ~/.kube/config).",
            rich_help_panel=_SOURCE,
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Address for the gRPC ports.")] = "0.0.0.0",
    grpc_port: Annotated[int, typer.Option(help="ext_proc port.")] = 9002,
    grpc_health_port: Annotated[int, typer.Option(help="gRPC health port.")] = 9003,
    metrics_port: Annotated[int, typer.Option(help="/metrics port.")] = 9090,
    metrics_host: Annotated[str, typer.Option(help="/metrics address.")] = "0.0.0.0",
    plugins_config: Annotated[
        str | None,
        typer.Option(
            help="EndpointPickerConfig file or built-in name (default: the config file's own "
            "EndpointPickerConfig document, else 'default')."
        ),
    ] = None,
    max_body_bytes: Annotated[
        int, typer.Option(help="Largest request body (413 above).")
    ] = DirectorSettings().max_body_bytes,
    transport: Annotated[
        Transport, typer.Option(help="gRPC server for ext_proc (grpclib: less CPU).")
    ] = "grpclib",
    inline_small_bodies: Annotated[
        bool,
        typer.Option(
            "--inline-small-bodies",
            help="Send small bodies inside the header answer (needs Envoy >= 1.40; "
            "one gRPC message fewer per request).",
        ),
    ] = False,
    secure_serving: Annotated[
        bool | None,
        typer.Option(
            "--secure-serving/--no-secure-serving",
            show_default=False,
            help="ext_proc over TLS (default: on with --pool-name, off with --config-file).",
            rich_help_panel=_TLS,
        ),
    ] = None,
    cert_path: Annotated[
        Path | None,
        typer.Option(
            help="Directory with tls.crt and tls.key (default: self-signed at start).",
            rich_help_panel=_TLS,
        ),
    ] = None,
    enable_cert_reload: Annotated[
        bool,
        typer.Option(
            "--enable-cert-reload",
            help="Serve changed files under --cert-path to new connections.",
            rich_help_panel=_TLS,
        ),
    ] = False,
    insecure_allow_plaintext: Annotated[
        bool,
        typer.Option(
            "--insecure-allow-plaintext",
            help="Allow plaintext ext_proc on a non-loopback address with --config-file.",
            rich_help_panel=_SOURCE,
        ),
    ] = False,
    log_level: Annotated[str, typer.Option(help="Log level.")] = "info",
    tracing_endpoint: Annotated[
        str | None,
        typer.Option(
            envvar="OTEL_EXPORTER_OTLP_ENDPOINT",
            help="OTLP endpoint for OpenTelemetry traces (off when unset).",
        ),
    ] = None,
) -> None:
    """Run the endpoint picker alone, behind an Envoy you run yourself.

    The pool comes from a file (--config-file) or from the Kubernetes API (--pool-name).
    """
    setup_logging(log_level)
    if (config_file is None) == (pool_name is None):
        raise typer.BadParameter(
            "give exactly one of --config-file (standalone) and --pool-name (Kubernetes)",
            param_hint="--config-file / --pool-name",
        )
    kubernetes = None
    if pool_name is not None:
        kubernetes = _kubernetes(pool_name, pool_namespace, pool_group, kubeconfig)
    tls = _tls(
        kubernetes is not None if secure_serving is None else secure_serving,
        cert_path,
        enable_cert_reload,
    )
    try:
        settings = EppSettings(
            config_file=config_file,
            kubernetes=kubernetes,
            allow_plaintext=insecure_allow_plaintext,
            grpc=ExtProcSettings(
                host=host,
                port=grpc_port,
                health_port=grpc_health_port,
                transport=transport,
                inline_small_bodies=inline_small_bodies,
                tls=tls,
            ),
            plugins_config=plugins_config,
            director=DirectorSettings(max_body_bytes=max_body_bytes),
            metrics_host=metrics_host,
            metrics_port=metrics_port,
        )
    except pydantic.ValidationError as e:
        raise typer.BadParameter(_first_message(e)) from None
    raise typer.Exit(_traced(tracing_endpoint, _serve_epp(settings)))


def _kubernetes(
    name: str, namespace: str, group: str, kubeconfig: str | None
) -> KubernetesSourceSettings:
    try:
        return KubernetesSourceSettings.model_validate(
            {
                "pool_name": name,
                "pool_namespace": namespace,
                "pool_group": group,
                "kubeconfig": kubeconfig,
            }
        )
    except pydantic.ValidationError as e:
        raise typer.BadParameter(_first_message(e), param_hint="--pool-group") from None


def _tls(secure: bool, cert_path: Path | None, reload: bool) -> TlsSettings | None:
    if not secure:
        if cert_path is not None or reload:
            raise typer.BadParameter(
                "--cert-path and --enable-cert-reload need --secure-serving",
                param_hint="--cert-path",
            )
        return None
    if reload and cert_path is None:
        raise typer.BadParameter(
            "--enable-cert-reload watches --cert-path; give it", param_hint="--enable-cert-reload"
        )
    return TlsSettings(cert_path=cert_path, reload=reload)


def _first_message(error: pydantic.ValidationError) -> str:
    first = error.errors()[0]
    return str(first["msg"]).removeprefix("Value error, ")


async def _serve_epp(settings: EppSettings) -> int:
    stop = asyncio.Event()
    with _stop_on_signals(stop):
        async with Epp(settings) as running:
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


# --- envoy-config ------------------------------------------------------------------------
def envoy_config(
    config: Annotated[Path, typer.Option("-f", "--config", exists=True, help=_CONFIG_HELP)],
    port: Annotated[int, typer.Option(help="Client listener port.")] = 8081,
    host: Annotated[str, typer.Option(help="Client listener address.")] = "127.0.0.1",
    admin_port: Annotated[int, typer.Option(help="Envoy admin port.")] = 19000,
    epp_host: Annotated[str, typer.Option(help="Where the EPP listens.")] = "127.0.0.1",
    epp_port: Annotated[int, typer.Option(help="EPP ext_proc port.")] = 9002,
    eds_dir: Annotated[
        Path,
        typer.Option(
            help="Directory of the fallback EDS file (FailOpen); an empty one is created "
            "there if missing, since Envoy refuses to start without it."
        ),
    ] = Path("envoy-eds"),
    output: Annotated[str, typer.Option("--format", help="yaml or json.")] = "yaml",
) -> None:
    """Print the Envoy bootstrap that ``run`` would use."""
    state = load_file(config)
    failure: FailureMode = (
        "FailOpen" if any(p.failure_mode == "FailOpen" for p in state.pools) else "FailClose"
    )
    settings = EnvoySettings(
        host=host,
        port=port,
        admin_port=admin_port,
        epp_host=epp_host,
        epp_port=epp_port,
        failure_mode=failure,
    )
    bootstrap = build_bootstrap(settings, eds_dir=eds_dir.absolute())
    eds_dir.mkdir(parents=True, exist_ok=True)
    if not (eds_dir / EDS_FILE_NAME).exists():
        EndpointsFile(eds_dir).write([])
    if output == "json":
        typer.echo(json.dumps(bootstrap, indent=2))
    else:
        typer.echo(yaml.safe_dump(bootstrap, sort_keys=False), nl=False)


# --- bench overhead ----------------------------------------------------------------------
def overhead(
    duration: Annotated[float, typer.Option(help="Seconds per load step.")] = 3.0,
    concurrency: Annotated[
        str, typer.Option(help="Comma-separated closed-loop concurrency sweep.")
    ] = "1,8,32",
    envoy_concurrency: Annotated[int, typer.Option(help="Envoy worker threads.")] = 1,
    output: Annotated[Path | None, typer.Option("--json", help="Also write JSON here.")] = None,
    log_level: Annotated[str, typer.Option(help="Log level.")] = "warning",
) -> None:
    """What the EPP adds through real Envoy on loopback: latency, throughput, big prompts, SSE."""
    setup_logging(log_level)
    levels = tuple(int(c) for c in concurrency.split(",") if c.strip())
    settings = OverheadSettings(
        duration=duration, concurrency=levels, envoy_concurrency=envoy_concurrency
    )
    report = _run_value(run_overhead(settings, gateway=bench_gateway))
    typer.echo(format_report(report))
    if output is not None:
        output.write_text(json.dumps(report, indent=2))


def _run_value(main: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add this module's commands to ``app`` (and benchmarks to ``bench``)."""
    app.command("run")(run)
    app.command("epp")(epp)
    app.command("envoy-config")(envoy_config)
    bench.command("overhead")(overhead)
