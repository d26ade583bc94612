"""One real gateway (EPP in-process + Envoy) and fake pods, shared by a test module."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from inference_gateway.app import EppSettings, Gateway, GatewaySettings
from inference_gateway.envoy.bootstrap import EnvoySettings
from inference_gateway.extproc.server import ExtProcSettings
from inference_gateway.observability.tracing import NULL_TRACER, Tracer
from inference_gateway.requestcontrol import DirectorSettings
from tests.integration.gateway.pods import (
    Pod,
    documents,
    model_doc,
    pod_doc,
    pool_doc,
    run_pods,
)

LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
MISTRAL = "mistral-7b"
SPLIT = "food-review"
NOWHERE = "no-pods-model"
MAX_BODY = 8 * 1024 * 1024


@dataclass
class World:
    gateway: Gateway
    pool_a: list[Pod]
    pool_b: list[Pod]
    config: Path
    session: aiohttp.ClientSession

    @property
    def url(self) -> str:
        return self.gateway.url

    def reset(self) -> None:
        for pod in self.pool_a + self.pool_b:
            pod.models.clear()
            pod.bodies.clear()
            pod.headers.clear()


def base_config(a: list[Pod], b: list[Pod], *, failure_mode: str = "FailClose") -> list[str]:
    return [
        pool_doc("pool-a", a[0].port, failure_mode),
        pool_doc("pool-b", b[0].port),
        pool_doc("pool-empty", 1),
        model_doc("llama", LLAMA, "pool-a"),
        model_doc("split", SPLIT, "pool-a", {"food-review-1": 90, "food-review-2": 10}),
        model_doc("mistral", MISTRAL, "pool-b"),
        model_doc("nowhere", NOWHERE, "pool-empty"),
        *(pod_doc(f"a{i}", "pool-a", p.host) for i, p in enumerate(a)),
        *(pod_doc(f"b{i}", "pool-b", p.host) for i, p in enumerate(b)),
    ]


def gateway_settings(
    config: Path, tmp: Path, *, inline: bool = True, **overrides: object
) -> GatewaySettings:
    epp = EppSettings(
        pool_file=config,
        grpc=ExtProcSettings(port=0, inline_small_bodies=inline),
        director=DirectorSettings(max_body_bytes=MAX_BODY),
        seed=1,
    )
    return GatewaySettings(
        epp=epp,
        envoy=EnvoySettings(port=0, admin_port=0, epp_health_interval_seconds=0.2),
        workdir=tmp,
        **overrides,
    )


@asynccontextmanager
async def world(
    tmp: Path,
    *,
    failure_mode: str = "FailClose",
    inline: bool = True,
    tracer: Tracer = NULL_TRACER,
    **overrides: object,
) -> AsyncIterator[World]:
    async with (
        run_pods(["127.0.0.11", "127.0.0.12"]) as a,
        run_pods(["127.0.0.13", "127.0.0.14"]) as b,
    ):
        config = tmp / "gateway.yaml"
        config.write_text(documents(*base_config(a, b, failure_mode=failure_mode)))
        settings = gateway_settings(config, tmp, inline=inline, **overrides)
        gateway = Gateway(settings, tracer=tracer)
        async with gateway as gw, aiohttp.ClientSession() as session:
            yield World(gw, a, b, config, session)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    async with world(tmp_path_factory.mktemp("gw")) as w:
        yield w


@pytest.fixture
def chat() -> Callable[..., dict[str, object]]:
    def make(model: str, *, stream: bool = False, content: str = "hello") -> dict[str, object]:
        return {
            "model": model,
            "messages": [{"role": "user", "content": content}],
            "stream": stream,
        }

    return make
