"""The gateway in front of the real simulator (vLLM-like pods with LoRA adapters)."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp

from inference_gateway.app import EppSettings, Gateway, GatewaySettings
from inference_gateway.envoy.bootstrap import EnvoySettings
from inference_gateway.extproc.server import ExtProcSettings
from inference_gateway.simulator.server import PodSpec, run_pods
from tests.integration.gateway.pods import documents, free_port, model_doc, pod_doc, pool_doc

BASE = "meta-llama/Llama-3.1-8B-Instruct"
HOSTS = ("127.0.0.21", "127.0.0.22")


async def test_chat_and_stream_through_simulated_vllm_pods(tmp_path: Path) -> None:
    port = free_port(HOSTS[0])
    specs = [
        PodSpec(f"sim-{i}", host, port, model=BASE, adapters=("review-1", "review-2"), max_loras=2)
        for i, host in enumerate(HOSTS)
    ]
    config = tmp_path / "gw.yaml"
    config.write_text(
        documents(
            pool_doc("sims", port),
            model_doc("base", BASE, "sims"),
            model_doc("review", "review", "sims", {"review-1": 50, "review-2": 50}),
            *(pod_doc(f"s{i}", "sims", h) for i, h in enumerate(HOSTS)),
        )
    )
    settings = GatewaySettings(
        epp=EppSettings(pool_file=config, grpc=ExtProcSettings(port=0)),
        envoy=EnvoySettings(port=0, admin_port=0, epp_health_interval_seconds=0.2),
        workdir=tmp_path,
    )
    async with (
        run_pods(specs, time_scale=0.01),
        Gateway(settings) as gw,
        aiohttp.ClientSession() as session,
    ):
        url = gw.url + "/v1/chat/completions"
        messages = [{"role": "user", "content": "Write a haiku about routers."}]
        served = set()
        for _ in range(6):
            body = {"model": "review", "messages": messages, "max_tokens": 8}
            async with session.post(url, json=body) as resp:
                assert resp.status == 200, await resp.text()
                served.add(resp.headers["x-served-by"])
                reply = await resp.json()
            assert reply["model"] == "review"
            assert reply["usage"]["completion_tokens"] > 0
        assert served <= {"sim-0", "sim-1"}
        body = {"model": BASE, "messages": messages, "max_tokens": 8, "stream": True}
        async with session.post(url, json=body) as resp:
            assert resp.status == 200
            assert resp.headers["content-type"].startswith("text/event-stream")
            events = [line async for line in resp.content if line.startswith(b"data: ")]
        assert events[-1].strip() == b"data: [DONE]"
        assert {json.loads(e[6:])["model"] for e in events[:-1]} == {BASE}
