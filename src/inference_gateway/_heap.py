"""Keeping what lives for the whole process out of the cyclic GC's full passes.

A full (generation 2) collection walks every tracked object and holds the event loop while
it does. Right after startup that is ~100k objects (mostly module and class objects of
pydantic, grpc, aiohttp and the Kubernetes client), which on a busy 2-core box is 50-130 ms
per pass, and loading a big pool triggers several passes: ``bench pool-load`` found them to
be the longest loop stalls left once parsing and applying were chunked. ``gc.freeze`` moves
every object alive now to a permanent generation that collections skip (CPython's advice
for servers: https://docs.python.org/3/library/gc.html#gc.freeze). Call it from a process's
entry point, never from a library or per test: frozen garbage is never collected.
"""

from __future__ import annotations

import gc


def freeze_long_lived() -> int:
    """Collect once, then exempt every surviving object from later collections.

    Returns how many objects are frozen in all (``gc.get_freeze_count``).
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
