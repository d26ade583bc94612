"""Waiting for a condition on the event loop, and stalling the loop on purpose."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def until(predicate: Callable[[], bool], within: float = 5.0) -> None:
    """Poll ``predicate`` every few ms; fail the test if it is not true ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.002)


def hold_the_loop(seconds: float) -> None:
    """Keep the loop's thread busy: the stall the EPP's own work, or a starved CPU, causes."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass
