"""A pod made slow receives clearly less traffic than its peers.

Three pods with two sequence slots each; one computes every engine step ten times slower.
A closed loop of ten clients keeps all slots busy, so the slow pod's waiting queue grows
and the queue-aware policies steer around it: both the legacy filter tree (least queue)
and the scorer mix (queue and KV scorers). A metrics-blind policy gives the slow pod a
third of the requests (measured: round robin 30 of 90, random 24; not asserted: those
runs take 6-7 s); these policies gave it 7-12 of 90, peers ~40 each.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from tests.integration.scheduling.conftest import Cluster, cluster, specs

HOSTS = ("127.0.0.69", "127.0.0.70", "127.0.0.71")
SLOW = "pod-1"
REQUESTS = 90
CLIENTS = 10


async def closed_loop(c: Cluster) -> Counter[str]:
    served: Counter[str] = Counter()
    todo = iter(range(REQUESTS))

    async def client() -> None:
        for _ in todo:
            reply = await c.chat(max_tokens=16)
            assert reply.status == 200, reply.body
            served[str(reply.served_by)] += 1

    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return served


async def run(tmp: Path, plugins: str) -> tuple[int, float]:
    async with cluster(tmp, specs(HOSTS, max_num_seqs=2), plugins=plugins, time_scale=0.5) as c:
        c.pod(SLOW).engine.slowdown = 10.0
        served = await closed_loop(c)
    assert sum(served.values()) == REQUESTS
    peers = [served[n] for n in c.names if n != SLOW]
    return served[SLOW], sum(peers) / len(peers)


@pytest.mark.parametrize("plugins", ["default", "scorer-mix", "predicted"])
async def test_slow_pod_gets_clearly_less_traffic(tmp_path: Path, plugins: str) -> None:
    slow, peers = await run(tmp_path, plugins)
    assert slow < 0.6 * peers, (slow, peers)
