"""Simulated model-server pods: an aiohttp app per engine, started K at a time.

``run_pods`` is what tests and the CLI use::

    async with run_pods([PodSpec("p0", "127.0.0.11", 0, model="m", max_num_seqs=4)],
                        time_scale=0.05) as pods:
        pods[0].url              # http://127.0.0.11:<bound port>
        pods[0].metrics_fault = "500"   # or "close", or None: a pod whose metrics die
        pods[0].engine.slowdown = 3.0   # a pod made slow
        pods[0].fail_status = 500       # every completion answered 500 (None: normal)
        pods[0].die_after = 3           # connection dropped after 3 streamed tokens
        pods[0].metrics_delay = 3.0     # /metrics answers 3 s late

Every response carries ``x-served-by: <pod name>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from typing import Any, Literal

from aiohttp import web
from aiohttp.typedefs import Handler

from inference_gateway.aio import spawn
from inference_gateway.simulator import openai
from inference_gateway.simulator.config import EngineConfig
from inference_gateway.simulator.embeddings import handle_embeddings
from inference_gateway.simulator.engine import Engine
from inference_gateway.simulator.metrics import MetricsKind, make_registry, render
from inference_gateway.simulator.realtime import RealtimeEngine
from inference_gateway.simulator.responses import handle_responses

MetricsFault = Literal["500", "close"] | None
SERVED_BY = "x-served-by"


class PodSpec:
    """Name, address and engine settings of one pod; extra keywords set ``EngineConfig``
    fields (``model=``, ``max_num_seqs=``, ``slowdown=``, ...)."""

    __slots__ = ("config", "host", "kind", "name", "port")

    def __init__(
        self,
        name: str,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        kind: MetricsKind = "vllm",
        config: EngineConfig | None = None,
        **engine: Any,
    ) -> None:
        self.name, self.host, self.port, self.kind = name, host, port, kind
        self.config = replace(config or EngineConfig(), **engine)

    def __repr__(self) -> str:
        return f"PodSpec({self.name!r}, {self.host!r}, {self.port})"


class SimPod:
    """A running pod: its engine, its driver and its HTTP app."""

    def __init__(self, spec: PodSpec, time_scale: float) -> None:
        self.name = spec.name
        self.host = spec.host
        self.port = spec.port
        self.kind = spec.kind
        self.engine = Engine(spec.config)
        self.realtime = RealtimeEngine(self.engine, time_scale=time_scale)
        self.registry = make_registry(self.engine, spec.kind)
        self.metrics_fault: MetricsFault = None
        self.metrics_delay = 0.0
        """Seconds ``/metrics`` waits before answering (a slow metrics endpoint)."""
        self.fail_status: int | None = None
        """Answer every completion with this status (an OpenAI error body) when set."""
        self.die_after: int | None = None
        """Drop the connection after this many streamed tokens, or instead of a
        non-streamed answer (a pod dying mid-response) when set."""
        self.app = self._build_app()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def metrics_broken(self) -> bool:
        return self.metrics_fault is not None

    @metrics_broken.setter
    def metrics_broken(self, broken: bool) -> None:
        self.metrics_fault = "500" if broken else None

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[_json_http_errors])

        async def completions(request: web.Request) -> web.StreamResponse:
            return await self._complete(request, "completion")

        async def chat(request: web.Request) -> web.StreamResponse:
            return await self._complete(request, "chat")

        async def stamp(request: web.Request, response: web.StreamResponse) -> None:
            response.headers[SERVED_BY] = self.name

        async def embeddings(request: web.Request) -> web.StreamResponse:
            failed = await self._failure(request)
            return failed or await handle_embeddings(request, self.realtime)

        async def responses(request: web.Request) -> web.StreamResponse:
            failed = await self._failure(request)
            return failed or await handle_responses(request, self.realtime)

        app.on_response_prepare.append(stamp)
        app.router.add_post("/v1/completions", completions)
        app.router.add_post("/v1/chat/completions", chat)
        app.router.add_post("/v1/embeddings", embeddings)
        app.router.add_post("/v1/responses", responses)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/load_lora_adapter", self._load_lora)
        app.router.add_post("/v1/unload_lora_adapter", self._unload_lora)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/health", self._health)
        return app

    async def _failure(self, request: web.Request) -> web.Response | None:
        if self.fail_status is None:
            return None
        await request.read()
        return openai.error_response(self.fail_status, "simulated failure")

    async def _complete(self, request: web.Request, kind: openai.Kind) -> web.StreamResponse:
        failed = await self._failure(request)
        if failed is not None:
            return failed
        return await openai.handle(request, kind, self.realtime, die_after=self.die_after)

    async def _models(self, request: web.Request) -> web.Response:
        cfg, created = self.engine.config, int(time.time())
        entry = {"object": "model", "created": created, "owned_by": "vllm"}
        data = [{"id": cfg.model, **entry, "root": cfg.model, "parent": None}]
        data += [
            {"id": a, **entry, "root": f"/adapters/{a}", "parent": cfg.model}
            for a in sorted(self.engine.adapters)
        ]
        for item in data:
            item["max_model_len"] = cfg.max_model_len
            item["permission"] = []
        return web.json_response({"object": "list", "data": data})

    async def _lora_name(self, request: web.Request) -> str | web.Response:
        try:
            body = await request.json()
        except ValueError:
            return openai.error_response(400, "Invalid JSON in request body")
        name = body.get("lora_name") if isinstance(body, dict) else None
        if not isinstance(name, str) or not name:
            return openai.error_response(400, "Field required: 'lora_name'", param="lora_name")
        return name

    async def _load_lora(self, request: web.Request) -> web.Response:
        name = await self._lora_name(request)
        if isinstance(name, web.Response):
            return name
        if name in self.engine.adapters:
            msg = f"The lora adapter '{name}' has already been loaded."
            return openai.error_response(400, msg, "InvalidUserInput", "lora_name")
        self.engine.register_adapter(name)
        return web.Response(text=f"Success: LoRA adapter '{name}' added successfully.")

    async def _unload_lora(self, request: web.Request) -> web.Response:
        name = await self._lora_name(request)
        if isinstance(name, web.Response):
            return name
        if name not in self.engine.adapters:
            msg = f"The lora adapter '{name}' cannot be found."
            return openai.error_response(404, msg, "NotFoundError", "lora_name")
        self.engine.unregister_adapter(name)
        return web.Response(text=f"Success: LoRA adapter '{name}' removed successfully.")

    async def _metrics(self, request: web.Request) -> web.StreamResponse:
        if self.metrics_delay > 0:
            await asyncio.sleep(self.metrics_delay)
        if self.metrics_fault == "500":
            return web.Response(status=500, text="metrics unavailable")
        if self.metrics_fault == "close":
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)
        self.realtime.sync()
        return web.Response(
            body=render(self.registry), headers={"Content-Type": "text/plain; version=0.0.4"}
        )

    async def _health(self, request: web.Request) -> web.Response:
        return web.Response(text="")


@web.middleware
async def _json_http_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """aiohttp's own 404/405 as vLLM's JSON (FastAPI's HTTPException handler: ``type`` is
    the status phrase, ``message`` FastAPI's detail)."""
    try:
        return await handler(request)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        message = "Not Found" if e.status == 404 else e.reason
        return openai.error_response(e.status, message, e.reason)


@contextlib.asynccontextmanager
async def run_pods(
    specs: Sequence[PodSpec], *, time_scale: float = 1.0
) -> AsyncIterator[list[SimPod]]:
    """Start every pod (port 0 = any free port, read back into ``pod.port``); stop all on exit."""
    pods = [SimPod(spec, time_scale) for spec in specs]
    runners: list[web.AppRunner] = []
    drivers = [spawn(p.realtime.run(), name=f"sim-driver-{p.name}") for p in pods]
    try:
        for pod in pods:
            runner = web.AppRunner(
                pod.app, access_log=None, shutdown_timeout=1.0, handler_cancellation=True
            )
            await runner.setup()
            runners.append(runner)
            site = web.TCPSite(runner, pod.host, pod.port)
            await site.start()
            if pod.port == 0:
                pod.port = runner.addresses[-1][1]
        yield pods
    finally:
        for runner in reversed(runners):
            await runner.cleanup()
        for task in drivers:
            task.cancel()
        await asyncio.gather(*drivers, return_exceptions=True)


serve_pods = run_pods
