"""Streams through the gateway: events are never held back, and clients that hang up
mid-stream still get every routed request finished exactly once."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp

from tests.integration.gateway.conftest import LLAMA, SPLIT, world


async def test_disconnects_mid_stream_release_every_in_flight_slot(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        ds = w.gateway.datastore
        body = {
            "model": LLAMA,
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
            "repeat": 200,
            "delay": 0.01,
        }

        async def hang_up_after_first_event() -> None:
            async with (
                aiohttp.ClientSession() as session,
                session.post(w.url + "/v1/chat/completions", json=body) as resp,
            ):
                assert resp.status == 200
                async for line in resp.content:
                    if line.startswith(b"data: "):
                        break
                assert sum(ds.in_flight(e.hostport) for e in ds.all_endpoints()) > 0
            # leaving both contexts closes the connection with the stream half-read

        await asyncio.gather(*(hang_up_after_first_event() for _ in range(20)))
        endpoints = [e.hostport for e in ds.all_endpoints()]
        for _ in range(200):  # the EPP learns of each reset asynchronously
            if all(ds.in_flight(hp) == 0 for hp in endpoints):
                break
            await asyncio.sleep(0.05)
        assert {hp: ds.in_flight(hp) for hp in endpoints} == dict.fromkeys(endpoints, 0)
        short = {"model": LLAMA, "messages": [{"role": "user", "content": "hi"}]}
        async with w.session.post(w.url + "/v1/chat/completions", json=short) as resp:
            assert resp.status == 200


async def test_an_event_reaches_the_client_before_the_pod_sends_the_next(
    tmp_path: Path,
) -> None:
    async with world(tmp_path) as w:
        body = {"model": LLAMA, "messages": [{"role": "user", "content": "hi"}], "stream": True}
        body["gated"] = True
        async with w.session.post(w.url + "/v1/chat/completions", json=body) as resp:
            async with asyncio.timeout(10):  # a buffering gateway would never deliver it
                first = await resp.content.readline()
            assert first.startswith(b"data: ") and LLAMA.encode() in first
            for pod in w.pool_a:
                pod.gate.set()
            rest = await resp.read()
        assert rest.rstrip().endswith(b"data: [DONE]")


async def test_small_bodies_also_travel_as_streamed_chunks_when_not_inlined(
    tmp_path: Path,
) -> None:
    async with world(tmp_path, inline=False) as w:
        body = {"model": SPLIT, "messages": [{"role": "user", "content": "hi"}]}
        async with w.session.post(w.url + "/v1/chat/completions", json=body) as resp:
            assert resp.status == 200
            assert (await resp.json())["model"] == SPLIT
            pod = next(p for p in w.pool_a if p.hostport == resp.headers["x-served-by"])
        assert json.loads(pod.bodies[-1])["model"] in {"food-review-1", "food-review-2"}
