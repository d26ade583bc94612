"""The EPP going away (FailOpen / FailClose) and the config file changing under traffic."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from inference_gateway.sources.file import FileSource
from tests.integration.gateway.conftest import LLAMA, World, base_config, world
from tests.integration.gateway.pods import documents, model_doc, pod_doc, run_pods


async def chat_once(w: World, model: str) -> tuple[int, str]:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    async with w.session.post(w.url + "/v1/chat/completions", json=body) as resp:
        await resp.read()
        return resp.status, resp.headers.get("x-served-by", "")


async def epp_marked_down(w: World) -> None:
    """Poll Envoy's view of the EPP until its health check has failed."""
    envoy = w.gateway.envoy
    assert envoy is not None
    for _ in range(200):  # poll with a bound: Envoy has no push for health changes
        if "failed_active_hc" in await envoy.admin("/clusters"):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("Envoy never marked the EPP unhealthy")


async def test_fail_open_serves_from_the_fallback_pool_without_the_epp(tmp_path: Path) -> None:
    async with world(tmp_path, failure_mode="FailOpen") as w:
        assert (await chat_once(w, LLAMA))[0] == 200
        await w.gateway.epp.stop_grpc()
        await epp_marked_down(w)
        for _ in range(5):
            status, served = await chat_once(w, LLAMA)
            assert status == 200
            assert served in {p.hostport for p in w.pool_a}


async def test_fail_close_refuses_without_the_epp(tmp_path: Path) -> None:
    async with world(tmp_path, failure_mode="FailClose") as w:
        assert (await chat_once(w, LLAMA))[0] == 200
        await w.gateway.epp.stop_grpc()
        status, served = await chat_once(w, LLAMA)
        assert 500 <= status < 600
        await epp_marked_down(w)
        status, served = await chat_once(w, LLAMA)
        assert 500 <= status < 600
        assert served == ""


def replace_file(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


async def test_hot_reload_adds_a_model_and_a_pod_without_failing_requests(
    tmp_path: Path,
) -> None:
    async with (
        world(tmp_path) as w,
        run_pods(["127.0.0.15"], port=w.pool_a[0].port) as (new_pod,),
    ):
        statuses: list[int] = []
        stop = asyncio.Event()
        progress = asyncio.Condition()

        async def traffic() -> None:
            while not stop.is_set() and len(statuses) < 5000:
                status = (await chat_once(w, LLAMA))[0]
                async with progress:
                    statuses.append(status)
                    progress.notify_all()

        async def served_at_least(n: int) -> None:
            async with asyncio.timeout(10), progress:
                await progress.wait_for(lambda: len(statuses) >= n)

        source = w.gateway.epp.source
        assert isinstance(source, FileSource)
        assert source is not None
        workers = [asyncio.create_task(traffic()) for _ in range(4)]
        try:
            await served_at_least(20)
            docs = base_config(w.pool_a, w.pool_b)
            docs += [
                model_doc("fresh", "fresh-model", "pool-b"),
                pod_doc("a-new", "pool-a", new_pod.host),
            ]
            replace_file(w.config, documents(*docs))
            ds = w.gateway.datastore
            async with asyncio.timeout(10):
                await source.wait_until(lambda: ds.model("fresh-model") is not None)
            assert new_pod.hostport in {e.hostport for e in ds.all_endpoints()}
            await served_at_least(len(statuses) + 20)
        finally:
            stop.set()
            await asyncio.gather(*workers)
        assert statuses and set(statuses) == {200}
        status, served = await chat_once(w, "fresh-model")
        assert status == 200 and served in {p.hostport for p in w.pool_b}
        seen = {(await chat_once(w, LLAMA))[1] for _ in range(60)}
        assert new_pod.hostport in seen


async def test_fail_open_fallback_follows_a_reload_without_restarting_envoy(
    tmp_path: Path,
) -> None:
    async with (
        world(tmp_path, failure_mode="FailOpen") as w,
        run_pods(["127.0.0.15"], port=w.pool_a[0].port) as (new_pod,),
    ):
        await w.gateway.epp.stop_grpc()
        await epp_marked_down(w)
        docs = [*base_config(w.pool_a, w.pool_b, failure_mode="FailOpen")]
        docs.append(pod_doc("a-new", "pool-a", new_pod.host))
        source = w.gateway.epp.source
        assert isinstance(source, FileSource)
        assert source is not None
        replace_file(w.config, documents(*docs))
        async with asyncio.timeout(10):
            await source.wait_until(lambda: len(w.gateway.datastore.all_endpoints()) == 5)
        envoy = w.gateway.envoy
        assert envoy is not None
        for _ in range(200):  # Envoy's file watch has no completion signal to wait on
            if f"epp_fallback::{new_pod.hostport}::" in await envoy.admin("/clusters"):
                break
            await asyncio.sleep(0.05)
        served = {(await chat_once(w, LLAMA))[1] for _ in range(30)}
        assert new_pod.hostport in served


async def test_fallback_endpoints_file_follows_the_datastore(tmp_path: Path) -> None:
    async with world(tmp_path, failure_mode="FailOpen") as w:
        eds = json.loads((tmp_path / "eds" / "fallback_eds.json").read_text())
        addresses = {
            e["endpoint"]["address"]["socket_address"]["address"]
            for group in eds["resources"][0]["endpoints"]
            for e in group["lb_endpoints"]
        }
        assert addresses == {p.host for p in w.pool_a}


async def test_nothing_a_client_sends_crashes_the_gateway(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        for body in (b"\x00\xff" * 100, b"[]", b'{"model": 5}', b"{" * 10000, b"null"):
            async with w.session.post(
                w.url + "/v1/chat/completions",
                data=body,
                headers={"content-type": "application/json"},
            ) as resp:
                assert resp.status == 400
        async with w.session.get(w.url + "/health") as resp:  # bodiless: any pod
            assert resp.status == 200
            assert resp.headers["x-served-by"] in {p.hostport for p in w.pool_a + w.pool_b}
        assert (await chat_once(w, LLAMA))[0] == 200
        assert not w.gateway.envoy.exited.is_set()  # type: ignore[union-attr]
