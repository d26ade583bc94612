"""Guarded background tasks: named, tracked for shutdown, and never dying silently."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
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
    """Start ``coro`` as a named task; log if it fails, or returns although ``forever``.

    ``owner`` holds the task until it is done, so whoever shuts down can cancel and await
    everything it started.
    """
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
