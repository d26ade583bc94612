"""Body-based routing with FailOpen when BBR or the EPP is down."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from inference_gateway.app import BbrRouting, EppSettings, Gateway, GatewaySettings
from inference_gateway.bbr import BbrServer
from inference_gateway.envoy.bbr_bootstrap import BBR_CLUSTER
from inference_gateway.envoy.bootstrap import EPP_CLUSTER, EnvoySettings
from inference_gateway.extproc.server import ExtProcSettings
from tests.integration.bbr.conftest import LLAMA, MISTRAL
from tests.integration.gateway.pods import (
    Pod,
    documents,
    model_doc,
    pod_doc,
    pool_doc,
    run_pods,
)


@asynccontextmanager
async def fail_open_world(
    tmp: Path,
) -> AsyncIterator[tuple[Gateway, BbrServer, list[Pod], list[Pod], aiohttp.ClientSession]]:
    async with (
        run_pods(["127.0.0.25", "127.0.0.26"]) as a,
        run_pods(["127.0.0.27"]) as b,
    ):
        config = tmp / "gateway.yaml"
        config.write_text(
            documents(
                pool_doc("pool-a", a[0].port, "FailOpen"),
                pool_doc("pool-b", b[0].port),
                model_doc("llama", LLAMA, "pool-a"),
                model_doc("mistral", MISTRAL, "pool-b"),
                *(pod_doc(f"a{i}", "pool-a", p.host) for i, p in enumerate(a)),
                pod_doc("b0", "pool-b", b[0].host),
            )
        )
        settings = GatewaySettings(
            epp=EppSettings(pool_file=config, grpc=ExtProcSettings(port=0), seed=1),
            envoy=EnvoySettings(port=0, admin_port=0, epp_health_interval_seconds=0.2),
            bbr=BbrRouting(streaming=True),
            workdir=tmp,
        )
        bbr = BbrServer("127.0.0.1", 0, grace=0.0)
        async with Gateway(settings, bbr_server=bbr) as gw, aiohttp.ClientSession() as session:
            yield gw, bbr, a, b, session


async def marked_down(gw: Gateway, cluster: str) -> None:
    """Poll Envoy's view of ``cluster`` until its health check has failed."""
    assert gw.envoy is not None
    for _ in range(200):  # bounded: Envoy has no push for health changes
        text = await gw.envoy.admin("/clusters")
        if any(
            line.startswith(f"{cluster}::") and "failed_active_hc" in line
            for line in text.splitlines()
        ):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"Envoy never marked {cluster} unhealthy")


async def ask(gw: Gateway, session: aiohttp.ClientSession, model: str) -> tuple[int, str, bytes]:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    async with session.post(gw.url + "/v1/chat/completions", json=body) as resp:
        return resp.status, resp.headers.get("x-served-by", ""), await resp.read()


async def test_bbr_down_fails_open_to_the_epps_own_pool_resolution(tmp_path: Path) -> None:
    async with fail_open_world(tmp_path) as (gw, bbr, a, b, session):
        assert (await ask(gw, session, MISTRAL))[0] == 200
        await bbr.stop()
        await marked_down(gw, BBR_CLUSTER)
        for model, pods in ((LLAMA, a), (MISTRAL, b)):
            status, served, body = await ask(gw, session, model)
            assert status == 200, body
            assert served in {p.hostport for p in pods}


async def test_epp_down_serves_the_fallback_pool_and_503s_the_others(tmp_path: Path) -> None:
    async with fail_open_world(tmp_path) as (gw, _bbr, a, _b, session):
        assert (await ask(gw, session, LLAMA))[0] == 200
        await gw.epp.stop_grpc()
        await marked_down(gw, EPP_CLUSTER)
        status, served, _ = await ask(gw, session, LLAMA)
        assert status == 200 and served in {p.hostport for p in a}
        status, served, body = await ask(gw, session, MISTRAL)
        assert status == 503 and not served
        assert json.loads(body)["error"]["code"] == 503


async def test_gateway_uses_an_already_running_bbr_by_port(tmp_path: Path) -> None:
    async with (
        run_pods(["127.0.0.28"]) as a,
        run_pods(["127.0.0.29"]) as b,
        BbrServer("127.0.0.1", 0, streaming=False) as bbr,
    ):
        config = tmp_path / "gateway.yaml"
        config.write_text(
            documents(
                pool_doc("pool-a", a[0].port),
                pool_doc("pool-b", b[0].port),
                model_doc("llama", LLAMA, "pool-a"),
                model_doc("mistral", MISTRAL, "pool-b"),
                pod_doc("a0", "pool-a", a[0].host),
                pod_doc("b0", "pool-b", b[0].host),
            )
        )
        settings = GatewaySettings(
            epp=EppSettings(pool_file=config, grpc=ExtProcSettings(port=0), seed=1),
            envoy=EnvoySettings(port=0, admin_port=0),
            bbr=BbrRouting(streaming=False, port=bbr.port),
            workdir=tmp_path,
        )
        async with Gateway(settings) as gw, aiohttp.ClientSession() as session:
            status, served, body = await ask(gw, session, MISTRAL)
        assert status == 200, body
        assert served == b[0].hostport
        assert bbr.router.stats.success == 1
