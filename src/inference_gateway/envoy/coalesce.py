"""Run a change callback at most once per turn of the event loop, however often it fires.

The datastore calls its change callbacks after every pod event and after every step of a
bulk sync: 50 times while a file of 5,000 Pods is applied, and once per Pod while the
Kubernetes source lists or watches them one by one. A callback that rewrites a file Envoy
watches (the fallback endpoints, the BBR routes) need only see the state once the burst
has been applied, so ``once_per_turn`` defers it with ``call_soon``: every change made in
the same turn of the loop costs one write, made before the loop waits for I/O again.
Without a running loop (a synchronous caller) the callback runs at once, as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


def once_per_turn(callback: Callable[[], None]) -> Callable[[], None]:
    """``callback``, deferred to the end of the loop's current turn and deduplicated."""
    pending = False

    def run() -> None:
        nonlocal pending
        pending = False
        callback()

    def fire() -> None:
        nonlocal pending
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            callback()
            return
        if not pending:
            pending = True
            loop.call_soon(run)

    return fire
