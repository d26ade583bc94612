"""The guarded-task helper: named, tracked, and loud about unexpected exits."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from inference_gateway.aio import spawn, stop, stop_all


async def _fail() -> None:
    raise RuntimeError("boom")


async def _return() -> int:
    return 1


async def _forever(started: asyncio.Event) -> None:
    started.set()
    await asyncio.Event().wait()


async def test_failure_and_unexpected_return_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    owner: set[asyncio.Task[Any]] = set()
    with caplog.at_level(logging.ERROR):
        failing = spawn(_fail(), name="failing", owner=owner)
        returning = spawn(_return(), name="returning", owner=owner)
        finite = spawn(_return(), name="finite", owner=owner, forever=False)
        await asyncio.gather(failing, returning, finite, return_exceptions=True)
    messages = [r.getMessage() for r in caplog.records]
    assert any("'failing' failed" in m for m in messages)
    assert any("'returning' returned" in m for m in messages)
    assert not any("finite" in m for m in messages)
    assert owner == set()


async def test_cancelled_task_is_quiet_and_leaves_its_owner(
    caplog: pytest.LogCaptureFixture,
) -> None:
    owner: set[asyncio.Task[Any]] = set()
    started = asyncio.Event()
    with caplog.at_level(logging.ERROR):
        task = spawn(_forever(started), name="loop x", owner=owner)
        assert task.get_name() == "loop x" and owner == {task}
        await started.wait()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert caplog.records == []
    assert owner == set()


async def test_stop_all_cancels_everything_still_running() -> None:
    owner: set[asyncio.Task[Any]] = set()
    started = asyncio.Event()
    spawn(_forever(started), name="watcher", owner=owner)
    assert await spawn(_return(), name="finite", owner=owner, forever=False) == 1
    await started.wait()
    assert [t.get_name() for t in owner] == ["watcher"]
    await stop_all(owner)
    assert owner == set()


async def test_stop_waits_for_the_task_and_keeps_the_callers_cancellation() -> None:
    started = asyncio.Event()
    task = spawn(_forever(started), name="loop")
    await started.wait()
    await stop(task)
    assert task.cancelled()
