"""``bench overhead`` runs end to end and reports every figure (values are not asserted).

The streaming upstream and the SSE client run as child processes, never in the EPP's
event loop; these tests check they serve, count and are always reaped.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import time
from pathlib import Path

import aiohttp
import pytest

from inference_gateway.app import bench_gateway
from inference_gateway.bench._overhead_load import free_port, python_sse_rate, wrk_sse_rate
from inference_gateway.bench._sse_upstream import stream_upstream
from inference_gateway.bench.overhead import (
    STREAM_HOST,
    STREAM_MODEL,
    OverheadSettings,
    format_report,
    run_overhead,
)

SSE_BODY = b'{"model": "m", "messages": [], "stream": true, "max_tokens": 5}'
JSON = {"content-type": "application/json"}


def _children() -> set[int]:
    """Pids of this process's live or unreaped children (Linux /proc)."""
    me, found = os.getpid(), set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == me:
            found.add(int(entry.name))
    return found


async def _refused(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection(host, port)
    except OSError:
        return True
    writer.close()
    await writer.wait_closed()
    return False


async def test_overhead_report_has_every_path_and_figure() -> None:
    before = _children()
    port = free_port(STREAM_HOST)
    settings = OverheadSettings(
        duration=0.3,
        concurrency=(2,),
        big_prompt_requests=2,
        sse_streams=2,
        sse_events=20,
        sse_seconds=0.1,
        sse_rounds=1,
        paced_streams=2,
        paced_tokens=3,
        paced_gap_ms=1.0,
        paced_seconds=0.2,
        load_tool="python",
        stream_port=port,
    )
    report = await run_overhead(settings, gateway=bench_gateway)
    for path in ("envoy", "epp", "epp-lean", "epp-grpcio"):
        (step,) = report[path]["sweep"]
        assert step["requests"] > 0 and step["errors"] == 0
        assert report[path]["sse_events_per_s"] > 0
        assert report[path]["big_prompt_p50_ms"] > 0
        if path != "envoy":
            assert report[path]["sse_baseline_events_per_s"] > 0
            assert report[path]["cpu_us_per_request"] > 0
            assert report[path]["cpu_us_per_sse_event"] > 0
            assert report[path]["paced_events_per_s"] > 0
            assert report[path]["cpu_us_per_paced_event"] > 0
    assert {"added_p50_ms_c1", "max_rps", "big_prompt_added_ms", "sse_ratio"} <= set(report["epp"])
    text = format_report(report)
    assert "Envoy alone" in text and "epp-lean" in text and "EPP CPU" in text
    assert _children() <= before
    assert await _refused(STREAM_HOST, port)


async def test_upstream_child_streams_every_event_then_done(tmp_path: Path) -> None:
    port = free_port(STREAM_HOST)
    async with (
        stream_upstream(STREAM_HOST, port, STREAM_MODEL, log=tmp_path / "up.log") as proc,
        aiohttp.ClientSession() as session,
    ):
        assert proc.pid != os.getpid() and proc.returncode is None
        url = f"http://{STREAM_HOST}:{port}"
        async with session.post(f"{url}/v1/chat/completions", data=SSE_BODY) as resp:
            assert resp.headers["content-type"] == "text/event-stream"
            lines = [ln async for ln in resp.content if ln.startswith(b"data: ")]
        assert len(lines) == 6 and lines[-1] == b"data: [DONE]\n"
        assert STREAM_MODEL.encode() in lines[0]
        async with session.post(
            f"{url}/v1/chat/completions", data=b'{"model": "m", "messages": []}'
        ) as resp:
            assert (await resp.json())["model"] == STREAM_MODEL
        async with session.get(f"{url}/metrics") as resp:
            assert "vllm:num_requests_waiting 0" in await resp.text()
    assert proc.returncode is not None
    assert await _refused(STREAM_HOST, port)


async def test_upstream_child_paces_tokens_when_asked(tmp_path: Path) -> None:
    port = free_port(STREAM_HOST)
    body = json.dumps(
        {"model": "m", "stream": True, "max_tokens": 3, "bench_token_gap_ms": 40}
    ).encode()
    async with (
        stream_upstream(STREAM_HOST, port, STREAM_MODEL, log=tmp_path / "up.log"),
        aiohttp.ClientSession() as session,
    ):
        started = time.monotonic()
        async with session.post(f"http://{STREAM_HOST}:{port}/v1/chat/completions", data=body) as r:
            lines = [ln async for ln in r.content if ln.startswith(b"data: ")]
        elapsed = time.monotonic() - started
    assert len(lines) == 4 and lines[-1] == b"data: [DONE]\n"
    assert elapsed >= 0.08  # two 40 ms gaps between three tokens: a lower bound only


async def test_upstream_child_is_reaped_when_the_bench_fails(tmp_path: Path) -> None:
    port = free_port(STREAM_HOST)
    with pytest.raises(ZeroDivisionError):
        async with stream_upstream(STREAM_HOST, port, STREAM_MODEL, log=tmp_path / "up.log") as p:
            proc = p
            _ = 1 / 0
    assert proc.returncode is not None
    assert proc.pid not in _children()


async def test_upstream_that_cannot_bind_fails_with_its_stderr(tmp_path: Path) -> None:
    before = _children()
    with socket.socket() as taken:
        taken.bind((STREAM_HOST, 0))  # bound, not listening: connects are refused
        port = taken.getsockname()[1]
        with pytest.raises(RuntimeError, match=r"exited with 1[\s\S]*address already in use"):
            async with stream_upstream(STREAM_HOST, port, STREAM_MODEL, log=tmp_path / "up.log"):
                pass
    assert _children() <= before


async def test_sse_clients_out_of_process_count_events(tmp_path: Path) -> None:
    port = free_port(STREAM_HOST)
    url = f"http://{STREAM_HOST}:{port}/v1/chat/completions"
    async with stream_upstream(STREAM_HOST, port, STREAM_MODEL, log=tmp_path / "up.log"):
        rate = await python_sse_rate(url, SSE_BODY, JSON, streams=2, seconds=0.2)
        assert rate > 0
        if shutil.which("wrk"):
            rate = await wrk_sse_rate(
                url,
                SSE_BODY,
                JSON,
                streams=2,
                seconds=1,
                events_per_stream=6,
                workdir=tmp_path,
            )
            assert rate > 0
