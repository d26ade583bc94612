"""Driving an engine in wall time, for the HTTP front.

Virtual time is ``(loop.time() - start) / time_scale``. One task advances the engine to the
current virtual time, publishes progress to the requests' tickets, and sleeps until the end
of the next engine step (at least ``MIN_TICK`` of wall time, so a tiny time scale coalesces
steps into bursts instead of spinning). When the engine is idle it waits on an
``asyncio.Event`` that ``submit`` sets, so an idle pod costs nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from dataclasses import dataclass, field

from inference_gateway.simulator.engine import Engine
from inference_gateway.simulator.records import RequestRecord, SimRequest

MIN_TICK = 0.001
"""Shortest wall-time sleep between engine advances (seconds)."""


@dataclass(slots=True, eq=False)
class Ticket:
    """A request in flight: the engine's record plus a wake-up for whoever awaits it."""

    record: RequestRecord
    streaming: bool
    tokens: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def done(self) -> bool:
        return self.record.done


class RealtimeEngine:
    """Owns the engine's clock in wall time; ``run()`` is the driver task's body."""

    def __init__(self, engine: Engine, *, time_scale: float = 1.0) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        self.engine = engine
        self.time_scale = time_scale
        self._loop = asyncio.get_running_loop()
        self._start = self._loop.time() - engine.now * time_scale
        self._wake = asyncio.Event()
        self._tickets: dict[str, Ticket] = {}
        self._streams: dict[str, Ticket] = {}

    def now(self) -> float:
        """Current virtual time."""
        return (self._loop.time() - self._start) / self.time_scale

    def submit(self, req: SimRequest, *, streaming: bool) -> Ticket:
        """Hand a request to the engine now; raises the engine's refusals unchanged."""
        self.sync()
        record = self.engine.submit(req, self.now())
        ticket = Ticket(record, streaming)
        self._tickets[req.request_id] = ticket
        if streaming:
            self._streams[req.request_id] = ticket
        self._wake.set()
        return ticket

    def abort(self, request_id: str) -> None:
        """The client left: drop its request from the engine (vLLM aborts it too)."""
        self.sync()
        if self.engine.abort(request_id) is not None:
            self._tickets.pop(request_id, None)
            self._streams.pop(request_id, None)
            self._wake.set()

    def sync(self) -> None:
        """Bring the engine up to now (so gauges are current) and publish what finished."""
        self._publish(self.engine.advance(self.now()))

    async def run(self) -> None:
        """Advance the engine forever (until cancelled)."""
        engine = self.engine
        while True:
            self._publish(engine.advance(self.now()))
            # token granularity only matters to streams; others need just the finish
            t_next = engine.next_step_time() if self._streams else engine.next_event_time()
            self._wake.clear()
            if math.isinf(t_next):
                await self._wake.wait()
                continue
            delay = max((t_next - self.now()) * self.time_scale, MIN_TICK)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()

    def _publish(self, finished: list[RequestRecord]) -> None:
        for record in finished:
            ticket = self._tickets.pop(record.request_id, None)
            self._streams.pop(record.request_id, None)
            if ticket is not None:
                ticket.tokens = record.output_tokens
                ticket.changed.set()
        engine = self.engine
        for rid, ticket in self._streams.items():
            tokens = engine.tokens_generated(rid)
            if tokens != ticket.tokens:
                ticket.tokens = tokens
                ticket.changed.set()
