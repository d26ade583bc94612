"""``bench soak`` probes: the gateway process's RSS, Envoy's heap and where Python memory grew.

Separate from the run loop because each is a one-shot reading of a process (``/proc``, the
Envoy admin ``/memory`` endpoint, two ``tracemalloc`` snapshots) that the loop only samples.
"""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import aiohttp

from inference_gateway.app import Gateway

_TOP_GROWTH = 8


def top_growth(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot) -> list[str]:
    stats = after.compare_to(before, "lineno")
    return [
        f"{stat.size_diff / 2**20:+.2f} MB in {stat.count_diff:+d} blocks: {stat.traceback[0]}"
        for stat in stats[:_TOP_GROWTH]
        if stat.size_diff > 0
    ]


def rss_mb(pid: int | str = "self") -> float:
    """Resident set size from ``/proc/<pid>/status`` (Linux), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no VmRSS for process {pid}")


async def envoy_heap_mb(gw: Gateway) -> float | None:
    if gw.envoy is None:
        return None
    try:
        memory = json.loads(await gw.envoy.admin("/memory"))
        return int(memory["allocated"]) / 2**20
    except (aiohttp.ClientError, ValueError, KeyError, OSError):
        return None
