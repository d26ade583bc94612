"""``bench soak``: sustained mixed load through Envoy and the EPP. Is memory flat? Any failure?

Two processes, so that the memory measured is the gateway's alone. This process runs the
``Gateway`` composition (EPP in-process, Envoy as its child) and samples its own ``VmRSS``
(and Envoy's heap from its admin ``/memory``) every few seconds. A child process runs the
simulated pods (four vLLM simulators on 127.0.0.11-14) and the load generator: ``concurrency``
closed-loop clients sending a mix of chat and completions, streaming and not, to three
InferenceModels (a Critical model on a LoRA adapter, a Standard model split 90/10 between
two adapter versions, the base model by name). Parent and child talk JSON lines over the
child's stdin/stdout; the child stops sending by itself after ``minutes`` and reports.

Every request is one a pod can serve (no Sheddable traffic, the pods stay up), so any answer
other than a complete 200 counts as a failure: an error status, a connection error or
timeout, or a stream that ends without ``[DONE]``. Memory growth is measured from the end of
the warm-up (the first 10% of the run) to the last sample; for runs shorter than 30 minutes
the 30-minute figure is extrapolated from the least-squares slope after warm-up, and the
report says so. Loopback only; bounded by ``minutes`` plus fixed start and drain margins.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from inference_gateway.bench._soak_load import DRAIN_MARGIN, POD_HOSTS, config_yaml
from inference_gateway.envoy.bootstrap import EnvoySettings
from inference_gateway.extproc import EppSettings, Gateway, GatewaySettings
from inference_gateway.extproc.server import ExtProcSettings
from inference_gateway.simulator.ports import shared_free_port

WARMUP_SHARE = 0.10
GOAL_GROWTH_PCT = 10.0
GOAL_MINUTES = 30.0
_START_TIMEOUT = 60.0
_TOP_GROWTH = 8


@dataclass(frozen=True, slots=True)
class Sample:
    seconds: float
    rss_mb: float
    envoy_heap_mb: float | None
    completed: int
    py_blocks: int | None = None
    """Live Python memory blocks (``sys.getallocatedblocks``): flat while RSS grows means
    the growth is native memory or allocator fragmentation, not Python objects."""


@dataclass
class SoakResult:
    minutes: float
    concurrency: int
    policy: str
    samples: list[Sample]
    sent: int = 0
    succeeded: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    """Failures by cause: ``status 503``, ``incomplete stream``, ``ClientConnectorError``..."""
    by_kind: dict[str, int] = field(default_factory=dict)
    wall_seconds: float = 0.0
    allocation_growth: list[str] = field(default_factory=list)
    """With ``trace_allocations``: the source lines whose live Python allocations grew most
    between the end of warm-up and the end of the run (``tracemalloc``)."""

    @property
    def failed_total(self) -> int:
        return sum(self.failed.values())

    @property
    def post_warmup(self) -> list[Sample]:
        if not self.samples:
            return []
        cut = self.samples[-1].seconds * WARMUP_SHARE
        return [s for s in self.samples if s.seconds >= cut]

    @property
    def growth_pct(self) -> float | None:
        """RSS growth from the end of warm-up to the last sample, in percent."""
        after = self.post_warmup
        if len(after) < 2:
            return None
        return (after[-1].rss_mb - after[0].rss_mb) / after[0].rss_mb * 100.0

    @property
    def slope_mb_per_min(self) -> float | None:
        after = self.post_warmup
        if len(after) < 3:
            return None
        xs = [s.seconds / 60.0 for s in after]
        ys = [s.rss_mb for s in after]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        var = sum((x - mx) ** 2 for x in xs)
        return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else None

    @property
    def growth_30min_pct(self) -> tuple[float | None, bool]:
        """(growth over 30 minutes after warm-up, whether it is extrapolated)."""
        if self.minutes >= GOAL_MINUTES:
            return self.growth_pct, False
        slope, after = self.slope_mb_per_min, self.post_warmup
        if slope is None or not after:
            return None, True
        return max(slope, 0.0) * GOAL_MINUTES / after[0].rss_mb * 100.0, True

    @property
    def memory_flat(self) -> bool | None:
        growth, _ = self.growth_30min_pct
        return None if growth is None else growth <= GOAL_GROWTH_PCT


# --- parent: the gateway and the sampler ------------------------------------------------------


def run_soak(
    minutes: float,
    *,
    concurrency: int = 16,
    sample_interval: float | None = None,
    policy: str = "scorer-mix",
    time_scale: float = 1.0,
    seed: int = 0,
    distinct_prompts: int = 1000,
    trace_allocations: bool = False,
    progress: bool = True,
) -> SoakResult:
    """Run the soak for ``minutes`` (blocking) and return what was measured.

    ``trace_allocations`` runs ``tracemalloc`` in the gateway process to say where memory
    grows; it costs CPU and memory of its own, so RSS figures from such a run run high.
    """
    return asyncio.run(
        soak(
            minutes,
            concurrency=concurrency,
            sample_interval=sample_interval,
            policy=policy,
            time_scale=time_scale,
            seed=seed,
            distinct_prompts=distinct_prompts,
            trace_allocations=trace_allocations,
            progress=progress,
        )
    )


async def soak(
    minutes: float,
    *,
    concurrency: int = 16,
    sample_interval: float | None = None,
    policy: str = "scorer-mix",
    time_scale: float = 1.0,
    seed: int = 0,
    distinct_prompts: int = 1000,
    trace_allocations: bool = False,
    progress: bool = True,
) -> SoakResult:
    if trace_allocations:
        tracemalloc.start()
    try:
        return await _soak(
            minutes, concurrency, sample_interval, policy, time_scale, seed, distinct_prompts,
            progress,
        )  # fmt: skip
    finally:
        tracemalloc.stop()


async def _soak(
    minutes: float,
    concurrency: int,
    sample_interval: float | None,
    policy: str,
    time_scale: float,
    seed: int,
    distinct_prompts: int,
    progress: bool,
) -> SoakResult:
    seconds = minutes * 60.0
    interval = sample_interval or min(5.0, max(seconds / 60.0, 0.5))
    port = shared_free_port(POD_HOSTS)
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "inference_gateway.bench._soak_load",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await _send(child, {"port": port, "time_scale": time_scale, "seed": seed})
        await _expect(child, "ready", _START_TIMEOUT)
        with tempfile.TemporaryDirectory(prefix="igw-soak-") as tmp:
            work = Path(tmp)
            config = work / "soak.yaml"
            config.write_text(config_yaml(port))
            async with Gateway(_gateway_settings(config, work, policy, seed)) as gw:
                await _wait_for_metrics(gw)
                go = {"url": gw.url, "seconds": seconds, "concurrency": concurrency,
                      "distinct_prompts": distinct_prompts}  # fmt: skip
                await _send(child, go)
                result = SoakResult(minutes, concurrency, policy, samples=[])
                report = await _sample_until_done(child, gw, result, interval, seconds, progress)
        assert child.stdin is not None
        child.stdin.close()
        await asyncio.wait_for(child.wait(), DRAIN_MARGIN)
        result.sent = report["sent"]
        result.succeeded = report["succeeded"]
        result.failed = report["failed"]
        result.by_kind = report["by_kind"]
        result.wall_seconds = report["wall_seconds"]
        return result
    finally:
        if child.returncode is None:
            child.kill()
        await child.wait()


def _gateway_settings(config: Path, work: Path, policy: str, seed: int) -> GatewaySettings:
    return GatewaySettings(
        epp=EppSettings(
            config_file=config, grpc=ExtProcSettings(port=0), plugins_config=policy, seed=seed
        ),
        envoy=EnvoySettings(port=0, admin_port=0, epp_health_interval_seconds=0.5),
        workdir=work,
    )


async def _sample_until_done(
    child: asyncio.subprocess.Process,
    gw: Gateway,
    result: SoakResult,
    interval: float,
    seconds: float,
    progress: bool,
) -> dict[str, Any]:
    assert child.stdout is not None
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + seconds + DRAIN_MARGIN
    completed = 0
    baseline: tracemalloc.Snapshot | None = None
    reader = asyncio.ensure_future(child.stdout.readline())
    try:
        next_sample = started
        while True:
            now = loop.time()
            if now > deadline:
                raise RuntimeError("soak child did not report within its time bound")
            if now >= next_sample:
                heap = await _envoy_heap_mb(gw)
                result.samples.append(
                    Sample(now - started, rss_mb(), heap, completed, sys.getallocatedblocks())
                )
                next_sample += interval
                if (
                    baseline is None
                    and tracemalloc.is_tracing()
                    and now - started >= seconds * WARMUP_SHARE
                ):
                    baseline = tracemalloc.take_snapshot()
                if progress:
                    s = result.samples[-1]
                    print(
                        f"  t={s.seconds:7.1f}s  rss={s.rss_mb:7.1f} MB  completed={completed}",
                        file=sys.stderr,
                    )
            done, _ = await asyncio.wait({reader}, timeout=max(next_sample - loop.time(), 0))
            if not done:
                continue
            line = reader.result()
            if not line:
                raise RuntimeError(f"soak child exited early (code {child.returncode})")
            msg = json.loads(line)
            if "result" in msg:
                now = loop.time()
                heap = await _envoy_heap_mb(gw)
                total = msg["result"]["succeeded"] + sum(msg["result"]["failed"].values())
                result.samples.append(
                    Sample(now - started, rss_mb(), heap, total, sys.getallocatedblocks())
                )
                report: dict[str, Any] = msg["result"]
                if baseline is not None:
                    result.allocation_growth = _top_growth(baseline, tracemalloc.take_snapshot())
                return report
            completed = int(msg.get("completed", completed))
            reader = asyncio.ensure_future(child.stdout.readline())
    finally:
        if not reader.done():
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)


def _top_growth(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot) -> list[str]:
    stats = after.compare_to(before, "lineno")
    return [
        f"{stat.size_diff / 2**20:+.2f} MB in {stat.count_diff:+d} blocks: {stat.traceback[0]}"
        for stat in stats[:_TOP_GROWTH]
        if stat.size_diff > 0
    ]


def rss_mb(pid: int | str = "self") -> float:
    """Resident set size from ``/proc/<pid>/status`` (Linux), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no VmRSS for process {pid}")


