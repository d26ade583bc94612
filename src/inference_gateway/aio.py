"""The one way to start a background task: named, owned, and never dying silently.

``spawn`` names the task and, given an ``owner`` set, keeps it there until it ends, so
whoever shuts down can cancel and await everything it started (``stop_all``). A long-running
loop (``forever=True``) that returns or fails while nobody cancelled it is a bug, so it is
logged at once, with the traceback, rather than when someone finally awaits it.
Cancellation is the normal way out and is not logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


def spawn(
    coro: Coroutine[Any, Any, T],
    *,
    name: str,
    owner: set[asyncio.Task[Any]] | None = None,
    forever: bool = True,
) -> asyncio.Task[T]:
    task = asyncio.get_running_loop().create_task(coro, name=name)
    if owner is not None:
        owner.add(task)
        task.add_done_callback(owner.discard)
    task.add_done_callback(_log_exit if forever else _log_failure)
    return task


def _log_failure(task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        log.error("task %r failed", task.get_name(), exc_info=exc)


def _log_exit(task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        return
    if task.exception() is None:
        log.error("task %r returned although it should run until cancelled", task.get_name())
    else:
        _log_failure(task)


async def stop(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` and wait until it has really finished."""
    task.cancel()
    # gather, not ``await task``: our own cancellation must still propagate to the caller.
    await asyncio.gather(task, return_exceptions=True)


async def stop_all(tasks: Iterable[asyncio.Task[Any]], *, grace: float | None = None) -> None:
    """Cancel every task and wait for them (up to ``grace`` seconds)."""
    pending = [t for t in tasks if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=grace)
