"""Guarded background tasks for the sources: named, logged on unexpected exit, stoppable."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


def spawn(coro: Coroutine[Any, Any, None], *, name: str) -> asyncio.Task[None]:
    """Start ``coro`` as a named task whose failure or early return is logged, not lost."""
    task = asyncio.create_task(coro, name=name)
    task.add_done_callback(_report)
    return task


def _report(task: asyncio.Task[None]) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        log.error("task %s failed", task.get_name(), exc_info=exc)


async def stop(task: asyncio.Task[None]) -> None:
    """Cancel ``task`` and wait until it has really finished."""
    task.cancel()
    # gather, not ``await task``: our own cancellation must still propagate to the caller.
    await asyncio.gather(task, return_exceptions=True)
