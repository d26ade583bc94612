"""A slow metrics endpoint never delays a pick; the pod it belongs to goes stale and is
avoided until its metrics answer in time again.

Scraping runs in its own task per endpoint with a 1 s timeout, and a pick reads the last
snapshot, so a ``/metrics`` that answers after 3 s holds up nothing but its own scrape.
"""

from __future__ import annotations

import time
from pathlib import Path

from inference_gateway.modelserver.scraper import DEFAULT_TIMEOUT
from inference_gateway.scheduling.scheduler import DEFAULT_STALENESS
from tests.integration.failures.conftest import gateway, pods, poll
from tests.integration.scheduling.conftest import Cluster

METRICS_DELAY = 3.0
QUICK = 1.0
"""A request slower than this would have waited on the slow scrape (it is < the delay)."""


async def timed_chats(c: Cluster, n: int) -> list[tuple[float, int, str | None]]:
    out = []
    for _ in range(n):
        start = time.monotonic()
        reply = await c.chat(max_tokens=4)
        out.append((time.monotonic() - start, reply.status, reply.served_by))
    return out


async def test_a_slow_metrics_endpoint_never_delays_a_pick(tmp_path: Path) -> None:
    assert DEFAULT_TIMEOUT < METRICS_DELAY and QUICK < METRICS_DELAY
    async with gateway(tmp_path, pods(2), time_scale=0.05) as c:
        slow = c.pod("pod-0")
        slow.metrics_delay = METRICS_DELAY
        while_scraping = await timed_chats(c, 20)
        assert all(status == 200 for _, status, _ in while_scraping)
        assert max(seconds for seconds, _, _ in while_scraping) < QUICK

        def stale() -> bool:
            age = c.endpoints()["pod-0"].metrics.age(time.monotonic())
            return age > DEFAULT_STALENESS

        await poll(stale, "pod-0's metrics to go stale")
        avoided = await timed_chats(c, 20)
        assert {(status, who) for _, status, who in avoided} == {(200, "pod-1")}
        assert max(seconds for seconds, _, _ in avoided) < QUICK

        slow.metrics_delay = 0.0
        await poll(lambda: not stale(), "pod-0's metrics to be fresh again", DEFAULT_TIMEOUT + 2)
        back = await timed_chats(c, 30)
        assert "pod-0" in {who for _, _, who in back}
