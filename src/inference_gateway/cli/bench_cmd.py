"""Benchmark commands under ``inference-gateway bench``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from inference_gateway.app import bench_gateway
from inference_gateway.bench.cache_bench import (
    CacheBenchSettings,
    format_cache_report,
    run_cache_bench,
)
from inference_gateway.bench.overhead import OverheadSettings, format_report, run_overhead
from inference_gateway.bench.pick_speed import run as run_pick_speed
from inference_gateway.bench.pool_load import GOAL_STALL_MS, WARM_BLOCKS, run_pool_load
from inference_gateway.bench.request_cost import run as run_request_cost
from inference_gateway.bench.scrape_speed import print_report as print_scrape_report
from inference_gateway.bench.scrape_speed import run_scrape_bench
from inference_gateway.bench.soak import run_soak
from inference_gateway.bench.soak_report import print_report as print_soak_report
from inference_gateway.bench.soak_report import write_json, write_plot
from inference_gateway.cli._common import run_loop
from inference_gateway.observability.logging import setup_logging
from inference_gateway.scheduling.config import ConfigError


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
    report = run_loop(run_overhead(settings, gateway=bench_gateway))
    typer.echo(format_report(report))
    if output is not None:
        output.write_text(json.dumps(report, indent=2))


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add this module's commands to ``app`` (and benchmarks to ``bench``)."""
    bench.command("overhead")(overhead)

    @bench.command("pick")
    def pick(
        config: Annotated[
            list[str] | None,
            typer.Option("--config", "-c", help="Built-in config name or path (repeatable)."),
        ] = None,
        sizes: Annotated[
            str, typer.Option(help="Comma-separated endpoint counts.")
        ] = "10,100,1000",
        seconds: Annotated[float, typer.Option(help="Wall time per cell.")] = 1.0,
        seed: Annotated[int, typer.Option(help="Seed for metrics, requests and RNG.")] = 0,
        observe: Annotated[
            bool,
            typer.Option(
                help="Follow each pick with a response report to the learning plugins, as "
                "live traffic does (--no-observe: a frozen model, flattering its caches)."
            ),
        ] = True,
    ) -> None:
        """Scheduling decisions per second of the pure core, on one core."""
        counts = [int(s) for s in sizes.split(",") if s.strip()]
        configs = config or ["default", "scorer-mix"]
        try:
            results = run_pick_speed(configs, counts, seed=seed, seconds=seconds, observe=observe)
        except ConfigError as e:
            raise typer.BadParameter(str(e), param_hint="--config") from None
        mode = "one response report per pick" if observe else "no response reports"
        table = Table(
            title=f"bench pick: decisions per CPU-second (one core), best of 5 rounds, {mode}"
        )
        for column in ("config", "endpoints", "picks/s", "us/pick", "picks", "shed"):
            table.add_column(column, justify="left" if column == "config" else "right")
        for r in results:
            table.add_row(
                r.config,
                str(r.endpoints),
                f"{r.per_second:,.0f}",
                f"{r.micros_per_pick:.1f}",
                str(r.picks),
                str(r.shed),
            )
        Console().print(table)

    @bench.command("scrape")
    def scrape(
        endpoints: Annotated[int, typer.Option(help="Simulated model servers.")] = 256,
        interval: Annotated[float, typer.Option(help="Seconds between scrapes.")] = 0.05,
        seconds: Annotated[float, typer.Option(help="How long to measure.")] = 10.0,
        transport: Annotated[
            str, typer.Option(help="HTTP client: lean (the EPP's default for http) or aiohttp.")
        ] = "lean",
    ) -> None:
        """CPU the metrics scraper uses over many endpoints (servers in a child process)."""
        if transport not in ("aiohttp", "lean"):
            raise typer.BadParameter("transport must be aiohttp or lean")
        result = run_scrape_bench(
            endpoints, interval, seconds, transport="lean" if transport == "lean" else "aiohttp"
        )
        print_scrape_report(result)

    @bench.command("cache")
    def cache(
        prompts: Annotated[
            int, typer.Option(help="Distinct questions (each also paraphrased).")
        ] = 40,
        max_tokens: Annotated[int, typer.Option(help="Tokens per simulated answer.")] = 64,
        threshold: Annotated[float, typer.Option(help="Cosine similarity for a hit.")] = 0.95,
        seed: Annotated[int, typer.Option(help="Seed.")] = 0,
    ) -> None:
        """Semantic-cache hit path against the model path: latency and CPU per embedding."""
        settings = CacheBenchSettings(
            prompts=prompts, max_tokens=max_tokens, threshold=threshold, seed=seed
        )
        Console().print(format_cache_report(run_cache_bench(settings)))

    @bench.command("soak")
    def soak(
        minutes: Annotated[float, typer.Option(help="How long to run.")] = 30.0,
        concurrency: Annotated[int, typer.Option(help="Clients in the closed loop.")] = 16,
        policy: Annotated[str, typer.Option(help="EndpointPickerConfig name or file.")] = (
            "scorer-mix"
        ),
        sample_interval: Annotated[
            float | None, typer.Option(help="Seconds between RSS samples (default: scaled).")
        ] = None,
        distinct_prompts: Annotated[int, typer.Option(help="Prompt variety.")] = 1000,
        seed: Annotated[int, typer.Option(help="Seed.")] = 0,
        trace_allocations: Annotated[
            bool, typer.Option(help="tracemalloc: where Python memory grows (slower).")
        ] = False,
        out: Annotated[Path | None, typer.Option(help="Write soak.json and soak.png here.")] = None,
    ) -> None:
        """Sustained load through Envoy + EPP: RSS over time, failed requests, a verdict."""
        result = run_soak(
            minutes,
            concurrency=concurrency,
            policy=policy,
            sample_interval=sample_interval,
            distinct_prompts=distinct_prompts,
            seed=seed,
            trace_allocations=trace_allocations,
        )
        print_soak_report(result)
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            write_json(result, out / "soak.json")
            write_plot(result, out / "soak.png")
        healthy = result.failed_total == 0 and result.memory_flat is not False
        raise typer.Exit(0 if healthy else 1)

    @bench.command("request-cost")
    def request_cost(
        config: Annotated[
            list[str] | None,
            typer.Option("--config", "-c", help="Built-in config name or path (repeatable)."),
        ] = None,
        sizes: Annotated[str, typer.Option(help="Comma-separated pod counts.")] = (
            "10,100,1000,5000"
        ),
        seconds: Annotated[float, typer.Option(help="CPU time per cell.")] = 1.0,
        seed: Annotated[int, typer.Option(help="Seed for metrics, prompts and RNG.")] = 0,
    ) -> None:
        """EPP CPU per request through the real Director, datastore and scheduler."""
        counts = [int(s) for s in sizes.split(",") if s.strip()]
        results = run_request_cost(
            config or ["default", "scorer-mix"], counts, seed=seed, seconds=seconds
        )
        table = Table(
            title="bench request-cost: CPU per request (route + finish), best of 5 rounds"
        )
        for column in ("config", "pods", "us/request", "us/pick", "around", "refused"):
            table.add_column(column, justify="left" if column == "config" else "right")
        for r in results:
            table.add_row(
                r.config,
                str(r.pods),
                f"{r.route_us:.1f}",
                f"{r.pick_us:.1f}",
                f"{r.around_us:.1f}",
                f"{r.rejected}/{r.requests}",
            )
        Console().print(table)

    @bench.command("pool-load")
    def pool_load(
        pods: Annotated[int, typer.Option(help="Pods in the pool.")] = 5000,
        source: Annotated[
            list[str] | None,
            typer.Option(help="kubernetes and/or file (repeatable; default both)."),
        ] = None,
        warm_blocks: Annotated[
            int,
            typer.Option(
                min=0, help="Prefix blocks per pod that the reload makes the scheduler forget."
            ),
        ] = WARM_BLOCKS,
    ) -> None:
        """Time to apply a big pool through each source, and the longest event-loop stall."""
        chosen = tuple(source or ("kubernetes", "file"))
        if not set(chosen) <= {"kubernetes", "file"}:
            raise typer.BadParameter("source must be kubernetes or file")
        results = run_loop(run_pool_load(pods, sources=chosen, warm_blocks=warm_blocks))
        table = Table(
            title=f"bench pool-load: longest loop stalls in ms (goal < {GOAL_STALL_MS:.0f} ms)",
            caption="start-up: before the first pod (connecting); stall: from then on; no GC: "
            "less garbage collections; CPU: most loop-thread CPU between two 1 ms ticks",
        )
        columns = ("source", "pods", "ready", "seconds", "start-up", "stall", "no GC", "GC", "CPU")
        for column in columns:
            table.add_column(column, justify="left" if column == "source" else "right")
        for r in results:
            table.add_row(
                r.source,
                str(r.pods),
                str(r.endpoints),
                f"{r.seconds:.2f}",
                f"{r.startup_stall_ms:.1f}",
                f"{r.longest_stall_ms:.1f}",
                f"{r.longest_stall_outside_gc_ms:.1f}",
                f"{r.longest_gc_ms:.1f}",
                f"{r.busiest_loop_cpu_ms:.1f}",
            )
        Console().print(table)
