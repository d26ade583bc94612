"""SSE client of ``bench overhead`` when ``wrk`` is missing, in a process of its own.

Like the upstream, it must not share a thread with the in-process EPP it is measuring.
``streams`` closed-loop connections each post the streaming request again and again until
``seconds`` have passed (a started stream is read to its end) and count ``data:`` lines.
Prints one JSON line: ``{"events", "streams", "errors", "seconds"}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Sequence
from typing import Any

import aiohttp

MODULE = "inference_gateway.bench._sse_client"


async def count_events(
    url: str, body: bytes, headers: dict[str, str], *, streams: int, seconds: float
) -> dict[str, Any]:
    events = completed = errors = 0
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=10)
    connector = aiohttp.TCPConnector(limit=streams)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = time.perf_counter()
        deadline = start + seconds

        async def worker() -> None:
            nonlocal events, completed, errors
            while time.perf_counter() < deadline:
                async with session.post(url, data=body, headers=headers) as resp:
                    if resp.status != 200:
                        errors += 1
                    async for line in resp.content:
                        if line.startswith(b"data: "):
                            events += 1
                completed += 1

        await asyncio.gather(*(worker() for _ in range(streams)))
        elapsed = time.perf_counter() - start
    return {"events": events, "streams": completed, "errors": errors, "seconds": elapsed}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--body", required=True, help="Request body (JSON text).")
    parser.add_argument("--header", action="append", default=[], help="'name: value'")
    parser.add_argument("--streams", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    args = parser.parse_args(argv)
    headers = dict(h.split(": ", 1) for h in args.header)
    coro = count_events(
        args.url, args.body.encode(), headers, streams=args.streams, seconds=args.seconds
    )
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(coro)
    else:
        result = uvloop.run(coro)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
