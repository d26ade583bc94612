"""The open-loop client: every request leaves at its scheduled time, answered or not.

Open loop matters here: a closed loop slows down when the gateway does and hides
saturation, while real users keep arriving. Each outcome records who served it (the
simulator's ``x-served-by`` header), the time to the first streamed bytes and the time to
the last. A 429 without ``x-served-by`` comes from the gateway itself: the request was
shed. ``Tally`` keeps the running counts that the live view reads.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from inference_gateway.demo.workload import DemoRequest
from inference_gateway.demo.world import CRITICALITY
from inference_gateway.simulator.server import SERVED_BY

_CONNECTIONS = 1024
LATE = "late"


@dataclass(frozen=True, slots=True)
class Outcome:
    index: int
    model: str
    criticality: str
    stream: bool
    status: int
    """HTTP status; 0 when no response came back (connection error or timeout)."""
    pod: str | None
    ttft: float | None
    """Seconds to the first body bytes of a streamed answer (None when not streamed)."""
    e2e: float | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.error is None

    @property
    def shed(self) -> bool:
        return self.status == 429 and self.pod is None

    @property
    def late(self) -> bool:
        """Still unanswered when the run ended (the client gave up on it)."""
        return self.error == LATE


@dataclass
class Tally:
    """Running counts for the live view; only the event loop thread touches it."""

    sent: int = 0
    ok: int = 0
    errors: int = 0
    shed: Counter[str] = field(default_factory=Counter)
    served: Counter[str] = field(default_factory=Counter)
    finished_at: list[float] = field(default_factory=list)

    @property
    def in_flight(self) -> int:
        return self.sent - self.ok - self.errors - sum(self.shed.values())

    def record(self, outcome: Outcome, now: float) -> None:
        if outcome.ok:
            self.ok += 1
        elif outcome.shed:
            self.shed[outcome.criticality] += 1
        else:
            self.errors += 1
        if outcome.pod is not None and outcome.ok:
            self.served[outcome.pod] += 1
        self.finished_at.append(now)

    def rate(self, now: float, window: float = 2.0) -> float:
        """Answers per second over the last ``window`` seconds."""
        recent = 0
        for t in reversed(self.finished_at):
            if t < now - window:
                break
            recent += 1
        return recent / window


async def send(session: aiohttp.ClientSession, url: str, req: DemoRequest) -> Outcome:
    """One request, read to the end; failures become outcomes, never exceptions."""
    crit = CRITICALITY.get(req.model, "Standard")
    t0 = time.perf_counter()
    ttft: float | None = None
    headers = {"content-type": "application/json", "x-request-id": f"demo-{req.index}"}
    try:
        async with session.post(url + req.path, data=req.body(), headers=headers) as resp:
            pod = resp.headers.get(SERVED_BY)
            if req.stream and resp.status == 200:
                async for chunk in resp.content.iter_any():
                    if ttft is None and chunk:
                        ttft = time.perf_counter() - t0
            else:
                await resp.read()
            e2e = time.perf_counter() - t0
            return Outcome(req.index, req.model, crit, req.stream, resp.status, pod, ttft, e2e)
    except (aiohttp.ClientError, TimeoutError) as e:
        error = type(e).__name__
        return Outcome(req.index, req.model, crit, req.stream, 0, None, None, None, error)


async def run_load(
    url: str,
    requests: list[DemoRequest],
    *,
    tally: Tally,
    stop: asyncio.Event,
    request_timeout: float,
    drain_seconds: float,
) -> list[Outcome]:
    """Send ``requests`` on schedule; wait up to ``drain_seconds`` for the stragglers.

    Requests still unanswered after the drain (or when ``stop`` is set) are cancelled and
    counted as errors, so the result always has one outcome per request sent.
    """
    loop = asyncio.get_running_loop()
    timeout = aiohttp.ClientTimeout(total=request_timeout)
    connector = aiohttp.TCPConnector(limit=_CONNECTIONS)
    outcomes: list[Outcome] = []
    tasks: dict[asyncio.Task[Outcome], DemoRequest] = {}

    def finished(task: asyncio.Task[Outcome]) -> None:
        if not task.cancelled():
            outcome = task.result()
            outcomes.append(outcome)
            tally.record(outcome, loop.time())

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = loop.time()
        try:
            for req in requests:
                delay = start + req.arrival - loop.time()
                if delay > 0 and await _stopped(stop, delay):
                    break
                task = asyncio.create_task(send(session, url, req), name=f"demo-{req.index}")
                task.add_done_callback(finished)
                tasks[task] = req
                tally.sent += 1
            await _drain({t for t in tasks if not t.done()}, stop, drain_seconds)
        finally:
            leftover = [t for t in tasks if not t.done()]
            for task in leftover:
                task.cancel()
            await asyncio.gather(*leftover, return_exceptions=True)
            for task in leftover:
                req = tasks[task]
                crit = CRITICALITY.get(req.model, "Standard")
                late = Outcome(req.index, req.model, crit, req.stream, 0, None, None, None, LATE)
                outcomes.append(late)
                tally.record(late, loop.time())
    outcomes.sort(key=lambda o: o.index)
    return outcomes


async def _drain(pending: set[asyncio.Task[Outcome]], stop: asyncio.Event, limit: float) -> None:
    """Until every task is done, ``stop`` is set or ``limit`` seconds have passed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    waiter: asyncio.Task[Any] = asyncio.create_task(stop.wait(), name="demo-stop")
    waiting: set[asyncio.Task[Any]] = set(pending)
    try:
        while waiting and not stop.is_set() and loop.time() < deadline:
            _, still = await asyncio.wait(
                waiting | {waiter},
                timeout=deadline - loop.time(),
                return_when=asyncio.FIRST_COMPLETED,
            )
            waiting = still - {waiter}
    finally:
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)


async def _stopped(stop: asyncio.Event, delay: float) -> bool:
    """Wait ``delay`` seconds unless ``stop`` is set first; True if it was."""
    try:
        await asyncio.wait_for(stop.wait(), delay)
    except TimeoutError:
        return False
    return True
