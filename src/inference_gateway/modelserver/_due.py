"""A queue of items by due time, and the loop that starts each one as it falls due.

The metrics scraper keeps every endpoint here between scrapes, so a pool of thousands has
one sleeping task (``run``) instead of one per endpoint. A push earlier than the current
sleep wakes ``run`` at once; items due within ``batch`` of now start together, which costs
one wake-up for the lot and never spins on a timer fired just before a sub-millisecond due
time (uvloop keeps time in whole milliseconds).
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class DueQueue(Generic[T]):
    def __init__(self, *, batch: float) -> None:
        self._batch = batch
        self._heap: list[tuple[float, int, T]] = []
        self._seq = 0
        """Tie-breaker, so items themselves are never compared."""
        self._wake: asyncio.Future[None] | None = None
        self._wake_at = float("inf")

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, item: T, at: float) -> None:
        """Start ``item`` at loop time ``at`` (or up to ``batch`` earlier)."""
        self._seq += 1
        heapq.heappush(self._heap, (at, self._seq, item))
        if at < self._wake_at and self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    def clear(self) -> None:
        self._heap.clear()

    async def run(self, start: Callable[[T], None]) -> None:
        """Call ``start(item)`` for every item as it falls due, until cancelled."""
        loop = asyncio.get_running_loop()
        heap = self._heap
        while True:
            now = loop.time() + self._batch
            while heap and heap[0][0] <= now:
                start(heapq.heappop(heap)[2])
            self._wake_at = heap[0][0] if heap else float("inf")
            self._wake = wake = loop.create_future()
            timer = loop.call_at(self._wake_at, _wake_up, wake) if heap else None
            try:
                await wake
            finally:
                if timer is not None:
                    timer.cancel()
                self._wake, self._wake_at = None, float("inf")


def _wake_up(wake: asyncio.Future[None]) -> None:
    if not wake.done():
        wake.set_result(None)
