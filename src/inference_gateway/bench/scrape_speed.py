"""``bench scrape``: how much CPU the metrics scraper needs for a pool of model servers.

The real ``MetricsScraper`` scrapes ``endpoints`` servers on 127.0.0.11, 127.0.0.12, ... every
``interval`` into a real ``Datastore``. The servers run in a child process, so the CPU time of
this process (``getrusage``: user and system) over wall time is the scraper's share alone
(event loop, aiohttp client, parser); the child's is reported separately from ``/proc`` where
available. On loopback the kernel runs the receiving side of TCP inside the sender's system
call, so the system part includes network-stack work a real NIC would do elsewhere; the user
part is the Python cost.
Each server is a bare asyncio HTTP/1.1 keep-alive responder that returns a realistic vLLM v1
exposition (every histogram family, several LoRA series, the cache-config info series), with
fresh queue, running, KV and LoRA-timestamp values in every response, as a busy vLLM would.
Bodies are sent uncompressed; vLLM gzips when asked, which adds the decompression measured
in ``gunzip_us`` per scrape.

The servers live in ``_scrape_server`` (the child process) and the result with its table in
``scrape_report``; this module is the measurement between them.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import resource
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass

from inference_gateway.bench._scrape_server import FIRST_ADDRESS as FIRST_ADDRESS
from inference_gateway.bench._scrape_server import SLOT
from inference_gateway.bench._scrape_server import serve_main as serve_main
from inference_gateway.bench._scrape_server import vllm_template as vllm_template
from inference_gateway.bench.scrape_report import ScrapeBenchResult as ScrapeBenchResult
from inference_gateway.bench.scrape_report import print_report as print_report
from inference_gateway.datastore.objects import PodInfo, PoolInfo
from inference_gateway.datastore.store import Datastore
from inference_gateway.modelserver.scraper import MetricsScraper, Transport


def _child_cpu_seconds(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class _Window:
    scrapes: int
    parse_seconds: float
    errors: dict[str, int]
    cpu_seconds: float
    user_seconds: float
    wall_seconds: float
    ages: list[float]
    late_scrapes: int
    behind_windows: int


async def _scrape(
    endpoints: int, port: int, interval: float, seconds: float, transport: Transport
) -> _Window:
    store = Datastore()
    store.upsert_pool(
        PoolInfo(name="bench", namespace="default", selector={"app": "vllm"}, target_ports=(port,))
    )
    for i in range(endpoints):
        store.upsert_pod(
            PodInfo(
                name=f"vllm-{i}",
                namespace="default",
                address=str(FIRST_ADDRESS + i),
                labels={"app": "vllm"},
            )
        )
    loop = asyncio.get_running_loop()
    ages: list[float] = []
    scraper = MetricsScraper(
        store,
        interval=interval,
        clock=loop.time,
        transport=transport,
        lag_window=min(10.0, seconds / 2),
    )
    async with scraper:
        await asyncio.sleep(min(1.0, seconds / 5))  # warm-up: connections, parser memo
        stats = scraper.stats
        scrapes0, parse0, errors0, late0, behind0 = (
            stats.scrapes_total,
            stats.parse_seconds_total,
            stats.errors_total.copy(),
            stats.lag.late_scrapes_total,
            stats.lag.behind_windows_total,
        )
        usage0, wall0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        while (elapsed := time.perf_counter() - wall0) < seconds:
            await asyncio.sleep(min(0.1, seconds - elapsed))
            now = loop.time()
            ages.extend(e.metrics.age(now) for e in store.endpoints("default/bench"))
        usage, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - wall0
        user = usage.ru_utime - usage0.ru_utime
        cpu = user + usage.ru_stime - usage0.ru_stime
        return _Window(
            scrapes=stats.scrapes_total - scrapes0,
            parse_seconds=stats.parse_seconds_total - parse0,
            errors=dict(stats.errors_total - errors0),
            cpu_seconds=cpu,
            user_seconds=user,
            wall_seconds=wall,
            ages=ages,
            late_scrapes=stats.lag.late_scrapes_total - late0,
            behind_windows=stats.lag.behind_windows_total - behind0,
        )


def run_scrape_bench(
    endpoints: int = 256,
    interval: float = 0.05,
    seconds: float = 10.0,
    *,
    uvloop: bool = True,
    transport: Transport = "aiohttp",
) -> ScrapeBenchResult:
    """Scrape ``endpoints`` simulated vLLM servers every ``interval`` for ``seconds``."""
    if not 1 <= endpoints <= 60000:
        raise ValueError("endpoints must be between 1 and 60000")
    template = vllm_template()
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from inference_gateway.bench._scrape_server import serve_main; serve_main()",
            str(endpoints),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        raw = template.encode()
        child.stdin.write(b"%d\n" % len(raw) + raw)
        child.stdin.flush()
        port = int(child.stdout.readline())
        server_cpu0 = _child_cpu_seconds(child.pid)
        loop_name, factory = "asyncio", None
        if uvloop:
            try:
                import uvloop as uv

                loop_name, factory = "uvloop", uv.new_event_loop
            except ImportError:
                pass
        with asyncio.Runner(loop_factory=factory) as runner:
            got = runner.run(_scrape(endpoints, port, interval, seconds, transport))
        server_cpu1 = _child_cpu_seconds(child.pid)
    finally:
        child.stdin.close()
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        child.stdout.close()
    body = template.replace(SLOT, "0").encode()
    packed = gzip.compress(body)
    started = time.process_time()
    for _ in range(200):
        zlib.decompress(packed, wbits=31)
    gunzip_us = (time.process_time() - started) / 200 * 1e6
    server_cpu = None
    if server_cpu0 is not None and server_cpu1 is not None:
        server_cpu = server_cpu1 - server_cpu0
    return ScrapeBenchResult(
        endpoints=endpoints,
        interval=interval,
        wall_seconds=got.wall_seconds,
        scrapes=got.scrapes,
        errors=got.errors,
        cpu_seconds=got.cpu_seconds,
        user_seconds=got.user_seconds,
        parse_seconds=got.parse_seconds,
        server_cpu_seconds=server_cpu,
        body_bytes=len(body),
        gunzip_us=gunzip_us,
        loop=loop_name,
        transport=transport,
        ages=got.ages,
        late_scrapes=got.late_scrapes,
        behind_windows=got.behind_windows,
    )
