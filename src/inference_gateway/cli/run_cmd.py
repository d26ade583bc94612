"""Standalone gateway commands: ``run`` and ``envoy-config``.

``run`` maps its options onto the settings models of ``extproc`` and ``envoy.bootstrap``
(the single source of defaults); shutdown is Envoy first, then the EPP, each waiting for
its own tasks. ``envoy-config`` prints the bootstrap ``run`` would hand to Envoy.
"""

from __future__ import annotations

import asyncio
import functools
import json
from pathlib import Path
from typing import Annotated, Literal

import typer
import yaml
from rich.console import Console
from rich.panel import Panel

from inference_gateway.api._common import FailureMode
from inference_gateway.app import BbrRouting, EppSettings, Gateway, GatewaySettings
from inference_gateway.bbr import BbrServer
from inference_gateway.cli._common import (
    CONFIG_HELP,
    PluginsConfigOption,
    TracingEndpointOption,
    TransportOption,
    run_traced,
    stop_on_signals,
)
from inference_gateway.cli._epp_options import RefreshMetricsInterval, StalenessThreshold
from inference_gateway.cli._epp_settings import durations
from inference_gateway.envoy.bootstrap import EDS_FILE_NAME, EnvoySettings, build_bootstrap
from inference_gateway.envoy.endpoints_file import EndpointsFile
from inference_gateway.extproc.server import ExtProcSettings
from inference_gateway.observability.logging import setup_logging
from inference_gateway.observability.tracing import Tracer
from inference_gateway.sources.file import load_file


def run(
    config: Annotated[Path, typer.Option("-f", "--config", exists=True, help=CONFIG_HELP)],
    port: Annotated[int, typer.Option(help="Client listener port (Envoy).")] = 8081,
    host: Annotated[str, typer.Option(help="Client listener address.")] = "127.0.0.1",
    admin_port: Annotated[int, typer.Option(help="Envoy admin port (0: any).")] = 19000,
    grpc_port: Annotated[int, typer.Option(help="EPP ext_proc port on loopback.")] = 9002,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve EPP /metrics on this port.")
    ] = 9090,
    plugins_config: PluginsConfigOption = None,
    failure_mode: Annotated[
        FailureMode | None, typer.Option(help="Override the pools' failureMode.")
    ] = None,
    concurrency: Annotated[int, typer.Option(help="Envoy worker threads.")] = 1,
    max_request_headers_kb: Annotated[
        int, typer.Option(help="Largest request header block, KiB (431 above).")
    ] = 60,
    transport: TransportOption = "inline",
    log_level: Annotated[str, typer.Option(help="EPP log level.")] = "info",
    tracing_endpoint: TracingEndpointOption = None,
    envoy_log_level: Annotated[str, typer.Option(help="Envoy log level.")] = "warning",
    refresh_metrics_interval: RefreshMetricsInterval = None,
    metrics_staleness_threshold: StalenessThreshold = None,
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
            pool_file=config,
            grpc=ExtProcSettings(port=grpc_port, transport=transport),
            plugins_config=plugins_config,
            metrics_port=metrics_port,
            **durations(refresh_metrics_interval, metrics_staleness_threshold),
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
    raise typer.Exit(
        run_traced(tracing_endpoint, functools.partial(_serve_gateway, settings, bbr_server))
    )


async def _serve_gateway(
    settings: GatewaySettings, bbr_server: BbrServer | None, tracer: Tracer
) -> int:
    stop = asyncio.Event()
    with stop_on_signals(stop):
        async with Gateway(settings, bbr_server=bbr_server, tracer=tracer) as gw:
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


def envoy_config(
    config: Annotated[Path, typer.Option("-f", "--config", exists=True, help=CONFIG_HELP)],
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


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add this module's commands to ``app`` (it has no benchmarks)."""
    app.command("run")(run)
    app.command("envoy-config")(envoy_config)
