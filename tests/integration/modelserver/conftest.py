"""Real aiohttp model-server stand-ins on loopback, serving metrics text the test controls."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web


class FakeModelServer:
    """``GET /metrics`` returns ``text`` with ``status``; ``hang`` makes it never answer."""

    def __init__(self, host: str, text: str, path: str = "/metrics") -> None:
        self.host = host
        self.path = path
        self.gzip = False
        self.chunked = False
        self.seen_headers: dict[str, str] = {}
        self.port = 0
        self.text = text
        self.status = 200
        self.hits = 0
        self.hang = False
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_get(self.path, self._metrics)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._release = asyncio.Event()

    async def _metrics(self, request: web.Request) -> web.StreamResponse:
        self.hits += 1
        self.seen_headers = dict(request.headers)
        if self.hang:
            await self._release.wait()
        if self.chunked:
            stream = web.StreamResponse(status=self.status)
            stream.content_type = "text/plain"
            await stream.prepare(request)
            half = len(self.text) // 2
            await stream.write(self.text[:half].encode())
            await stream.write(self.text[half:].encode())
            await stream.write_eof()
            return stream
        response = web.Response(text=self.text, status=self.status, content_type="text/plain")
        if self.gzip:
            response.enable_compression(web.ContentCoding.gzip)
        return response


@pytest.fixture
async def servers() -> AsyncIterator[Callable[[str, str], Awaitable[FakeModelServer]]]:
    """Start servers on distinct loopback addresses, all on the port the first one got."""
    started: list[FakeModelServer] = []

    async def start(host: str, text: str) -> FakeModelServer:
        server = FakeModelServer(host, text)
        await server.start(started[0].port if started else 0)
        started.append(server)
        return server

    yield start
    for server in started:
        await server.stop()


async def eventually(predicate: Callable[[], bool], within: float = 5.0) -> None:
    """Poll ``predicate`` on the loop until it holds; fail after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)
