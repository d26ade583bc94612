"""The one way to start a background task: named, logged when it dies, and owned.

``spawn`` registers the task in the caller's ``tasks`` set (removed again when it ends),
so whoever owns that set can cancel and await everything at shutdown with ``stop_all``.
A task that returns or fails while nobody cancelled it is a bug in a long-running loop,
so it is logged at once (with the traceback) rather than when someone finally awaits it.
Cancellation is the normal way out and is not logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


def spawn(
    coro: Coroutine[Any, Any, T], *, name: str, tasks: set[asyncio.Task[Any]]
) -> asyncio.Task[T]:
    task = asyncio.get_running_loop().create_task(coro, name=name)
    tasks.add(task)
    task.add_done_callback(_reporter(tasks))
    return task


def _reporter(tasks: set[asyncio.Task[Any]]) -> Callable[[asyncio.Task[Any]], None]:
    def done(task: asyncio.Task[Any]) -> None:
        tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("task %s failed", task.get_name(), exc_info=exc)
        else:
            log.warning("task %s exited unexpectedly", task.get_name())

    return done


async def stop_all(tasks: set[asyncio.Task[Any]], *, grace: float | None = None) -> None:
    """Cancel every task in ``tasks`` and wait for them (up to ``grace`` seconds)."""
    pending = [t for t in tasks if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=grace)
