"""The simulator's failure knobs: 5xx answers, a pod dying mid-stream, slow /metrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from inference_gateway.simulator.server import PodSpec, SimPod, run_pods


@pytest.fixture
async def pod() -> AsyncIterator[SimPod]:
    async with run_pods([PodSpec("pod-a", "127.0.0.11", 0, model="m")], time_scale=0.05) as pods:
        yield pods[0]


def body(stream: bool, tokens: int = 8) -> dict[str, object]:
    return {"model": "m", "prompt": "hi", "max_tokens": tokens, "ignore_eos": True} | {
        "stream": stream
    }


async def test_fail_status_answers_every_completion_with_an_openai_error(pod: SimPod) -> None:
    pod.fail_status = 503
    async with aiohttp.ClientSession() as http:
        async with http.post(pod.url + "/v1/completions", json=body(False)) as r:
            assert r.status == 503
            assert (await r.json())["error"]["message"] == "simulated failure"
        pod.fail_status = None
        async with http.post(pod.url + "/v1/completions", json=body(False)) as r:
            assert r.status == 200


async def test_die_after_cuts_a_stream_after_n_tokens_and_aborts_the_request(pod: SimPod) -> None:
    pod.die_after = 3
    events: list[bytes] = []
    async with aiohttp.ClientSession() as http:
        async with http.post(pod.url + "/v1/completions", json=body(True, 50)) as r:
            assert r.status == 200
            with pytest.raises(aiohttp.ClientPayloadError):
                async for line in r.content:
                    if line.startswith(b"data: "):
                        events.append(line)
        assert len(events) == 3 and b"[DONE]" not in b"".join(events)
        with pytest.raises(aiohttp.ServerDisconnectedError):
            async with http.post(pod.url + "/v1/completions", json=body(False)) as r:
                await r.read()
    assert pod.engine.success["abort"] == 1
    assert pod.engine.num_running + pod.engine.num_waiting == 0


async def test_metrics_delay_holds_the_scrape_back(pod: SimPod) -> None:
    pod.metrics_delay = 5.0
    async with aiohttp.ClientSession() as http:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2), http.get(pod.url + "/metrics") as r:
                await r.read()
        pod.metrics_delay = 0.0
        async with http.get(pod.url + "/metrics") as r:
            assert r.status == 200
