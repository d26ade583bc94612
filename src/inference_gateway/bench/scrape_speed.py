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
"""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import os
import random
import resource
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from rich.console import Console
from rich.table import Table

from inference_gateway.datastore.objects import PodInfo, PoolInfo
from inference_gateway.datastore.store import Datastore
from inference_gateway.modelserver.scraper import MetricsScraper, Transport

FIRST_ADDRESS = ipaddress.IPv4Address("127.0.0.11")
_SLOT = "\x00"
_MODEL = 'model_name="meta-llama/Llama-3.1-8B-Instruct"'


@dataclass(frozen=True, slots=True)
class ScrapeBenchResult:
    endpoints: int
    interval: float
    wall_seconds: float
    scrapes: int
    errors: dict[str, int]
    cpu_seconds: float
    user_seconds: float
    parse_seconds: float
    server_cpu_seconds: float | None
    body_bytes: int
    gunzip_us: float
    loop: str
    transport: str
    ages: list[float] = field(default_factory=list)
    """Metrics age of every endpoint, sampled every 100 ms during the run."""

    @property
    def cpu_cores(self) -> float:
        return self.cpu_seconds / self.wall_seconds

    @property
    def scrape_rate(self) -> float:
        """Achieved scrapes per second per endpoint (target ``1 / interval``)."""
        return self.scrapes / self.wall_seconds / self.endpoints

    @property
    def cpu_us_per_scrape(self) -> float:
        return 1e6 * self.cpu_seconds / max(self.scrapes, 1)

    @property
    def cores_at_target(self) -> float:
        """CPU the scraper would need to keep every endpoint at ``1 / interval`` scrapes/s."""
        return self.cpu_us_per_scrape * 1e-6 * self.endpoints / self.interval


def vllm_template() -> str:
    """A vLLM v1 exposition with ``\\x00`` where waiting, running, KV and LoRA time go."""
    out: list[str] = []

    def family(name: str, kind: str, samples: list[str]) -> None:
        out.extend(
            [f"# HELP {name} {name.split(':')[-1].replace('_', ' ')}.", f"# TYPE {name} {kind}"]
        )
        out.extend(samples)

    def series(name: str, value: str, extra: str = "") -> str:
        return f'{name}{{engine="0",{extra}{_MODEL}}} {value}'

    for name in ("python_gc_objects_collected_total", "process_cpu_seconds_total"):
        family(name, "counter", [f"{name} 1234.0"])
    info = (
        'block_size="16",cache_dtype="auto",calculate_kv_scales="False",cpu_offload_gb="0",'
        'enable_prefix_caching="True",engine="0",gpu_memory_utilization="0.9",'
        'is_attention_free="False",num_cpu_blocks="None",num_gpu_blocks="27118",'
        'num_gpu_blocks_override="None",prefix_caching_hash_algo="builtin",'
        'sliding_window="None",swap_space="4",swap_space_bytes="4294967296"'
    )
    family("vllm:cache_config_info", "gauge", [f"vllm:cache_config_info{{{info}}} 1.0"])
    family("vllm:num_requests_running", "gauge", [series("vllm:num_requests_running", _SLOT)])
    family("vllm:num_requests_waiting", "gauge", [series("vllm:num_requests_waiting", _SLOT)])
    lora = (
        'vllm:lora_requests_info{{max_lora="4",running_lora_adapters="{}",'
        'waiting_lora_adapters="{}"}} {}'
    )
    family(
        "vllm:lora_requests_info",
        "gauge",
        [
            lora.format("", "", "1.7325072e+09"),
            lora.format("sql-lora", "", "1.73250719e+09"),
            lora.format("tweet-summary-1", "", "1.7325071e+09"),
            lora.format("sql-lora,tweet-summary-1", "tweet-summary-2", _SLOT),
        ],
    )
    family("vllm:kv_cache_usage_perc", "gauge", [series("vllm:kv_cache_usage_perc", _SLOT)])
    for name in ("num_preemptions", "prefix_cache_queries", "prefix_cache_hits", "prompt_tokens"):
        family(f"vllm:{name}_total", "counter", [series(f"vllm:{name}_total", "91234.0")])
        family(f"vllm:{name}_created", "gauge", [series(f"vllm:{name}_created", "1.73e+09")])
    tokens: list[float] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000]
    itl = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20]
    lat = [0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960]
    histograms: dict[str, list[float]] = {
        "request_prompt_tokens": tokens,
        "request_generation_tokens": tokens,
        "request_params_max_tokens": tokens,
        "iteration_tokens_total": [1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192],
        "time_to_first_token_seconds": [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, *lat],
        "inter_token_latency_seconds": itl,
        "request_time_per_output_token_seconds": itl,
        "e2e_request_latency_seconds": lat,
        "request_queue_time_seconds": lat,
        "request_inference_time_seconds": lat,
        "request_prefill_time_seconds": lat,
        "request_decode_time_seconds": lat,
    }
    for short, bounds in histograms.items():
        name = f"vllm:{short}"
        samples = [
            series(f"{name}_bucket", f"{7.0 * i}", f'le="{float(b)}",')
            for i, b in enumerate(bounds)
        ]
        samples += [
            series(f"{name}_bucket", "1000.0", 'le="+Inf",'),
            series(f"{name}_count", "1000.0"),
        ]
        samples.append(series(f"{name}_sum", "12345.678"))
        family(name, "histogram", samples)
    return "\n".join(out) + "\n"


# --- the server child process --------------------------------------------------------------------
def serve_main() -> None:
    """Child entry point: argv = endpoints; stdin = template size, template; EOF = stop."""
    count = int(sys.argv[1])
    size = int(sys.stdin.buffer.readline())
    template = sys.stdin.buffer.read(size).decode()
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with runner:
        runner.run(_serve(count, template))


class _Responder(asyncio.Protocol):
    def __init__(self, render: Callable[[], bytes]) -> None:
        self._render = render
        self._buf = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self._buf += data
        while (end := self._buf.find(b"\r\n\r\n")) != -1:
            self._buf = self._buf[end + 4 :]
            assert self._transport is not None
            self._transport.write(self._render())


async def _serve(count: int, template: str) -> None:
    parts = [p.encode() for p in template.split(_SLOT)]
    rng = random.Random(1)
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"

    def render() -> bytes:
        values = (rng.randint(0, 40), rng.randint(0, 40), f"{time.time():.7e}", rng.random())
        body = parts[0]
        for part, value in zip(parts[1:], values, strict=False):
            body += str(value).encode() + part
        return head + b"Content-Length: %d\r\n\r\n" % len(body) + body

    loop = asyncio.get_running_loop()
    port = 0
    servers = []
    for i in range(count):
        host = str(FIRST_ADDRESS + i)
        server = await loop.create_server(lambda: _Responder(render), host, port)
        port = port or server.sockets[0].getsockname()[1]
        servers.append(server)
    print(port, flush=True)
    await loop.run_in_executor(None, sys.stdin.buffer.read)  # until the parent closes stdin


def _child_cpu_seconds(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- the scraping side ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Window:
    scrapes: int
    parse_seconds: float
    errors: dict[str, int]
    cpu_seconds: float
    user_seconds: float
    wall_seconds: float
    ages: list[float]


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
    scraper = MetricsScraper(store, interval=interval, clock=loop.time, transport=transport)
    async with scraper:
        await asyncio.sleep(min(1.0, seconds / 5))  # warm-up: connections, parser memo
        stats = scraper.stats
        scrapes0, parse0, errors0 = (
            stats.scrapes_total,
            stats.parse_seconds_total,
            stats.errors_total.copy(),
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
            "from inference_gateway.bench.scrape_speed import serve_main; serve_main()",
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
    body = template.replace(_SLOT, "0").encode()
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
    )


def print_report(result: ScrapeBenchResult, console: Console | None = None) -> None:
    console = console or Console()
    r = result
    ages = sorted(a for a in r.ages if a != float("inf"))
    never = len(r.ages) - len(ages)

    def pct(q: float) -> str:
        return f"{1000 * ages[min(len(ages) - 1, int(q * len(ages)))]:.0f} ms" if ages else "-"

    table = Table(title=f"bench scrape: {r.endpoints} endpoints every {1000 * r.interval:.0f} ms")
    table.add_column("measure")
    table.add_column("value", justify="right")
    verdict = "[green]yes[/]" if r.cores_at_target < 0.5 else "[red]no[/]"
    rows = [
        ("scraper CPU (cores)", f"{r.cpu_cores:.3f}"),
        ("  of which user (Python)", f"{r.user_seconds / r.wall_seconds:.3f}"),
        ("cores needed at target rate", f"{r.cores_at_target:.3f}"),
        ("goal < 0.5 core met", verdict),
        ("CPU per scrape", f"{r.cpu_us_per_scrape:.0f} us"),
        ("  of which user", f"{1e6 * r.user_seconds / max(r.scrapes, 1):.0f} us"),
        ("  of which decode + parse", f"{1e6 * r.parse_seconds / max(r.scrapes, 1):.0f} us"),
        ("gunzip per scrape if gzip", f"{r.gunzip_us:.0f} us"),
        ("scrapes/s per endpoint", f"{r.scrape_rate:.1f} (target {1 / r.interval:.1f})"),
        ("errors", ", ".join(f"{k}={v}" for k, v in sorted(r.errors.items())) or "none"),
        ("metrics age p50 / p99 / max", f"{pct(0.5)} / {pct(0.99)} / {pct(1.0)}"),
        ("never scraped (samples)", str(never)),
        (
            "servers' CPU (cores, child process)",
            "-" if r.server_cpu_seconds is None else f"{r.server_cpu_seconds / r.wall_seconds:.3f}",
        ),
        ("body size", f"{r.body_bytes / 1024:.1f} KiB"),
        ("event loop / HTTP client", f"{r.loop} / {r.transport}"),
        ("wall time", f"{r.wall_seconds:.1f} s"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
