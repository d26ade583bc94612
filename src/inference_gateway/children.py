"""Child processes (Envoy, benchmark upstreams): tied to our lifetime, and stopped for good.

A gateway or benchmark killed with SIGKILL runs no cleanup, so each child asks Linux to send
it SIGTERM when its parent dies; a normal stop is SIGTERM, then SIGKILL after a grace period,
and the child is always reaped so no zombie or port is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Linux: SIGTERM this process when its parent dies (elsewhere a no-op).

    Safe as a ``preexec_fn`` (it runs in the forked child before exec): it takes no lock and
    does not log.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


async def stop_process(proc: asyncio.subprocess.Process, grace: float) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; always reaps the child."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
    await proc.wait()
