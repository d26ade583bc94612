"""How long a big pool takes to load, and the longest the event loop waits meanwhile.

The EPP serves Envoy on the same loop that applies pool changes, so what matters is not only
how long an initial list of thousands of Pods takes but the longest single stall it causes:
every request in flight waits that long. A ticker task wakes every millisecond and records
the longest gap between wakeups (minus the millisecond), the most CPU the loop's thread
used within one gap (the stall on an idle core, robust to a busy machine), and the longest
full garbage collection (the process freezes its startup heap first, as
``inference-gateway epp`` does; see ``_heap``).

Each source is the real one, with the metrics scraper attached as in the EPP (so 5,000 scrape
loops start too; their first scrapes are spread over ``SCRAPE_INTERVAL`` and fail at once on
loopback, which keeps the scrapes themselves out of the figure):

- ``kubernetes``: ``KubernetesSource`` against an API server in a child process
  (``_fake_kube``) that pages its LIST as a real one does;
- ``file``: ``FileSource`` on a standalone YAML file of the same Pods;
- ``file reload``: the same file rewritten with every Pod's address changed.

The file source's datastore also tells a ``predicted`` scheduler of its pods, as the EPP
does (``app._membership``), with each pod's prefix index holding ``warm_blocks`` blocks
and its speeds learned before the reload: moving a pod makes the scheduler forget all of
that and take it in again as a newcomer.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import json
import logging
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from random import Random
from typing import Any

import yaml

from inference_gateway._heap import freeze_long_lived
from inference_gateway.aio import stop
from inference_gateway.app._membership import TellScheduler
from inference_gateway.bench._fake_kube import NAMESPACE, POOL_NAME, pod_object, pool_object
from inference_gateway.datastore import Datastore, Endpoint
from inference_gateway.modelserver.scraper import MetricsScraper
from inference_gateway.scheduling.config import load_config
from inference_gateway.scheduling.plugins.latency import LatencyPredictor
from inference_gateway.scheduling.plugins.prefix import PrefixCacheScorer, PrefixParams
from inference_gateway.scheduling.registry import default_registry
from inference_gateway.scheduling.scheduler import PluginScheduler, build_scheduler
from inference_gateway.scheduling.types import LLMRequest
from inference_gateway.sources.file import FileSource
from inference_gateway.sources.kubernetes import KubernetesSource

GOAL_STALL_MS = 50.0
SCRAPE_INTERVAL = 600.0
"""Long, so the measured window holds the loops' start and almost none of their scrapes."""
_TICK = 0.001
WARM_BLOCKS = 256
"""Prefix blocks per pod before the reload: one long prompt each (the built-in configs
hold up to 31,250; ``--warm-blocks`` sets it)."""
_POOL_KEY = f"{NAMESPACE}/{POOL_NAME}"


@dataclass(frozen=True, slots=True)
class PoolLoad:
    source: str
    pods: int
    endpoints: int
    """Endpoints in the pool once loaded (should equal ``pods``)."""
    seconds: float
    """Wall time from entering the source (or writing the file) to the pool complete."""
    startup_stall_ms: float
    """Longest stall before the first endpoint arrived (connecting; the EPP is not serving)."""
    longest_stall_ms: float
    """Longest stall from the first endpoint on: what requests in flight would wait."""
    longest_stall_outside_gc_ms: float
    """The longest stall less the garbage collections within it: what chunking controls."""
    longest_gc_ms: float
    """Longest full (generation 2) garbage collection in the window."""
    busiest_loop_cpu_ms: float
    """Most CPU the loop's thread used between two ticks: the stall this code would cause
    on an idle core. On a shared box a stall is longer (the process waits for a core, or
    for the GIL while a worker thread parses)."""

    @property
    def meets_goal(self) -> bool:
        return self.longest_stall_ms < GOAL_STALL_MS


