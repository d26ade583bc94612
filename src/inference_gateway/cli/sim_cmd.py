"""``inference-gateway sim`` (simulated vLLM pods) and ``bench sim-speed``."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import signal
from typing import Annotated

import typer

from inference_gateway.simulator.config import DEFAULT_PROFILE, PROFILES, EngineConfig
from inference_gateway.simulator.metrics import MetricsKind
from inference_gateway.simulator.server import PodSpec, run_pods
from inference_gateway.simulator.virtual import measure_speed


def pod_specs(
    *, host: str, port: int, name: str, replicas: int, kind: MetricsKind, config: EngineConfig
) -> list[PodSpec]:
    """K pods on consecutive addresses from ``host``, named ``<name>-0..K-1``."""
    first = ipaddress.ip_address(host)
    if replicas == 1:
        return [PodSpec(name, host, port, kind=kind, config=config)]
    return [
        PodSpec(f"{name}-{i}", str(first + i), port, kind=kind, config=config)
        for i in range(replicas)
    ]


async def serve(specs: list[PodSpec], *, time_scale: float) -> None:
    """Serve until SIGINT/SIGTERM, then stop every pod."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        async with run_pods(specs, time_scale=time_scale) as pods:
            for pod in pods:
                typer.echo(f"{pod.name} {pod.url} model={pod.engine.config.model}", err=False)
            typer.echo("ready", err=False)
            await stop.wait()
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add ``sim`` to ``app`` and ``sim-speed`` to ``bench``."""

    @app.command("sim")
    def sim(
        host: Annotated[str, typer.Option(help="Address of the first pod.")] = "127.0.0.11",
        port: Annotated[int, typer.Option(help="Port of every pod (0: any free port).")] = 8000,
        model: Annotated[str, typer.Option(help="Base model name.")] = "sim-model",
        name: Annotated[str, typer.Option(help="Pod name (x-served-by).")] = "sim",
        lora: Annotated[str, typer.Option(help="Comma-separated LoRA adapters.")] = "",
        max_loras: Annotated[int, typer.Option()] = 1,
        max_num_seqs: Annotated[int, typer.Option()] = 128,
        kv_blocks: Annotated[int, typer.Option()] = 29_205,
        block_size: Annotated[int, typer.Option()] = 16,
        max_waiting: Annotated[int, typer.Option(help="Waiting-queue limit (429).")] = 1000,
        max_model_len: Annotated[int, typer.Option()] = 8192,
        profile: Annotated[str, typer.Option(help=f"One of {sorted(PROFILES)}.")] = DEFAULT_PROFILE,
        slowdown: Annotated[float, typer.Option(help="Compute-time multiplier.")] = 1.0,
        time_scale: Annotated[float, typer.Option(help="0.1 runs 10x faster.")] = 1.0,
        replicas: Annotated[int, typer.Option(help="Pods on consecutive addresses.")] = 1,
        engine: Annotated[str, typer.Option(help="Metric names: vllm or sglang.")] = "vllm",
        task: Annotated[
            str, typer.Option(help="generate (completions, chat, responses) or embed.")
        ] = "generate",
    ) -> None:
        """Serve simulated vLLM pods until Ctrl-C."""
        if engine not in ("vllm", "sglang"):
            raise typer.BadParameter("--engine must be vllm or sglang")
        if task not in ("generate", "embed"):
            raise typer.BadParameter("--task must be generate or embed")
        kind: MetricsKind = "sglang" if engine == "sglang" else "vllm"
        try:
            config = EngineConfig(
                model=model,
                adapters=tuple(a for a in lora.split(",") if a),
                max_loras=max_loras,
                max_num_seqs=max_num_seqs,
                kv_blocks=kv_blocks,
                block_size=block_size,
                max_waiting=max_waiting,
                max_model_len=max_model_len,
                profile=profile,
                slowdown=slowdown,
                task="embed" if task == "embed" else "generate",
            )
        except ValueError as e:
            raise typer.BadParameter(str(e)) from e
        specs = pod_specs(
            host=host, port=port, name=name, replicas=replicas, kind=kind, config=config
        )
        try:
            with contextlib.suppress(KeyboardInterrupt):
                asyncio.run(serve(specs, time_scale=time_scale))
        except OSError as e:  # address in use or not assignable
            typer.echo(f"sim: cannot listen: {e}", err=True)
            raise typer.Exit(1) from e

    @bench.command("sim-speed")
    def sim_speed(
        requests: Annotated[int, typer.Option(help="Requests to simulate.")] = 100_000,
        rate: Annotated[float, typer.Option(help="Poisson arrival rate (req/s).")] = 80.0,
    ) -> None:
        """Simulated requests per wall second of one engine in virtual time."""
        result = measure_speed(requests, rate)
        typer.echo(
            f"{result.requests} requests, {result.simulated_seconds:.1f} simulated s, "
            f"{result.wall_seconds:.2f} wall s: "
            f"{result.requests_per_wall_second:,.0f} simulated requests per wall second "
            f"({result.requests_per_cpu_second:,.0f} per CPU second)"
        )
