"""A pod dying mid-response: what the client gets, and the EPP keeps nothing behind.

What the client sees is what HTTP allows once a 200 has gone out: the events sent so far,
then the connection closes without the chunked terminator (no ``[DONE]``), which aiohttp
reports as ``ClientPayloadError``. An event still waiting for the EPP's answer when the
reset arrives is lost with the stream (Envoy resets the downstream at once). The EPP
cannot add an error event: Envoy does not tell an ext_proc server that the upstream
reset, it cancels the ext_proc stream exactly as it does when the client hangs up, so the
EPP releases the request without blaming the pod. (A pod dying before Envoy has passed
the 200 on gives the client Envoy's 502 instead, with the same EPP-side picture.)
The pod's failure shows in what follows: a request to a pod that drops connections gets
Envoy's 503 naming that upstream, which passive health records.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import aiohttp
import pytest

from inference_gateway.datastore import Datastore
from tests.integration.failures.conftest import gateway, pods, poll, total_in_flight

DIE_AFTER = 10


def has_failures(ds: Datastore, hostport: str, n: int) -> bool:
    return ds.failures(hostport) == n


async def test_a_pod_dying_mid_stream_ends_the_stream_and_leaves_no_state(
    tmp_path: Path,
) -> None:
    async with gateway(tmp_path, pods(1)) as c:
        pod = c.pod("pod-0")
        hostport = c.endpoints()["pod-0"].hostport
        ds = c.gateway.datastore
        pod.die_after = DIE_AFTER
        events: list[bytes] = []
        body = c.body(max_tokens=200, stream=True)
        async with c.session.post(c.gateway.url + "/v1/chat/completions", json=body) as r:
            assert r.status == 200
            with pytest.raises(aiohttp.ClientPayloadError):
                async for line in r.content:
                    if line.startswith(b"data: "):
                        events.append(line)
        # the event Envoy holds for the EPP when the reset comes is dropped with the stream
        assert DIE_AFTER - 2 <= len(events) <= DIE_AFTER
        assert b"[DONE]" not in b"".join(events)
        await poll(lambda: total_in_flight(c) == 0, "the in-flight slot to be released")
        assert ds.failures(hostport) == 0  # indistinguishable from a client hanging up
        assert pod.engine.success["abort"] == 1
        assert pod.engine.num_running == pod.engine.num_waiting == 0

        # the pod now drops the connection before answering: Envoy's 503, blamed on it
        for expected in (1, 2):
            reply = await c.chat(max_tokens=4)
            assert reply.status == 503 and reply.served_by is None
            assert b"upstream" in reply.body
            await poll(partial(has_failures, ds, hostport, expected), "the failure recorded")
        assert total_in_flight(c) == 0

        pod.die_after = None
        reply = await c.chat(max_tokens=4)
        assert reply.status == 200 and reply.served_by == "pod-0"
        await poll(lambda: ds.failures(hostport) == 0, "the success to clear the record")
