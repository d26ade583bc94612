"""The EPP under attack, as a process: ``python -m tests.hostile.child TRANSPORT LIMITS_JSON``.

It serves ext_proc (the real server, handler and transport; the scripted director of the unit
tests routes every request) on a free port, prints ``PORT <n>`` once serving, ``STALL <ms>``
at each new longest loop stall, and exits when stdin ends. Its memory is read from outside
(``/proc``), so what the test sees is the process's resident set, allocator and C-core
included.

The stall figure is the longest run of CPU the event loop's thread spent without getting
back to a 5 ms ticker: ``time.thread_time`` between two ticks. CPU time, not wall time, so
a busy shared machine that preempts the process does not count as a stall; grpcio's C-core
threads are not the loop's and do not count either.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from inference_gateway.extproc._inline.limits import Limits
from inference_gateway.extproc.server import ExtProcServer, ExtProcSettings
from tests.unit.extproc.test_server import ScriptedDirector

_TICK = 0.005


async def _ticker(longest: list[float]) -> None:
    """Print ``STALL <ms>`` at each new longest stall, so a child that must be killed has
    already told."""
    last = time.thread_time()
    while True:
        await asyncio.sleep(_TICK)
        now = time.thread_time()
        if now - last > longest[0]:
            longest[0] = now - last
            print(f"STALL {longest[0] * 1000:.1f}", flush=True)
        last = now


async def main(transport: str, limits: Limits) -> None:
    settings = ExtProcSettings(
        port=0,
        transport=transport,
        grace_seconds=0,
        max_body_bytes=1_000_000,
        limits=limits,
    )
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    longest = [0.0]
    async with ExtProcServer(ScriptedDirector(), settings) as server:
        await server.set_serving(True)
        ticker = asyncio.create_task(_ticker(longest), name="stall-ticker")
        print(f"PORT {server.port}", flush=True)
        await reader.read()  # the test closes stdin when it is done
        ticker.cancel()
    print(f"STALL {longest[0] * 1000:.1f}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Limits(**json.loads(sys.argv[2]))))
