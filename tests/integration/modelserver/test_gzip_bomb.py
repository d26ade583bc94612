"""A gzip bomb on a real loopback server: every scrape transport stops at the size cap.

The body inflates to 64 MiB of zeros from about 64 KB on the wire; the cap is 1 MiB. Python
allocations during the fetch are traced, so a client that inflates the whole body first
(what the lean client and the aiohttp path both did) fails the test on memory, not on time.
"""

from __future__ import annotations

import tracemalloc
import zlib
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from inference_gateway.modelserver._fetch import AiohttpFetchers, LeanFetcher, ScrapeFailure

CAP = 1024 * 1024
INFLATED = 64 * 1024 * 1024


def _bomb() -> bytes:
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1024 * 1024)
    out = [z.compress(zeros) for _ in range(INFLATED // len(zeros))]
    return b"".join(out) + z.flush()


BOMB = _bomb()


@pytest.fixture(params=[False, True], ids=["content-length", "chunked"])
async def bomb_port(request: pytest.FixtureRequest) -> AsyncIterator[int]:
    chunked: bool = request.param

    async def metrics(req: web.Request) -> web.StreamResponse:
        headers = {"Content-Encoding": "gzip", "Content-Type": "text/plain"}
        if not chunked:
            return web.Response(body=BOMB, headers=headers)
        stream = web.StreamResponse(headers=headers)
        stream.enable_chunked_encoding()
        await stream.prepare(req)
        for i in range(0, len(BOMB), 16 * 1024):
            await stream.write(BOMB[i : i + 16 * 1024])
        await stream.write_eof()
        return stream

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.11", 0).start()
    try:
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


async def _peak_during(fetch: AsyncIterator[None]) -> int:
    tracemalloc.start()
    try:
        async for _ in fetch:
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


async def test_the_lean_client_stops_inflating_at_the_cap(bomb_port: int) -> None:
    assert len(BOMB) < 128 * 1024
    fetcher = LeanFetcher("127.0.0.11", bomb_port, "/metrics", gzip=True, max_body=CAP, timeout=5)

    async def fetch() -> AsyncIterator[None]:
        with pytest.raises(ScrapeFailure) as failed:
            await fetcher.fetch()
        assert failed.value.reason == "too_large"
        yield None

    try:
        peak = await _peak_during(fetch())
    finally:
        fetcher.close()
    assert peak < 8 * CAP


async def test_the_aiohttp_path_stops_inflating_at_the_cap(bomb_port: int) -> None:
    fetchers = AiohttpFetchers(limit_per_host=1, gzip=True, max_body=CAP, timeout=5)
    fetcher = fetchers.fetcher(f"http://127.0.0.11:{bomb_port}/metrics")

    async def fetch() -> AsyncIterator[None]:
        with pytest.raises(ScrapeFailure) as failed:
            await fetcher.fetch()
        assert failed.value.reason == "too_large"
        yield None

    try:
        peak = await _peak_during(fetch())
    finally:
        await fetchers.close()
    assert peak < 8 * CAP


async def test_a_gzip_body_under_the_cap_still_arrives_whole(bomb_port: int) -> None:
    fetchers = AiohttpFetchers(limit_per_host=1, gzip=True, max_body=INFLATED, timeout=5)
    lean = LeanFetcher("127.0.0.11", bomb_port, "/metrics", gzip=True, max_body=INFLATED, timeout=5)
    try:
        via_aiohttp = await fetchers.fetcher(f"http://127.0.0.11:{bomb_port}/metrics").fetch()
        via_lean = await lean.fetch()
    finally:
        lean.close()
        await fetchers.close()
    assert via_aiohttp == via_lean == bytes(INFLATED)
