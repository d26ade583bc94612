"""Simulated pods over loopback HTTP: the OpenAI APIs, errors, LoRA admin, /metrics."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from inference_gateway.simulator.server import PodSpec, SimPod, run_pods

TIME_SCALE = 0.05


@pytest.fixture
async def pod() -> AsyncIterator[SimPod]:
    spec = PodSpec("pod-a", "127.0.0.11", 0, model="base", adapters=("sql",), max_model_len=512)
    async with run_pods([spec], time_scale=TIME_SCALE) as pods:
        yield pods[0]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


async def post(http: aiohttp.ClientSession, url: str, body: Any) -> tuple[int, Any, str]:
    data = body if isinstance(body, str) else json.dumps(body)
    async with http.post(url, data=data) as resp:
        text = await resp.text()
        served = resp.headers.get("x-served-by", "")
        try:
            return resp.status, json.loads(text), served
        except json.JSONDecodeError:
            return resp.status, text, served


async def metrics(http: aiohttp.ClientSession, pod: SimPod) -> dict[str, list[Any]]:
    async with http.get(f"{pod.url}/metrics") as resp:
        assert resp.status == 200
        text = await resp.text()
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


async def test_completion_json(pod: SimPod, http: aiohttp.ClientSession) -> None:
    body = {"model": "base", "prompt": "x" * 100, "max_tokens": 7, "ignore_eos": True}
    status, out, served = await post(http, f"{pod.url}/v1/completions", body)
    assert (status, served, out["object"], out["model"]) == (
        200,
        "pod-a",
        "text_completion",
        "base",
    )
    assert out["choices"][0]["finish_reason"] == "length"
    assert len(out["choices"][0]["text"].split()) == 7
    assert out["usage"] == {
        "prompt_tokens": 25,
        "completion_tokens": 7,
        "total_tokens": 32,
        "prompt_tokens_details": {"cached_tokens": 0},
    }


async def test_chat_json_on_adapter_reports_adapter_and_cache_hits(
    pod: SimPod, http: aiohttp.ClientSession
) -> None:
    messages = [{"role": "system", "content": "s" * 200}, {"role": "user", "content": "hi"}]
    body = {"model": "sql", "messages": messages, "max_tokens": 5}
    status, first, _ = await post(http, f"{pod.url}/v1/chat/completions", body)
    _, second, _ = await post(http, f"{pod.url}/v1/chat/completions", body)
    assert (status, first["object"], first["model"]) == (200, "chat.completion", "sql")
    assert first["choices"][0]["message"]["role"] == "assistant"
    # 203 characters / 4, rounded up, plus Llama-3's chat template (5 + 5 per message)
    assert first["usage"]["prompt_tokens"] == 51 + 15
    assert 1 <= first["usage"]["completion_tokens"] <= 5
    assert second["usage"]["prompt_tokens_details"]["cached_tokens"] == 48


async def read_sse(resp: aiohttp.ClientResponse) -> list[str]:
    events = []
    async for line in resp.content:
        if line.startswith(b"data: "):
            events.append(line[6:].decode().strip())
    return events


@pytest.mark.parametrize("kind", ["chat", "completion"])
async def test_streaming_with_usage_and_done(
    pod: SimPod, http: aiohttp.ClientSession, kind: str
) -> None:
    path = "/v1/chat/completions" if kind == "chat" else "/v1/completions"
    body: dict[str, Any] = {"model": "base", "max_tokens": 6, "ignore_eos": True, "stream": True}
    body.update({"stream_options": {"include_usage": True}})
    if kind == "chat":
        body["messages"] = [{"role": "user", "content": "hello"}]
    else:
        body["prompt"] = "hello"
    async with http.post(f"{pod.url}{path}", json=body) as resp:
        assert resp.status == 200 and resp.headers["x-served-by"] == "pod-a"
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        events = await read_sse(resp)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    usage = chunks[-1]
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 6
    tokens = chunks[:-1]
    if kind == "chat":  # vLLM opens with the role alone
        assert tokens[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
        tokens = tokens[1:]
    assert len(tokens) == 6
    assert [c["choices"][0]["finish_reason"] for c in tokens] == [None] * 5 + ["length"]
    if kind == "chat":
        assert all("role" not in c["choices"][0]["delta"] for c in tokens)
        assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    else:
        assert all(c["choices"][0]["text"] for c in tokens)


async def test_stream_without_include_usage_has_no_usage(
    pod: SimPod, http: aiohttp.ClientSession
) -> None:
    body = {"model": "base", "prompt": "p", "max_tokens": 3, "ignore_eos": True, "stream": True}
    async with http.post(f"{pod.url}/v1/completions", json=body) as resp:
        events = await read_sse(resp)
    assert events[-1] == "[DONE]" and len(events) == 4
    assert all("usage" not in json.loads(e) for e in events[:-1])


@pytest.mark.parametrize(
    ("path", "body", "status", "kind", "message"),
    [
        ("/v1/completions", {"model": "nope", "prompt": "x"}, 404, "NotFoundError",
         "The model `nope` does not exist."),
        ("/v1/completions", "{not json", 400, "Bad Request", "Invalid JSON"),
        ("/v1/completions", {"prompt": "x"}, 400, "Bad Request", "model"),
        ("/v1/completions", {"model": "base"}, 400, "Bad Request", "prompt"),
        ("/v1/chat/completions", {"model": "base"}, 400, "Bad Request", "messages"),
        ("/v1/completions", {"model": "base", "prompt": "x", "max_tokens": 0}, 400,
         "BadRequestError", "max_tokens"),
        ("/v1/completions", {"model": "base", "prompt": "x" * 4000}, 400, "BadRequestError",
         "maximum context length is 512"),
        ("/v1/completions", {"model": "base", "prompt": "x" * 1000, "max_tokens": 400}, 400,
         "BadRequestError", "maximum context length is 512"),
    ],
)  # fmt: skip
async def test_errors_in_vllm_shape(
    pod: SimPod,
    http: aiohttp.ClientSession,
    path: str,
    body: Any,
    status: int,
    kind: str,
    message: str,
) -> None:
    got, out, served = await post(http, f"{pod.url}{path}", body)
    assert (got, served) == (status, "pod-a")
    assert set(out["error"]) == {"message", "type", "param", "code"}
    assert out["error"]["type"] == kind and out["error"]["code"] == status
    assert message in out["error"]["message"]


async def test_full_waiting_queue_gives_429(http: aiohttp.ClientSession) -> None:
    spec = PodSpec("tiny", "127.0.0.12", 0, max_num_seqs=1, max_waiting=2)
    async with run_pods([spec], time_scale=0.2) as (tiny,):
        body = {"model": "sim-model", "prompt": "x", "max_tokens": 50, "ignore_eos": True}
        results = await asyncio.gather(
            *(post(http, f"{tiny.url}/v1/completions", body) for _ in range(8))
        )
    statuses = sorted(r[0] for r in results)
    assert 200 in statuses and 429 in statuses
    refused = next(r[1] for r in results if r[0] == 429)
    assert refused["error"]["type"] == "RateLimitError"


async def test_models_and_lora_load_unload(pod: SimPod, http: aiohttp.ClientSession) -> None:
    async def model_ids() -> list[str]:
        async with http.get(f"{pod.url}/v1/models") as resp:
            return [m["id"] for m in (await resp.json())["data"]]

    assert await model_ids() == ["base", "sql"]
    status, text, _ = await post(
        http, f"{pod.url}/v1/load_lora_adapter", {"lora_name": "chat", "lora_path": "/x"}
    )
    assert status == 200 and "added successfully" in text
    assert await model_ids() == ["base", "chat", "sql"]
    body = {"model": "chat", "prompt": "x", "max_tokens": 2}
    status, out, _ = await post(http, f"{pod.url}/v1/completions", body)
    assert (status, out["model"]) == (200, "chat")
    status, _, _ = await post(http, f"{pod.url}/v1/unload_lora_adapter", {"lora_name": "chat"})
    assert status == 200
    assert (await post(http, f"{pod.url}/v1/completions", body))[0] == 404
    assert (await post(http, f"{pod.url}/v1/unload_lora_adapter", {"lora_name": "chat"}))[0] == 404
    assert (await post(http, f"{pod.url}/v1/load_lora_adapter", {}))[0] == 400


async def test_metrics_carry_vllm_names_and_labels(
    pod: SimPod, http: aiohttp.ClientSession
) -> None:
    body = {"model": "sql", "prompt": "y" * 200, "max_tokens": 4, "ignore_eos": True}
    for _ in range(2):
        assert (await post(http, f"{pod.url}/v1/completions", body))[0] == 200
    m = await metrics(http, pod)
    labels = {"model_name": "base", "engine": "0"}
    for name in ("vllm:num_requests_running", "vllm:num_requests_waiting",
                 "vllm:kv_cache_usage_perc"):  # fmt: skip
        assert m[name][0].labels == labels and m[name][0].value == 0.0
    (info,) = m["vllm:cache_config_info"]
    assert info.labels["block_size"] == "16" and info.labels["num_gpu_blocks"] == "29205"
    (lora,) = m["vllm:lora_requests_info"]
    assert lora.labels["max_lora"] == "1" and lora.value > 1.7e9
    assert m["vllm:prefix_cache_queries"][0].value == 100
    assert m["vllm:prefix_cache_hits"][0].value == 48
    assert m["vllm:num_preemptions"][0].value == 0
    assert m["vllm:prompt_tokens"][0].value == 100
    assert m["vllm:generation_tokens"][0].value == 8
    ttft = {s.name: s for s in m["vllm:time_to_first_token_seconds"]}
    assert ttft["vllm:time_to_first_token_seconds_count"].value == 2
    itl = {s.name: s for s in m["vllm:inter_token_latency_seconds"]}
    assert itl["vllm:inter_token_latency_seconds_count"].value == 6
    assert "vllm:e2e_request_latency_seconds" in m


async def test_busy_pod_reports_waiting_and_lora_running(http: aiohttp.ClientSession) -> None:
    spec = PodSpec("busy", "127.0.0.13", 0, max_num_seqs=4, adapters=("a",))
    async with run_pods([spec], time_scale=0.2) as (busy,):
        body = {"model": "a", "prompt": "z" * 64, "max_tokens": 100, "ignore_eos": True}
        calls = [asyncio.create_task(post(http, f"{busy.url}/v1/completions", body))
                 for _ in range(20)]  # fmt: skip
        seen: dict[str, Any] = {}
        async with asyncio.timeout(5):
            while not seen:
                m = await metrics(http, busy)
                if m["vllm:num_requests_waiting"][0].value > 0:
                    seen = {"running": m["vllm:num_requests_running"][0].value,
                            "lora": m["vllm:lora_requests_info"][0].labels}  # fmt: skip
                else:
                    await asyncio.sleep(0.005)
        results = await asyncio.gather(*calls)
    assert seen["running"] == 4
    assert seen["lora"]["running_lora_adapters"] == "a"
    assert seen["lora"]["waiting_lora_adapters"] == "a"
    assert [r[0] for r in results] == [200] * 20


async def test_metrics_fault_knobs(pod: SimPod, http: aiohttp.ClientSession) -> None:
    pod.metrics_broken = True
    async with http.get(f"{pod.url}/metrics") as resp:
        assert resp.status == 500
    pod.metrics_fault = "close"
    with pytest.raises(aiohttp.ClientError):
        async with http.get(f"{pod.url}/metrics") as resp:
            await resp.read()
    pod.metrics_broken = False
    assert "vllm:num_requests_waiting" in await metrics(http, pod)


async def test_sglang_metric_names(http: aiohttp.ClientSession) -> None:
    spec = PodSpec("sg", "127.0.0.14", 0, kind="sglang", kv_blocks=100, block_size=32)
    async with run_pods([spec], time_scale=TIME_SCALE) as (sg,):
        m = await metrics(http, sg)
    assert {"sglang:num_queue_reqs", "sglang:num_running_reqs", "sglang:token_usage"} <= set(m)
    assert m["sglang:cache_config_info"][0].labels == {"num_pages": "100", "page_size": "32"}


async def test_slow_pod_takes_longer_in_virtual_time(http: aiohttp.ClientSession) -> None:
    specs = [PodSpec("fast", "127.0.0.15", 0), PodSpec("slow", "127.0.0.16", 0, slowdown=3.0)]
    async with run_pods(specs, time_scale=TIME_SCALE) as pods:
        body = {"model": "sim-model", "prompt": "q" * 400, "max_tokens": 8, "ignore_eos": True}
        for p in pods:
            assert (await post(http, f"{p.url}/v1/completions", body))[0] == 200
        fast, slow = (p.engine.e2e.sum - p.engine.config.api_overhead for p in pods)
    assert slow == pytest.approx(3 * fast)


async def test_stream_delivers_tokens_while_the_request_runs(http: aiohttp.ClientSession) -> None:
    async with run_pods([PodSpec("s", "127.0.0.17", 0)], time_scale=0.5) as (pod,):
        body = {"model": "sim-model", "prompt": "go", "max_tokens": 150, "ignore_eos": True}
        body["stream"] = True
        running_at_first_token = None
        chunks = 0
        async with http.post(f"{pod.url}/v1/completions", json=body) as resp:
            async for line in resp.content:
                if line.startswith(b"data: {"):
                    chunks += 1
                    if running_at_first_token is None:
                        running_at_first_token = pod.engine.num_running
    assert running_at_first_token == 1
    assert chunks == 150


async def test_stream_client_leaving_aborts_its_request(http: aiohttp.ClientSession) -> None:
    async with run_pods([PodSpec("ab", "127.0.0.18", 0)], time_scale=0.5) as (pod,):
        body = {"model": "sim-model", "prompt": "go", "max_tokens": 500, "ignore_eos": True}
        body["stream"] = True
        async with http.post(f"{pod.url}/v1/completions", json=body) as resp:
            await resp.content.readline()
            assert pod.engine.num_running == 1
            resp.close()
        async with asyncio.timeout(5):
            for _ in range(10_000):
                m = await metrics(http, pod)
                reasons = {s.labels["finished_reason"]: s.value for s in m["vllm:request_success"]}
                if reasons["abort"] == 1:
                    break
                await asyncio.sleep(0.005)
        assert m["vllm:num_requests_running"][0].value == 0
        assert m["vllm:kv_cache_usage_perc"][0].value == 0.0
