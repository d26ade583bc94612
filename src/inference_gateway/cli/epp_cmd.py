"""The ``epp`` command: the endpoint picker alone, behind an Envoy someone else runs.

Options map onto ``EppSettings`` (the single source of defaults). The pool comes from a
file or from the Kubernetes API; validation errors become one ``BadParameter`` line.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated

import pydantic
import typer

from inference_gateway._heap import freeze_long_lived
from inference_gateway.cli._common import (
    CONFIG_HELP,
    PluginsConfigOption,
    TracingEndpointOption,
    TransportOption,
    run_traced,
    stop_on_signals,
)
from inference_gateway.extproc import GA_GROUP, Epp, EppSettings, KubernetesSourceSettings
from inference_gateway.extproc.server import ExtProcSettings
from inference_gateway.extproc.tls import TlsSettings
from inference_gateway.observability.logging import setup_logging
from inference_gateway.requestcontrol import DirectorSettings

log = logging.getLogger(__name__)

_SOURCE = "Pool source (exactly one of --config-file, --pool-name)"
_TLS = "ext_proc TLS"


def epp(
    config_file: Annotated[
        Path | None,
        typer.Option("--config-file", exists=True, help=CONFIG_HELP, rich_help_panel=_SOURCE),
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
    plugins_config: PluginsConfigOption = None,
    max_body_bytes: Annotated[
        int, typer.Option(help="Largest request body (413 above).")
    ] = DirectorSettings().max_body_bytes,
    transport: TransportOption = "inline",
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
    tracing_endpoint: TracingEndpointOption = None,
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
    raise typer.Exit(run_traced(tracing_endpoint, _serve_epp(settings)))


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
    with stop_on_signals(stop):
        freeze_long_lived()  # imports and settings, before a file source loads its pool
        async with Epp(settings) as running:
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
    app.command("epp")(epp)
