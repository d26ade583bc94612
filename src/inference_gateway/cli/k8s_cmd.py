"""``inference-gateway bbr``: the body-based router alone, as upstream's chart deploys it.

It lifts the body's ``model`` into ``X-Gateway-Model-Name`` so a gateway's route table can
pick a pool per model (HTTPRoute header matches in Kubernetes, the generated Envoy routes in
standalone mode). Ports follow upstream's chart: ext_proc on 9004, gRPC health on 9005.
SIGINT/SIGTERM turn health NOT_SERVING, give open streams a second, and exit 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Annotated

import typer
from rich.console import Console

from inference_gateway.bbr import BbrServer
from inference_gateway.observability.logging import setup_logging

log = logging.getLogger(__name__)


def bbr(
    host: Annotated[str, typer.Option(help="Address for the gRPC ports.")] = "0.0.0.0",
    grpc_port: Annotated[int, typer.Option(help="ext_proc port.")] = 9004,
    grpc_health_port: Annotated[int, typer.Option(help="gRPC health port.")] = 9005,
    streaming: Annotated[
        bool,
        typer.Option(
            "--streaming/--buffered",
            help="Envoy sends the request body FULL_DUPLEX_STREAMED (--streaming) or "
            "BUFFERED; must match the proxy's processing mode.",
        ),
    ] = True,
    log_level: Annotated[str, typer.Option(help="Log level.")] = "info",
) -> None:
    """Run the body-based router (sets X-Gateway-Model-Name from the body's model)."""
    setup_logging(log_level)
    try:
        code = asyncio.run(_serve(host, grpc_port, grpc_health_port, streaming=streaming))
    except OSError as e:
        Console(stderr=True, highlight=False).print(f"[red]cannot start:[/] {e}")
        code = 1
    raise typer.Exit(code)


async def _serve(host: str, port: int, health_port: int, *, streaming: bool) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        async with BbrServer(host, port, streaming=streaming, health_port=health_port) as server:
            log.info(
                "BBR ready: ext_proc %s:%d, health %s:%s",
                host,
                server.port,
                host,
                server.health_port,
            )
            await stop.wait()
            log.info("BBR stopping")
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
    return 0


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add this module's commands to ``app`` (and benchmarks to ``bench``)."""
    app.command("bbr")(bbr)