class _StallMeter:
    """Ticks every ``_TICK``; stalls before the first endpoint arrives count as start-up
    (connecting, first imports of lazily loaded modules: before the EPP serves), the rest
    as applying the pool. It listens to the datastore for that first endpoint.

    A collection's time is taken off a stall by overlap of the two time spans, because the
    loop thread often gets the GIL back before the collector's "stop" callback has run.
    """

    def __init__(self) -> None:
        self.startup = 0.0
        self.longest = 0.0
        self.longest_gc = 0.0
        self.busiest_cpu = 0.0
        self._applying = False
        self._gaps: list[tuple[float, float]] = []
        self._gc_spans: list[tuple[float, float]] = []
        self._gc_started = 0.0

    def reset(self, *, applying: bool) -> None:
        self.startup = self.longest = self.longest_gc = self.busiest_cpu = 0.0
        self._gaps.clear()
        self._gc_spans.clear()
        self._applying = applying

    async def tick(self) -> None:
        clock, cpu_clock = time.perf_counter, time.thread_time
        last, cpu_last = clock(), cpu_clock()
        while True:
            await asyncio.sleep(_TICK)
            now, cpu_now = clock(), cpu_clock()
            stall = now - last - _TICK
            if not self._applying:
                self.startup = max(self.startup, stall)
            else:
                self.longest = max(self.longest, stall)
                self.busiest_cpu = max(self.busiest_cpu, cpu_now - cpu_last)
                if stall > _TICK:
                    self._gaps.append((last + _TICK, now))
            last, cpu_last = now, cpu_now

    def longest_outside_gc(self) -> float:
        longest = 0.0
        for start, end in self._gaps:
            overlap = sum(
                max(0.0, min(end, gc_end) - max(start, gc_start))
                for gc_start, gc_end in self._gc_spans
            )
            longest = max(longest, end - start - overlap)
        return longest

    def endpoint_added(self, endpoint: Endpoint) -> None:
        self._applying = True

    def endpoint_removed(self, endpoint: Endpoint) -> None:
        pass

    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._gc_started = now
            return
        if not self._gc_started:
            return
        self._gc_spans.append((self._gc_started, now))
        if info.get("generation") == 2 and self._applying:
            self.longest_gc = max(self.longest_gc, now - self._gc_started)


async def _measured(
    name: str, pods: int, ds: Datastore, load: Callable[[], Awaitable[None]], *, reload: bool
) -> PoolLoad:
    meter = _StallMeter()
    ds.add_listener(meter)
    ticker = asyncio.create_task(meter.tick(), name="bench-pool-load-ticker")
    gc.callbacks.append(meter.on_gc)
    try:
        await asyncio.sleep(0.01)
        meter.reset(applying=reload)
        started = time.perf_counter()
        await load()
        seconds = time.perf_counter() - started
    finally:
        gc.callbacks.remove(meter.on_gc)
        ticker.cancel()
        await asyncio.gather(ticker, return_exceptions=True)
    return PoolLoad(
        source=name,
        pods=pods,
        endpoints=len(ds.endpoints(_POOL_KEY)),
        seconds=seconds,
        startup_stall_ms=meter.startup * 1000,
        longest_stall_ms=meter.longest * 1000,
        longest_stall_outside_gc_ms=meter.longest_outside_gc() * 1000,
        longest_gc_ms=meter.longest_gc * 1000,
        busiest_loop_cpu_ms=meter.busiest_cpu * 1000,
    )


@asynccontextmanager
async def _api_server(pods: int) -> AsyncIterator[int]:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from inference_gateway.bench._fake_kube import serve_main; serve_main()",
        str(pods),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        yield int(await child.stdout.readline())
    finally:
        child.stdin.close()
        try:
            await asyncio.wait_for(child.wait(), 10)
        except TimeoutError:
            child.kill()
            await child.wait()


def _kubeconfig(path: Path, port: int) -> Path:
    cluster = {"name": "bench", "cluster": {"server": f"http://127.0.0.1:{port}"}}
    context = {"name": "bench", "context": {"cluster": "bench", "user": "nobody"}}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": "nobody", "user": {}}],
        "contexts": [context],
        "current-context": "bench",
    }
    path.write_text(json.dumps(config))
    return path


async def _kubernetes(pods: int, workdir: Path) -> PoolLoad:
    async with _api_server(pods) as port, AsyncExitStack() as stack:
        kubeconfig = str(_kubeconfig(workdir / "kubeconfig", port))
        ds = Datastore()
        await stack.enter_async_context(MetricsScraper(ds, interval=SCRAPE_INTERVAL))
        source = KubernetesSource(
            ds, pool_name=POOL_NAME, pool_namespace=NAMESPACE, kubeconfig=kubeconfig
        )

        async def load() -> None:
            await stack.enter_async_context(source)
            await asyncio.wait_for(source.synced.wait(), 600)

        return await _measured("kubernetes", pods, ds, load, reload=False)


