"""What ``run`` and ``epp`` share: the event-loop runner, signal handling and options.

The option aliases keep the flags both commands accept identical (name, default, help);
flags whose help or default differ between the commands stay in their own module.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Coroutine, Iterator
from typing import Annotated, Any, TypeAlias, TypeVar

import typer
from kubernetes_asyncio.config import ConfigException as KubeConfigError
from rich.console import Console

from inference_gateway.api import ObjectError
from inference_gateway.envoy.process import EnvoyError
from inference_gateway.extproc.server import Transport
from inference_gateway.extproc.tls import CertError
from inference_gateway.observability.tracing import Tracer, setup_tracing
from inference_gateway.scheduling.config import ConfigError

T = TypeVar("T")

CONFIG_HELP = "Multi-document YAML: InferencePool, InferenceModel and v1/Pod objects."

PluginsConfigOption: TypeAlias = Annotated[
    str | None,
    typer.Option(
        help="EndpointPickerConfig file or built-in name (default: the config file's own "
        "EndpointPickerConfig document, else 'default')."
    ),
]
TransportOption: TypeAlias = Annotated[
    Transport,
    typer.Option(help="gRPC server for ext_proc (inline: least CPU; grpcio: the reference)."),
]
TracingEndpointOption: TypeAlias = Annotated[
    str | None,
    typer.Option(
        envvar="OTEL_EXPORTER_OTLP_ENDPOINT",
        help="OTLP endpoint for OpenTelemetry traces (off when unset).",
    ),
]


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` under uvloop when it is installed (less CPU per request), else asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def run_main(main: Coroutine[Any, Any, int]) -> int:
    """``run_loop``, but a start-up failure is one red line and an exit code, not a traceback."""
    try:
        return run_loop(main)
    except (ObjectError, ConfigError, CertError, KubeConfigError, FileNotFoundError) as e:
        Console(stderr=True, highlight=False).print(f"[red]configuration error:[/] {e}")
        return 2
    except (EnvoyError, OSError) as e:
        Console(stderr=True, highlight=False).print(f"[red]cannot start:[/] {e}")
        return 1


def run_traced(endpoint: str | None, main: Callable[[Tracer], Coroutine[Any, Any, int]]) -> int:
    """``run_main(main(tracer))`` with a tracer that exports while it runs (a no-op without
    an endpoint or the environment's), flushed at exit."""
    tracer = setup_tracing(endpoint)
    try:
        return run_main(main(tracer))
    finally:
        tracer.shutdown()


@contextlib.contextmanager
def stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop`` so shutdown runs the normal ``async with`` exits."""
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        yield
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
