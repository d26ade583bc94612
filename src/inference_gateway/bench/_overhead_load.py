"""Load generation and fast upstreams for ``bench overhead``.

The point is to measure the gateway, so the upstream must cost next to nothing: small
requests go to a second Envoy answering with ``direct_response`` (no Python on that hop);
big prompts and SSE go to a minimal aiohttp server in its own process (``_sse_upstream``)
that really reads bodies and writes chunks. Load comes from ``wrk`` when installed (one
thread, C, Lua ``done`` hook prints JSON) since a Python client competes for the same two
cores; otherwise from aiohttp: a closed loop in this process for small requests, whose own
ceiling then shows up in the figures, and a child process (``_sse_client``) for SSE so
that the client never shares the EPP's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import statistics
import sys
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from inference_gateway.bench.stats import percentile
from inference_gateway.envoy.process import EnvoyProcess

METRICS_TEXT = (
    "vllm:num_requests_waiting 0\nvllm:num_requests_running 0\nvllm:kv_cache_usage_perc 0.0\n"
)


@dataclass(frozen=True, slots=True)
class LoadResult:
    concurrency: int
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def completion_json(model: str) -> bytes:
    choice = {"index": 0, "message": {"role": "assistant", "content": "ok"}}
    usage = {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}
    body = {
        "id": "b",
        "object": "chat.completion",
        "model": model,
        "choices": [choice],
        "usage": usage,
    }
    return json.dumps(body).encode()


def _direct_response(body: str, content_type: str) -> dict[str, Any]:
    return {
        "direct_response": {"status": 200, "body": {"inline_string": body}},
        "response_headers_to_add": [
            {
                "header": {"key": "content-type", "value": content_type},
                "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
            }
        ],
    }


def static_upstream_bootstrap(host: str, port: int, model: str) -> dict[str, Any]:
    routes = [
        {"match": {"path": "/metrics"}, **_direct_response(METRICS_TEXT, "text/plain")},
        {
            "match": {"prefix": "/"},
            **_direct_response(completion_json(model).decode(), "application/json"),
        },
    ]
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network."
        "http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "upstream",
        "route_config": {"virtual_hosts": [{"name": "u", "domains": ["*"], "routes": routes}]},
        "http_filters": [
            {
                "name": "envoy.filters.http.router",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
                },
            }
        ],
    }
    listener = {
        "name": "upstream",
        "address": {"socket_address": {"address": host, "port_value": port}},
        "filter_chains": [
            {
                "filters": [
                    {"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}
                ]
            }
        ],
    }
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
        "static_resources": {"listeners": [listener]},
    }


@asynccontextmanager
async def static_upstream(host: str, port: int, model: str, workdir: Path) -> AsyncIterator[None]:
    """A second Envoy on ``host:port`` answering every request from memory."""
    async with EnvoyProcess(static_upstream_bootstrap(host, port, model), workdir=workdir):
        yield


_WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = %s
%s
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests":%%d,"us":%%d,"errors":%%d,"p50":%%d,"p99":%%d}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout + e.status,
    latency:percentile(50), latency:percentile(99)))
end
"""


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


async def wrk_load(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    concurrency: int,
    seconds: float,
    workdir: Path,
) -> LoadResult:
    lines = "\n".join(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items())
    script = workdir / "load.lua"
    script.write_text(_WRK_SCRIPT % (json.dumps(body.decode()), lines))
    out, err = await _run_child(
        "wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "-s", str(script), url
    )
    found = [ln for ln in out.decode().splitlines() if ln.startswith("{")]
    if not found:
        raise RuntimeError(f"wrk produced no result: {err.decode()[-500:]}")
    last = found[-1]
    r = json.loads(last)
    return LoadResult(
        concurrency, r["requests"], r["errors"], r["us"] / 1e6, r["p50"] / 1000, r["p99"] / 1000
    )


async def python_load(
    url: str, body: bytes, headers: Mapping[str, str], *, concurrency: int, seconds: float
) -> LoadResult:
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                async with session.post(url, data=body, headers=dict(headers)) as resp:
                    await resp.read()
                    if resp.status != 200:
                        errors += 1
                latencies.append(time.perf_counter() - t0)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    ordered = sorted(latencies)
    return LoadResult(
        concurrency,
        len(latencies),
        errors,
        elapsed,
        percentile(ordered, 50) * 1000,
        percentile(ordered, 99) * 1000,
    )


async def sequential_latency_ms(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: Mapping[str, str], n: int
) -> float:
    """Median latency of ``n`` one-at-a-time requests (after one warm-up)."""
    samples = []
    for i in range(n + 1):
        t0 = time.perf_counter()
        async with session.post(url, data=body, headers=dict(headers)) as resp:
            await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"{url}: HTTP {resp.status}")
        if i:
            samples.append(time.perf_counter() - t0)
    return statistics.median(samples) * 1000


async def _run_child(*args: str) -> tuple[bytes, bytes]:
    """Run a load process to its end; killed and reaped if the bench is cancelled."""
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        return await proc.communicate()
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


async def wrk_sse_rate(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    streams: int,
    seconds: float,
    events_per_stream: int,
    workdir: Path,
) -> float:
    """SSE events/s by wrk: streams wrk read to their end x events in each, per second.

    wrk parses the chunked response to its last chunk before it counts a request, so this
    is the rate at which whole streams arrived; streams cut off at the end are not counted.
    """
    r = await wrk_load(url, body, headers, concurrency=streams, seconds=seconds, workdir=workdir)
    if r.errors or not r.requests:
        raise RuntimeError(f"{url}: wrk SSE run had {r.errors} errors, {r.requests} streams")
    return r.requests * events_per_stream / r.seconds


async def python_sse_rate(
    url: str, body: bytes, headers: Mapping[str, str], *, streams: int, seconds: float
) -> float:
    """SSE events/s counted by the aiohttp client of ``_sse_client`` in a child process."""
    args = [sys.executable, "-m", "inference_gateway.bench._sse_client", "--url", url]
    args += ["--body", body.decode(), "--streams", str(streams), "--seconds", str(seconds)]
    for k, v in headers.items():
        args += ["--header", f"{k}: {v}"]
    out, err = await _run_child(*args)
    found = [ln for ln in out.decode().splitlines() if ln.startswith("{")]
    if not found:
        raise RuntimeError(f"SSE client produced no result: {err.decode()[-500:]}")
    r = json.loads(found[-1])
    if r["errors"] or not r["events"]:
        raise RuntimeError(f"{url}: SSE client had {r['errors']} errors, {r['events']} events")
    return float(r["events"]) / float(r["seconds"])