def _yaml(pods: int, *, shift: int = 0) -> str:
    docs = [pool_object()] + [pod_object(i, address=_shifted(i, shift)) for i in range(pods)]
    dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return str(yaml.dump_all(docs, Dumper=dumper, sort_keys=False))


def _shifted(i: int, shift: int) -> str | None:
    if not shift:
        return None
    j = i + shift
    return f"127.{1 + j // 62500}.{(j // 250) % 250}.{11 + j % 250}"


def _warm(scheduler: PluginScheduler, endpoints: Sequence[Endpoint], blocks: int) -> None:
    """Give every endpoint ``blocks`` prefix blocks (picks of distinct long prompts) and a
    learned speed."""
    per_prompt = 256
    prompt_chars = per_prompt * PrefixParams().blockSize
    for plugin in scheduler.post_pick:
        if isinstance(plugin, PrefixCacheScorer):
            for i, endpoint in enumerate(endpoints):
                for j in range(-(-blocks // per_prompt)):
                    text = f"{i}/{j} ".ljust(prompt_chars, "x")
                    request = LLMRequest(f"{i}/{j}", "m", "m", prompt=text)
                    plugin.on_picked(request, endpoint, {})
        if isinstance(plugin, LatencyPredictor):
            for i, endpoint in enumerate(endpoints):
                for target in (plugin.ttft, plugin.tpot):
                    target.speeds.update(endpoint.name, 0.5 + (i % 7) / 4)


async def _file(pods: int, workdir: Path, warm_blocks: int) -> list[PoolLoad]:
    path = workdir / "gateway.yaml"
    path.write_text(await asyncio.to_thread(_yaml, pods))
    moved = await asyncio.to_thread(_yaml, pods, shift=pods)
    ds = Datastore()
    scheduler = build_scheduler(load_config("predicted", default_registry()), rng=Random(0))
    membership = TellScheduler(scheduler)
    ds.add_listener(membership)
    async with MetricsScraper(ds, interval=SCRAPE_INTERVAL):
        telling = asyncio.create_task(membership.run())
        source = FileSource(path, ds)

        async def load() -> None:
            await source.__aenter__()

        first = await _measured("file", pods, ds, load, reload=False)
        await membership.settled()
        _warm(scheduler, ds.endpoints(_POOL_KEY), warm_blocks)  # not measured
        try:

            async def reload() -> None:
                await asyncio.to_thread(path.write_text, moved)
                async with asyncio.timeout(600):
                    await source.wait_until(lambda: source.reloads >= 1)
                    await membership.settled()

            second = await _measured("file reload", pods, ds, reload, reload=True)
        finally:
            await source.__aexit__(None, None, None)
            await stop(telling)
    return [first, second]


async def run_pool_load(
    pods: int = 5000,
    *,
    sources: tuple[str, ...] = ("kubernetes", "file"),
    warm_blocks: int = WARM_BLOCKS,
) -> list[PoolLoad]:
    """Load ``pods`` through each source in turn; scrape failures are not logged meanwhile.

    The process's long-lived objects are frozen first, as ``inference-gateway epp`` does at
    startup, so full collections walk only what the load itself creates.
    """
    # watchfiles imports anyio's asyncio backend on first use (~70 ms here): a one-time cost
    # of the process, not of loading a pool, so it is paid before measuring.
    importlib.import_module("anyio._backends._asyncio")
    freeze_long_lived()
    scraper_log = logging.getLogger("inference_gateway.modelserver.scraper")
    level = scraper_log.level
    scraper_log.setLevel(logging.ERROR)
    results: list[PoolLoad] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-pool-load-") as tmp:
            if "kubernetes" in sources:
                results.append(await _kubernetes(pods, Path(tmp)))
            if "file" in sources:
                results += await _file(pods, Path(tmp), warm_blocks)
    finally:
        scraper_log.setLevel(level)
    return results
