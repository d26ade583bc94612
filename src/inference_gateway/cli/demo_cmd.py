"""``inference-gateway demo``: what ``make demo`` runs.

The command owns the process edges: logging kept quiet so the live view stays readable,
SIGINT/SIGTERM turned into a stop event (everything started is stopped by the context
managers of ``demo``, Envoy included), a clear message and exit 1 when something could
not start, 130 when interrupted, 0 otherwise.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from inference_gateway.demo import DemoSettings, DemoStartError, reading, run_demo, summary_table
from inference_gateway.demo.settings import Policy
from inference_gateway.demo.world import MODELS
from inference_gateway.envoy.process import EnvoyError
from inference_gateway.observability.logging import setup_logging

_DEFAULTS = DemoSettings()


def demo(
    seconds: Annotated[
        float, typer.Option(help="Seconds of traffic per policy.")
    ] = _DEFAULTS.seconds,
    rate: Annotated[
        float, typer.Option(help="Mean requests/s (doubled during the burst).")
    ] = _DEFAULTS.rate,
    seed: Annotated[int, typer.Option(help="Seed of the request schedule.")] = _DEFAULTS.seed,
    policy: Annotated[
        Policy, typer.Option(help="Scheduling config of the endpoint picker's run.")
    ] = _DEFAULTS.policy,
    compare: Annotated[
        bool, typer.Option(help="Replay the same requests with round-robin.")
    ] = _DEFAULTS.compare,
    plain: Annotated[
        bool, typer.Option(help="No live view; a progress line every 5 s.")
    ] = _DEFAULTS.plain,
    output: Annotated[
        Path | None, typer.Option("--json", help="Also write the summaries as JSON here.")
    ] = None,
    log_level: Annotated[str, typer.Option(help="Log level of the EPP.")] = "error",
) -> None:
    """Simulated pods + EPP + Envoy, a short mixed workload, a summary against round-robin."""
    setup_logging(log_level)
    logging.getLogger("asyncio").addFilter(_orphaned_handlers)
    settings = DemoSettings(
        seconds=seconds, rate=rate, seed=seed, policy=policy, compare=compare, plain=plain
    )
    console = Console(force_terminal=None if not plain else False, highlight=False)
    _intro(console, settings)
    try:
        summaries, interrupted = _run(settings, console)
    except (DemoStartError, EnvoyError) as e:
        Console(stderr=True, highlight=False).print(f"[red bold]demo could not run:[/] {e}")
        raise typer.Exit(1) from None
    if summaries:
        console.print()
        console.print(summary_table(summaries))
        console.print()
        console.print(reading(summaries))
        if output is not None:
            output.write_text(json.dumps(summaries, indent=2))
    if interrupted:
        console.print("[yellow]interrupted; everything started has been stopped[/]")
        raise typer.Exit(130)


def _orphaned_handlers(record: logging.LogRecord) -> bool:
    """Drop asyncio's report of simulator handlers left behind by clients that gave up.

    A simulated pod keeps serving a request whose client disconnected (as vLLM without
    abort-on-disconnect would); when the demo stops the pods such handlers are still
    waiting on their engine, and asyncio reports each one at garbage collection. They are
    expected at the end of an overloaded run and say nothing the summary does not.
    """
    return not str(record.msg).startswith("Task was destroyed but it is pending")


def _intro(console: Console, settings: DemoSettings) -> None:
    policies = (
        "the endpoint picker, then round-robin" if settings.compare else "the endpoint picker"
    )
    models = ", ".join(f"{m.name} ({m.criticality})" for m in MODELS)
    console.print(
        f"[bold]inference-gateway demo[/]: 4 simulated pods on 127.0.0.11-14 (pod-4 is slow), "
        f"EPP + Envoy, ~{settings.rate:g} req/s for {settings.seconds:g} s with a burst, "
        f"under {policies}.\nmodels: {models}"
    )


def _run(settings: DemoSettings, console: Console) -> tuple[list[dict[str, Any]], bool]:
    async def main() -> tuple[list[dict[str, Any]], bool]:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        signals = (signal.SIGINT, signal.SIGTERM)
        for sig in signals:
            loop.add_signal_handler(sig, stop.set)
        try:
            with tempfile.TemporaryDirectory(prefix="igw-demo-") as tmp:
                summaries = await run_demo(settings, console=console, stop=stop, workdir=Path(tmp))
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)
        return summaries, stop.is_set()

    try:
        import uvloop
    except ImportError:
        return asyncio.run(main())
    return uvloop.run(main())


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add this module's commands to ``app`` (and benchmarks to ``bench``)."""
    app.command("demo")(demo)
