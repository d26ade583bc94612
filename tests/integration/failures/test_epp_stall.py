"""An EPP that stalls is slow, not dead: Envoy keeps sending it requests.

guidellm at 30 requests/s on 2 busy cores (docs/benchmarks/HISTORY.md, session 22) starved
the EPP's event loop for 1.4-1.8 s at a time. Two health checks in a row then missed their
2 s timeout, Envoy marked the EPP down, and the 29-97 requests that arrived before the next
check passed failed with 503, though the EPP was serving every stream it had. A starved
loop is what a CPU-throttled EPP pod sees too. Envoy now waits 10 s for a health answer; a
dead EPP is still found at once, by its refused connections (``test_epp_restart.py``).

Here the EPP's loop (it runs in the test's process) is blocked for longer than two of the
old timeouts, while clients in other threads keep sending requests through Envoy, one every
100 ms: every request is served, and Envoy never counted a failed health check.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.integration.failures.conftest import envoy_sees_epp, gateway, pods, poll

STALL = 5.0
"""Longer than two 2 s timeouts and an interval; well inside one 10 s timeout."""


async def test_a_stalled_epp_is_not_marked_down(tmp_path: Path) -> None:
    async with gateway(tmp_path, pods(2), failure_mode="FailClose", time_scale=0.1) as c:
        url = c.gateway.url + "/v1/chat/completions"
        body = json.dumps(c.body(max_tokens=2)).encode()
        statuses: list[int] = []
        stop = threading.Event()
        workers: list[threading.Thread] = []

        def send() -> None:
            request = urllib.request.Request(
                url, data=body, headers={"content-type": "application/json"}
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as reply:
                    statuses.append(reply.status)
            except urllib.error.HTTPError as e:
                statuses.append(e.code)

        def arrivals() -> None:
            """A request every 100 ms whatever the others do, as independent clients send."""
            while not stop.wait(0.1):
                worker = threading.Thread(target=send, daemon=True)
                workers.append(worker)
                worker.start()

        clock = threading.Thread(target=arrivals, daemon=True)
        clock.start()
        try:
            await poll(lambda: len(statuses) >= 5, "requests through the gateway", within=10)
            before = len(statuses)
            time.sleep(STALL)  # noqa: ASYNC251 - the point: the EPP's loop stalls
            await poll(lambda: len(statuses) >= before + 70, "requests after the stall", 15)
        finally:
            stop.set()
            await asyncio.to_thread(clock.join, 30)
            for worker in workers:
                await asyncio.to_thread(worker.join, 30)
        assert set(statuses) == {200}, statuses
        assert await envoy_sees_epp(c)
        envoy = c.gateway.envoy
        assert envoy is not None
        stats = await envoy.admin("/stats?filter=cluster.epp.health_check.failure")
        assert stats.strip() == "cluster.epp.health_check.failure: 0", stats
