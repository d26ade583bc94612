"""One demo: the schedule replayed under each policy, with a live view while it runs.

Each policy gets fresh pods and a fresh gateway, so the second run starts from the same
empty queues and cold adapters as the first and only the scheduler differs. The live view
is redrawn by a task of ours (``auto_refresh`` off), so rich starts no thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live

from inference_gateway.app import Gateway
from inference_gateway.demo.load import Tally, run_load
from inference_gateway.demo.settings import DemoSettings, Policy
from inference_gateway.demo.summary import RunResult, summarize
from inference_gateway.demo.view import plain_line, render
from inference_gateway.demo.workload import DemoRequest, schedule
from inference_gateway.demo.world import DemoStartError, World, demo_world

_LIVE_PERIOD = 0.25
_PLAIN_PERIOD = 5.0
_REQUESTS_METRIC = "inference_model_request_total"


async def run_demo(
    settings: DemoSettings, *, console: Console, stop: asyncio.Event, workdir: Path
) -> list[dict[str, Any]]:
    """Summaries (see ``summary.summarize``) of each policy's run, default first."""
    requests = schedule(seconds=settings.seconds, rate=settings.rate, seed=settings.seed)
    policies: list[Policy] = [settings.policy]
    if settings.compare:
        policies.append(settings.baseline)
    summaries = []
    for policy in policies:
        if stop.is_set():
            break
        run = await run_policy(settings, policy, requests, console, stop, workdir / policy)
        summaries.append(summarize(run))
    return summaries


async def run_policy(
    settings: DemoSettings,
    policy: Policy,
    requests: list[DemoRequest],
    console: Console,
    stop: asyncio.Event,
    workdir: Path,
) -> RunResult:
    loop = asyncio.get_running_loop()
    async with demo_world(settings, policy, workdir) as world:
        tally = Tally()
        start = loop.time()
        watcher = asyncio.create_task(
            _watch(world, tally, settings, console, start), name=f"demo-view-{policy}"
        )
        try:
            outcomes = await run_load(
                world.url,
                requests,
                tally=tally,
                stop=stop,
                request_timeout=settings.request_timeout,
                drain_seconds=settings.drain_seconds,
            )
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        seconds = loop.time() - start
        _check_envoy(world.gateway)
        targets = target_counts(world.gateway)
    return RunResult(policy, outcomes, targets, seconds)


def target_counts(gateway: Gateway) -> Mapping[tuple[str, str], int]:
    """Requests the EPP routed, by (model, target model), from its own Prometheus counter."""
    out: dict[tuple[str, str], int] = {}
    for metric in gateway.epp.metrics.registry.collect():
        for sample in metric.samples:
            if sample.name == _REQUESTS_METRIC:
                key = (sample.labels["model_name"], sample.labels["target_model_name"])
                out[key] = int(sample.value)
    return out


def _check_envoy(gateway: Gateway) -> None:
    envoy = gateway.envoy
    if envoy is not None and envoy.exited.is_set():
        tail = "\n".join(envoy.tail())
        raise DemoStartError(f"Envoy exited during the run (code {envoy.returncode}):\n{tail}")


async def _watch(
    world: World, tally: Tally, settings: DemoSettings, console: Console, start: float
) -> None:
    """Redraw the live view (or print a progress line) until cancelled."""
    loop = asyncio.get_running_loop()

    def frame() -> Any:
        now = loop.time()
        return render(world, tally, elapsed=now - start, settings=settings, now=now)

    if settings.plain:
        while True:
            await asyncio.sleep(_PLAIN_PERIOD)
            console.print(plain_line(world, tally, elapsed=loop.time() - start), highlight=False)
    with Live(frame(), console=console, auto_refresh=False, transient=False) as live:
        try:
            while True:
                await asyncio.sleep(_LIVE_PERIOD)
                live.update(frame(), refresh=True)
        finally:
            live.update(frame(), refresh=True)
