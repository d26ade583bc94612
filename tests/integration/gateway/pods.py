"""A tiny OpenAI-compatible model server for gateway tests, and helpers to run several.

It answers instantly (the tests measure routing, not generation), echoes the ``model`` it
was sent, says who it is in ``x-served-by``, counts requests per model, streams SSE when
asked, and serves a vLLM-style ``/metrics`` so the scraper sees fresh endpoints.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

_METRICS = """\
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{{model_name="m"}} 0
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{{model_name="m"}} {running}
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{{model_name="m"}} 0.0
# TYPE vllm:lora_requests_info gauge
vllm:lora_requests_info{{max_lora="4",running_lora_adapters="",waiting_lora_adapters=""}} 1.0
"""


@dataclass
class Pod:
    host: str
    port: int = 0
    models: Counter[str] = field(default_factory=Counter)
    bodies: list[bytes] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    running: int = 0
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    """A ``"gated": true`` stream waits here after its first event."""

    @property
    def hostport(self) -> str:
        return f"{self.host}:{self.port}"

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._complete)
        app.router.add_post("/v1/completions", self._complete)
        app.router.add_get("/v1/models", self._list_models)
        app.router.add_get("/health", self._list_models)
        app.router.add_get("/metrics", self._metrics)
        return app

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(text=_METRICS.format(running=self.running))

    async def _list_models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": []}, headers=self._me())

    def _me(self) -> dict[str, str]:
        return {"x-served-by": self.hostport}

    async def _complete(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        self.bodies.append(raw)
        self.headers.append(dict(request.headers))
        data = json.loads(raw)
        model = data["model"]
        self.models[model] += 1
        chat = request.path.endswith("/chat/completions")
        usage = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
        if not data.get("stream"):
            obj = "chat.completion" if chat else "text_completion"
            choice = (
                {"index": 0, "message": {"role": "assistant", "content": "a b c"}}
                if chat
                else {"index": 0, "text": "a b c"}
            )
            body = {"id": "x", "object": obj, "model": model, "choices": [choice], "usage": usage}
            return web.json_response(body, headers=self._me())
        resp = web.StreamResponse(headers={**self._me(), "content-type": "text/event-stream"})
        await resp.prepare(request)
        words = ["a", "b", "c"] * max(1, int(data.get("repeat", 1)))
        for i, word in enumerate(words):
            if i == 1 and data.get("gated"):
                await self.gate.wait()
            if data.get("delay"):
                await asyncio.sleep(float(data["delay"]))  # a slow generation, not test sync
            delta = {"content": word} if chat else None
            choice = {"index": 0, "delta": delta} if chat else {"index": 0, "text": word}
            chunk = {"id": "x", "object": "chat.completion.chunk", "model": model,
                     "choices": [choice]}  # fmt: skip
            await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
        final = {"id": "x", "model": model, "choices": [], "usage": usage}
        await resp.write(f"data: {json.dumps(final)}\n\ndata: [DONE]\n\n".encode())
        await resp.write_eof()
        return resp


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def run_pods(hosts: list[str], port: int | None = None) -> AsyncIterator[list[Pod]]:
    """Serve one ``Pod`` per host, all on the same port (a pool has one target port)."""
    port = port or free_port(hosts[0])
    pods = [Pod(host, port) for host in hosts]
    runners = []
    try:
        for pod in pods:
            runner = web.AppRunner(pod.app(), access_log=None)
            await runner.setup()
            runners.append(runner)
            await web.TCPSite(runner, pod.host, port).start()
        yield pods
    finally:
        await asyncio.gather(*(r.cleanup() for r in runners))


POOL = """\
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferencePool
metadata: {{name: {name}, namespace: default}}
spec:
  selector: {{app: {name}}}
  targetPortNumber: {port}
  extensionRef: {{name: epp, failureMode: {failure_mode}}}
"""
MODEL = """\
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferenceModel
metadata: {{name: {key}, namespace: default}}
spec:
  modelName: {model}
  poolRef: {{name: {pool}}}
  targetModels: {targets}
"""
POD = """\
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: default, labels: {{app: {pool}}}}}
status:
  podIP: {ip}
  conditions: [{{type: Ready, status: "True"}}]
"""


def pool_doc(name: str, port: int, failure_mode: str = "FailClose") -> str:
    return POOL.format(name=name, port=port, failure_mode=failure_mode)


def model_doc(key: str, model: str, pool: str, targets: dict[str, int] | None = None) -> str:
    items = [{"name": n, "weight": w} for n, w in (targets or {}).items()]
    return MODEL.format(key=key, model=model, pool=pool, targets=json.dumps(items))


def pod_doc(name: str, pool: str, ip: str) -> str:
    return POD.format(name=name, pool=pool, ip=ip)


def documents(*docs: str) -> str:
    return "---\n".join(docs)
