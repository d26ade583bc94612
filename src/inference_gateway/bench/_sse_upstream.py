"""The streaming upstream of ``bench overhead``, in a process of its own.

Run in the bench's process it shared one thread with the in-process EPP, so any CPU the
EPP spent was taken from the upstream too and "SSE through the gateway" measured that
contention, not the response path. As a child (``python -m
inference_gateway.bench._sse_upstream``) it has its own interpreter and event loop, like a
real model server. Non-streaming requests get one JSON completion; streaming ones get
``max_tokens`` SSE events, each its own write as a model server emits tokens, then
``data: [DONE]``; with ``bench_token_gap_ms`` in the body the events are that far apart, as
real tokens are, so each reaches Envoy as a chunk of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web

from inference_gateway.bench._overhead_load import METRICS_TEXT, completion_json
from inference_gateway.children import die_with_parent, stop_process

MODULE = "inference_gateway.bench._sse_upstream"
READY_TIMEOUT = 15.0
STOP_GRACE = 5.0
_POLL_SECONDS = 0.05


def stream_app(model: str) -> web.Application:
    async def complete(request: web.Request) -> web.StreamResponse:
        data = json.loads(await request.read())
        if not data.get("stream"):
            return web.Response(body=completion_json(model), content_type="application/json")
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        event = b'data: {"object":"chat.completion.chunk","model":"%s","choices":[]}\n\n' % (
            model.encode()
        )
        gap = float(data.get("bench_token_gap_ms", 0)) / 1000
        try:
            await resp.prepare(request)
            for i in range(int(data.get("max_tokens", 100))):
                if gap and i:
                    await asyncio.sleep(gap)
                await resp.write(event)
            await resp.write(b"data: [DONE]\n\n")
            await resp.write_eof()
        except ConnectionResetError:
            pass  # the load tool cut the stream off when its time was up
        return resp

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(text=METRICS_TEXT)

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/chat/completions", complete)
    app.router.add_get("/metrics", metrics)
    return app


async def serve(host: str, port: int, model: str) -> None:
    """Serve until SIGTERM or SIGINT, then close (cutting off streams still open)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(stream_app(model), access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model", required=True)
    args = parser.parse_args(argv)
    die_with_parent()
    coro = serve(args.host, args.port, args.model)
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
        return
    uvloop.run(coro)


async def _accepting(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection(host, port)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


@asynccontextmanager
async def stream_upstream(
    host: str, port: int, model: str, *, log: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    """The upstream child on ``host:port``, accepting connections; stopped on exit.

    Its stderr goes to ``log`` (quoted when it fails to start).
    """
    with log.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            MODULE,
            "--host",
            host,
            "--port",
            str(port),
            "--model",
            model,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not await _accepting(host, port):
            if proc.returncode is not None or time.monotonic() > deadline:
                why = (
                    f"exited with {proc.returncode}"
                    if proc.returncode is not None
                    else (f"not accepting after {READY_TIMEOUT:g}s")
                )
                tail = (await asyncio.to_thread(log.read_text, errors="replace"))[-2000:]
                raise RuntimeError(f"SSE upstream on {host}:{port} {why}:\n{tail}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), _POLL_SECONDS)
        yield proc
    finally:
        await stop_process(proc, STOP_GRACE)


if __name__ == "__main__":
    main()
