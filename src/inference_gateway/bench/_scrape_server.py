"""The ``bench scrape`` child process: many simulated vLLM ``/metrics`` servers in one loop.

Separate from the measurement because it runs in another process (so its CPU is not counted
as the scraper's) and needs none of the scraper, the datastore or rich. It serves ``endpoints``
bare asyncio HTTP/1.1 keep-alive responders on 127.0.0.11, 127.0.0.12, ... sharing one port,
each answering with the exposition from ``vllm_template`` and fresh values in its slots.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import sys
import time
from collections.abc import Callable
from typing import cast

FIRST_ADDRESS = ipaddress.IPv4Address("127.0.0.11")
SLOT = "\x00"
"""Where ``vllm_template`` leaves a value to be filled in per response."""
_MODEL = 'model_name="meta-llama/Llama-3.1-8B-Instruct"'


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
    family("vllm:num_requests_running", "gauge", [series("vllm:num_requests_running", SLOT)])
    family("vllm:num_requests_waiting", "gauge", [series("vllm:num_requests_waiting", SLOT)])
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
            lora.format("sql-lora,tweet-summary-1", "tweet-summary-2", SLOT),
        ],
    )
    family("vllm:kv_cache_usage_perc", "gauge", [series("vllm:kv_cache_usage_perc", SLOT)])
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
    parts = [p.encode() for p in template.split(SLOT)]
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
