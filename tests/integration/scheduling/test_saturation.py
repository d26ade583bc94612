"""With every pod saturated, Sheddable requests get 429 and Critical ones are still served.

Pods run two sequences at a time at real speed; Critical requests of 4000 tokens sent
through the gateway fill every pod's waiting queue past the saturation detector's
threshold of 5. Once the EPP's datastore shows that, Sheddable requests are answered 429
by the gateway itself (none reaches a pod) while Critical ones are admitted, queue at the
pods, and complete once the long requests' clients leave.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from inference_gateway.simulator.server import SimPod
from tests.integration.scheduling.conftest import (
    BASE,
    Cluster,
    Reply,
    cancel_all,
    cluster,
    held,
    model_doc,
    specs,
)

HOSTS = ("127.0.0.67", "127.0.0.68")
CRITICAL, SHEDDABLE = "critical-chat", "batch-chat"
QUEUE_THRESHOLD = 5
MAX_HOGS = 40


def queued(pod: SimPod) -> int:
    return pod.engine.num_waiting + pod.engine.num_pending


def accepted(c: Cluster) -> int:
    return sum(p.engine.num_running + queued(p) for p in c.pods)


async def saturate(c: Cluster) -> list[asyncio.Task[None]]:
    """Send long Critical requests one by one until every pod queues more than the threshold."""
    hogs: list[asyncio.Task[None]] = []
    try:
        while not all(queued(p) > QUEUE_THRESHOLD + 1 for p in c.pods):
            assert len(hogs) < MAX_HOGS, [queued(p) for p in c.pods]
            hogs.append(await held(c, c.gateway.url, CRITICAL))
    except BaseException:
        await cancel_all(hogs)
        raise
    return hogs


async def test_saturated_pool_sheds_sheddable_and_serves_critical(tmp_path: Path) -> None:
    models = [model_doc(CRITICAL, "Critical", [BASE]), model_doc(SHEDDABLE, "Sheddable", [BASE])]
    async with cluster(tmp_path, specs(HOSTS, max_num_seqs=2), models=models) as c:
        hogs = await saturate(c)
        critical: list[asyncio.Task[Reply]] = []
        try:

            def saturated() -> bool:
                fresh = c.fresh()
                return len(fresh) == len(HOSTS) and all(
                    e.metrics.waiting > QUEUE_THRESHOLD for e in fresh.values()
                )

            await c.wait_until(saturated, "the datastore to show every pod saturated")
            before = accepted(c)
            shed = await asyncio.gather(*(c.chat(SHEDDABLE) for _ in range(6)))
            for reply in shed:
                assert reply.status == 429, reply.body
                error = reply.json()["error"]
                assert error["type"] == "RateLimitError"
                assert error["code"] == 429 and error["message"]
                assert {k.lower(): v for k, v in reply.headers.items()}["retry-after"] == "1"
                assert reply.served_by is None
            assert accepted(c) == before, "a shed request reached a pod"

            critical += [asyncio.create_task(c.chat(CRITICAL, max_tokens=4)) for _ in range(3)]
            await c.wait_until(lambda: accepted(c) == before + 3, "Critical requests to queue")
            assert all(not t.done() for t in critical)
            await cancel_all(hogs)
            async with asyncio.timeout(3):
                replies = await asyncio.gather(*critical)
        finally:
            await cancel_all(hogs + critical)
    for reply in replies:
        assert reply.status == 200, reply.body
        assert reply.served_by in c.names
        assert reply.json()["usage"]["completion_tokens"] == 4
