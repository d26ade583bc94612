"""Suite-wide guards: no test may leak an asyncio task; hypothesis without deadlines."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from hypothesis import settings

# Per-example deadlines turn a busy 2-core CI machine into flaky failures; size is bounded
# by max_examples instead.
settings.register_profile("gateway", deadline=None, print_blob=True)
settings.load_profile("gateway")


LEAK_GRACE_SECONDS = 5.0


@pytest.fixture(autouse=True)
async def _no_leaked_tasks() -> AsyncIterator[None]:
    before = asyncio.all_tasks()
    yield
    current = asyncio.current_task()
    pending = [t for t in asyncio.all_tasks() - before if t is not current and not t.done()]
    if pending:
        # A server's own connection tasks may still be closing on a loaded machine; only
        # what outlives a grace period is a leak.
        _, still = await asyncio.wait(pending, timeout=LEAK_GRACE_SECONDS)
        leaked = list(still)
        for task in leaked:
            task.cancel()
        if leaked:
            await asyncio.gather(*leaked, return_exceptions=True)
            pytest.fail(f"test leaked tasks: {[t.get_name() for t in leaked]}")