async def _envoy_heap_mb(gw: Gateway) -> float | None:
    if gw.envoy is None:
        return None
    try:
        memory = json.loads(await gw.envoy.admin("/memory"))
        return int(memory["allocated"]) / 2**20
    except (aiohttp.ClientError, ValueError, KeyError, OSError):
        return None


async def _wait_for_metrics(gw: Gateway) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _START_TIMEOUT
    while loop.time() < deadline:
        endpoints = gw.datastore.all_endpoints()
        if len(endpoints) == len(POD_HOSTS) and all(
            e.metrics.updated_at > float("-inf") for e in endpoints
        ):
            return
        await asyncio.sleep(0.05)
    raise RuntimeError("the EPP did not scrape every simulated pod in time")


async def _send(child: asyncio.subprocess.Process, msg: dict[str, Any]) -> None:
    assert child.stdin is not None
    child.stdin.write(json.dumps(msg).encode() + b"\n")
    await child.stdin.drain()


async def _expect(child: asyncio.subprocess.Process, key: str, within: float) -> dict[str, Any]:
    assert child.stdout is not None
    line = await asyncio.wait_for(child.stdout.readline(), within)
    if not line:
        raise RuntimeError(f"soak child exited before {key!r} (code {child.returncode})")
    msg: dict[str, Any] = json.loads(line)
    if key not in msg:
        raise RuntimeError(f"soak child said {msg!r}, expected {key!r}")
    return msg


__all__ = ["Sample", "SoakResult", "run_soak", "soak"]
