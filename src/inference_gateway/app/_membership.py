"""Pool membership changes reach the scheduler's stateful plugins one per turn of the loop.

The datastore applies a pool change in steps of up to ``SYNC_STEP`` pods and tells its
listeners within the step. Forgetting a server drops every prefix block the index holds
for it (up to ``lruCapacityPerServer``, 31,250 in the built-in configs): ~11 ms when full
on a busy 2-core machine, so a reload that moved a hundred warm pods stalled every request
in flight for over a second. Queued here, each change waits for its own turn, in order (a
pod that leaves and comes back is forgotten before it joins). Until its turn, a gone
server's blocks only cost memory: nothing scores an endpoint the datastore no longer lists.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Protocol

from inference_gateway.datastore import Endpoint


class Membership(Protocol):
    """What the scheduler offers its stateful plugins (``PluginScheduler``)."""

    def joined(self, endpoint_name: str) -> None: ...

    def forget(self, endpoint_name: str) -> None: ...


class TellScheduler:
    """A datastore listener that queues membership changes; ``run`` applies them."""

    def __init__(self, scheduler: Membership) -> None:
        self._scheduler = scheduler
        self._changes: deque[tuple[Callable[[str], None], str]] = deque()
        self._pending = asyncio.Event()
        self._settled = asyncio.Event()
        self._settled.set()
        self.applied = 0
        """Changes applied so far."""

    def endpoint_added(self, endpoint: Endpoint) -> None:
        self._queue(self._scheduler.joined, endpoint.name)

    def endpoint_removed(self, endpoint: Endpoint) -> None:
        self._queue(self._scheduler.forget, endpoint.name)

    def _queue(self, tell: Callable[[str], None], name: str) -> None:
        self._changes.append((tell, name))
        self._settled.clear()
        self._pending.set()

    @property
    def queued(self) -> int:
        return len(self._changes)

    async def settled(self) -> None:
        """Wait until every change queued so far has been applied."""
        await self._settled.wait()

    async def run(self) -> None:
        """Apply the queued changes, one per turn of the loop, until cancelled."""
        changes = self._changes
        while True:
            await self._pending.wait()
            self._pending.clear()
            while changes:
                tell, name = changes.popleft()
                tell(name)
                self.applied += 1
                await asyncio.sleep(0)
            self._settled.set()
