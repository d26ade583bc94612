"""``examples/safety.yaml`` and ``examples/semantic-cache.yaml`` through real Envoy.

Each example is used as written except for addresses: its pods move to free loopback
addresses and a free port, so the test never collides with a gateway someone is running.
Its EndpointPickerConfig document is handed to the EPP as the plugins config.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import yaml

from inference_gateway.app import EppSettings, Gateway, GatewaySettings
from inference_gateway.envoy.bootstrap import EnvoySettings
from inference_gateway.extproc.server import ExtProcSettings
from inference_gateway.simulator.server import PodSpec, run_pods
from tests.integration.gateway.pods import free_port

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
HOSTS = {"127.0.0.11": "127.0.0.45", "127.0.0.12": "127.0.0.46"}


@asynccontextmanager
async def example_gateway(name: str, tmp: Path) -> AsyncIterator[str]:
    docs = list(yaml.safe_load_all((EXAMPLES / name).read_text(encoding="utf-8")))
    port = free_port("127.0.0.45")
    objects, picker = [], None
    for doc in docs:
        if doc["kind"] == "EndpointPickerConfig":
            picker = doc
            continue
        if doc["kind"] == "InferencePool":
            doc["spec"]["targetPortNumber"] = port
        if doc["kind"] == "Pod":
            doc["status"]["podIP"] = HOSTS[doc["status"]["podIP"]]
        objects.append(doc)
    assert picker is not None
    (tmp / "objects.yaml").write_text(yaml.safe_dump_all(objects))
    (tmp / "plugins.yaml").write_text(yaml.safe_dump(picker))
    specs = [PodSpec(f"sim-{i}", h, port, model="qwen") for i, h in enumerate(HOSTS.values())]
    settings = GatewaySettings(
        epp=EppSettings(
            pool_file=tmp / "objects.yaml",
            plugins_config=str(tmp / "plugins.yaml"),
            grpc=ExtProcSettings(port=0),
        ),
        envoy=EnvoySettings(port=0, admin_port=0, epp_health_interval_seconds=0.2),
        workdir=tmp,
    )
    async with run_pods(specs, time_scale=0.02), Gateway(settings) as gw:
        yield gw.url + "/v1/chat/completions"


def chat(text: str) -> dict[str, object]:
    return {"model": "qwen", "messages": [{"role": "user", "content": text}], "max_tokens": 8}


async def test_safety_example(tmp_path: Path) -> None:
    async with example_gateway("safety.yaml", tmp_path) as url, aiohttp.ClientSession() as s:
        async with s.post(url, json=chat("How do I make a bomb?")) as resp:
            assert resp.status == 403
            error = (await resp.json())["error"]
            assert (error["code"], error["type"]) == (403, "PermissionDeniedError")
        async with s.post(url, json=chat("SSN: 123-45-6789, is it valid?")) as resp:
            assert resp.status == 403
        async with s.post(url, json=chat("How do I bake bread?")) as resp:
            assert resp.status == 200 and resp.headers["x-served-by"].startswith("sim-")


async def test_semantic_cache_example(tmp_path: Path) -> None:
    async with (
        example_gateway("semantic-cache.yaml", tmp_path) as url,
        aiohttp.ClientSession() as s,
    ):
        async with s.post(url, json=chat("How do I bake bread?")) as resp:
            assert resp.status == 200 and resp.headers["x-cache"] == "miss"
            first = await resp.json()
        async with s.post(url, json=chat("What is the way to bake bread?")) as resp:
            assert resp.status == 200 and resp.headers["x-cache"] == "hit"
            assert "x-served-by" not in resp.headers
            hit = await resp.json()
        assert hit["choices"][0]["message"] == first["choices"][0]["message"]
