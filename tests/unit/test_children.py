"""Stopping child processes: SIGTERM first, SIGKILL for one that ignores it, always reaped."""

from __future__ import annotations

import asyncio
import signal
import sys

from inference_gateway.children import stop_process

_CHILD = """
import signal, sys, time
if sys.argv[1] == "ignore":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
time.sleep(60)
"""


async def _start(mode: str) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _CHILD, mode, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    async with asyncio.timeout(10):
        assert await proc.stdout.readline() == b"ready\n"  # its signal handler is in place
    return proc


async def test_a_child_that_honours_sigterm_ends_with_it() -> None:
    proc = await _start("obey")
    await stop_process(proc, grace=10)
    assert proc.returncode == -signal.SIGTERM


async def test_a_child_that_ignores_sigterm_is_killed_after_the_grace() -> None:
    proc = await _start("ignore")
    await stop_process(proc, grace=0.2)
    assert proc.returncode == -signal.SIGKILL


async def test_stopping_a_finished_child_only_reaps_it() -> None:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await proc.wait()
    await stop_process(proc, grace=1)
    assert proc.returncode == 0
