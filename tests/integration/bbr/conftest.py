"""Two pools behind real Envoy with body-based routing on (BBR in-process, RDS routes)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from inference_gateway.app import (
    BbrRouting,
    EppSettings,
    Gateway,
    GatewaySettings,
)
from inference_gateway.bbr import BbrServer
from inference_gateway.envoy.bootstrap import EnvoySettings
from inference_gateway.extproc.server import ExtProcSettings
from tests.integration.gateway.pods import Pod, documents, model_doc, pod_doc, pool_doc, run_pods

LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
MISTRAL = "mistral-7b"
QWEN = "qwen-2.5"


@dataclass
class BbrWorld:
    gateway: Gateway
    bbr: BbrServer
    pool_a: list[Pod]
    pool_b: list[Pod]
    config: Path
    session: aiohttp.ClientSession

    @property
    def url(self) -> str:
        return self.gateway.url


def config_docs(a: list[Pod], b: list[Pod], *extra: str) -> str:
    return documents(
        pool_doc("pool-a", a[0].port),
        pool_doc("pool-b", b[0].port),
        model_doc("llama", LLAMA, "pool-a"),
        model_doc("mistral", MISTRAL, "pool-b"),
        *(pod_doc(f"a{i}", "pool-a", p.host) for i, p in enumerate(a)),
        *(pod_doc(f"b{i}", "pool-b", p.host) for i, p in enumerate(b)),
        *extra,
    )


@pytest_asyncio.fixture(
    scope="module", loop_scope="module", params=[True, False], ids=["streaming", "buffered"]
)
async def bbr_world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[BbrWorld]:
    streaming: bool = request.param
    tmp = tmp_path_factory.mktemp("bbr")
    async with (
        run_pods(["127.0.0.21", "127.0.0.22"]) as a,
        run_pods(["127.0.0.23", "127.0.0.24"]) as b,
    ):
        config = tmp / "gateway.yaml"
        config.write_text(config_docs(a, b))
        settings = GatewaySettings(
            epp=EppSettings(pool_file=config, grpc=ExtProcSettings(port=0), seed=1),
            envoy=EnvoySettings(port=0, admin_port=0, epp_health_interval_seconds=0.2),
            bbr=BbrRouting(streaming=streaming),
            workdir=tmp,
        )
        bbr = BbrServer("127.0.0.1", 0, streaming=streaming)
        async with (
            Gateway(settings, bbr_server=bbr) as gw,
            aiohttp.ClientSession() as session,
        ):
            yield BbrWorld(gw, bbr, a, b, config, session)
