"""A client hanging up frees everything: the EPP's in-flight slot and the pod's request,
for non-streamed requests too, and for a request still queued at the pod.

(``tests/integration/gateway/test_streams.py`` covers hang-ups mid-stream.)
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.integration.failures.conftest import gateway, pods, poll, total_in_flight
from tests.integration.scheduling.conftest import Cluster, cancel_all

LONG = 4000


async def send(c: Cluster, *, stream: bool = False) -> None:
    body = c.body(max_tokens=LONG, stream=stream)
    async with c.session.post(c.gateway.url + "/v1/chat/completions", json=body) as r:
        await r.read()
    raise AssertionError("a long request finished before the client hung up")


async def test_hanging_up_a_non_streamed_request_frees_the_slot_and_aborts_it(
    tmp_path: Path,
) -> None:
    async with gateway(tmp_path, pods(1)) as c:
        engine = c.pod("pod-0").engine
        task = asyncio.create_task(send(c))
        try:
            await poll(lambda: engine.num_running == 1, "the pod to run the request")
            assert total_in_flight(c) == 1
        finally:
            await cancel_all([task])
        await poll(lambda: engine.success["abort"] == 1, "the pod to abort the request")
        await poll(lambda: total_in_flight(c) == 0, "the in-flight slot to be released")
        assert engine.num_running == engine.num_waiting == 0
        assert c.gateway.datastore.failures(c.endpoints()["pod-0"].hostport) == 0


async def test_hanging_up_while_queued_at_the_pod_frees_that_request_only(tmp_path: Path) -> None:
    async with gateway(tmp_path, pods(1, max_num_seqs=1)) as c:
        engine = c.pod("pod-0").engine
        running = asyncio.create_task(send(c, stream=True))
        queued: asyncio.Task[None] | None = None
        try:
            await poll(lambda: engine.num_running == 1, "the first request to run")
            queued = asyncio.create_task(send(c))
            await poll(lambda: engine.num_waiting == 1, "the second request to queue")
            assert total_in_flight(c) == 2
            await cancel_all([queued])
            await poll(lambda: engine.success["abort"] == 1, "the pod to drop the queued one")
            await poll(lambda: total_in_flight(c) == 1, "its in-flight slot to be released")
            assert engine.num_waiting == 0 and engine.num_running == 1
        finally:
            await cancel_all([t for t in (running, queued) if t is not None])
        await poll(lambda: engine.success["abort"] == 2, "the pod to abort the running one")
        await poll(lambda: total_in_flight(c) == 0, "every in-flight slot to be released")
