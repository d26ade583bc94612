"""A pod whose metrics endpoint dies is avoided within 1 s and used again once it recovers.

Three idle, equal pods share steady traffic from three clients. Breaking one pod's
``/metrics`` (HTTP 500, or the connection dropped) leaves its last snapshot ageing in the
datastore; once older than the scheduler's candidate staleness (0.5 s) the pod is dropped
while the others are fresh. Every request sent after that point must avoid it; when its
metrics come back, so does its traffic.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from inference_gateway.scheduling.scheduler import DEFAULT_STALENESS
from tests.integration.scheduling.conftest import Cluster, cancel_all, cluster, specs

HOSTS = ("127.0.0.72", "127.0.0.73", "127.0.0.74")
VICTIM = "pod-1"
AVOIDED_WITHIN = 1.0
AFTER_STALE = 30


@dataclass
class Traffic:
    """Replies as ``(monotonic time sent, served by)``; each ``client`` is a closed loop."""

    c: Cluster
    sent: list[tuple[float, str]] = field(default_factory=list)

    async def client(self) -> None:
        while True:
            t = time.monotonic()
            reply = await self.c.chat(max_tokens=1)
            assert reply.status == 200, reply.body
            self.sent.append((t, str(reply.served_by)))

    def to(self, name: str, since: float) -> int:
        return sum(1 for t, who in self.sent if who == name and t >= since)

    def count(self, since: float) -> int:
        return sum(1 for t, _ in self.sent if t >= since)


@pytest.mark.parametrize("fault", ["500", "close"])
async def test_pod_with_dead_metrics_is_avoided_then_used_again(
    tmp_path: Path, fault: Literal["500", "close"]
) -> None:
    async with cluster(tmp_path, specs(HOSTS)) as c:
        traffic = Traffic(c)
        clients = [asyncio.create_task(traffic.client()) for _ in range(3)]
        try:
            await c.wait_until(lambda: traffic.to(VICTIM, 0.0) > 0, "traffic to the victim")

            broken_at = time.monotonic()
            c.pod(VICTIM).metrics_fault = fault

            def dropped() -> bool:
                age = c.endpoints()[VICTIM].metrics.age(time.monotonic())
                return age > DEFAULT_STALENESS and len(c.fresh()) == len(HOSTS) - 1

            stale_after = await c.wait_until(dropped, "the victim's metrics to go stale")
            stale_at = broken_at + stale_after
            assert stale_after < AVOIDED_WITHIN
            await c.wait_until(
                lambda: traffic.count(stale_at) >= AFTER_STALE, "traffic while the pod is stale"
            )
            assert traffic.to(VICTIM, stale_at) == 0, traffic.sent[-AFTER_STALE:]
            last = max(t for t, who in traffic.sent if who == VICTIM)
            assert last - broken_at < AVOIDED_WITHIN
            debug = await c.chat(headers={"x-gateway-debug": "true"})
            assert "; n=2; stale=1;" in debug.headers["x-gateway-debug"]
            assert debug.served_by != VICTIM

            fixed_at = time.monotonic()
            c.pod(VICTIM).metrics_fault = None
            await c.wait_until(
                lambda: traffic.to(VICTIM, fixed_at) > 0, "traffic to the recovered pod"
            )
        finally:
            await cancel_all(clients)
