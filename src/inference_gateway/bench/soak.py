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

The samples and the growth arithmetic live in ``soak_result``, the process probes (RSS, Envoy
heap, ``tracemalloc`` growth) in ``_soak_probes``; this module runs the gateway and samples it.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import tracemalloc
from pathlib import Path
from typing import Any

from inference_gateway.app import EppSettings, Gateway, GatewaySettings
from inference_gateway.bench._soak_load import DRAIN_MARGIN, POD_HOSTS, config_yaml
from inference_gateway.bench._soak_probes import envoy_heap_mb, rss_mb
from inference_gateway.bench._soak_probes import top_growth as _top_growth
from inference_gateway.bench.soak_result import GOAL_GROWTH_PCT as GOAL_GROWTH_PCT
from inference_gateway.bench.soak_result import GOAL_MINUTES as GOAL_MINUTES
from inference_gateway.bench.soak_result import WARMUP_SHARE as WARMUP_SHARE
from inference_gateway.bench.soak_result import Sample, SoakResult
from inference_gateway.envoy.bootstrap import EnvoySettings
from inference_gateway.extproc.server import ExtProcSettings
from inference_gateway.simulator.ports import shared_free_port

_START_TIMEOUT = 60.0


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
            pool_file=config, grpc=ExtProcSettings(port=0), plugins_config=policy, seed=seed
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
                heap = await envoy_heap_mb(gw)
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
                heap = await envoy_heap_mb(gw)
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
