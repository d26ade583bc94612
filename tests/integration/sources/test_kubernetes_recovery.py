"""Reconnects, 410 Gone, API errors and backoff, missing CRDs; all on virtual time."""

from __future__ import annotations

import asyncio

import pytest

from inference_gateway.datastore import Datastore
from tests.integration.sources.conftest import (
    SETTINGS,
    eventually,
    hostports,
    make_model,
    make_pod,
    make_pool,
    source,
)
from tests.integration.sources.fakeapi import FakeApiServer

pytestmark = pytest.mark.looptime


def lists(api: FakeApiServer, plural: str) -> int:
    return sum(1 for m, p, q in api.requests if p.endswith(plural) and "watch" not in q)


async def test_dropped_watch_resumes_from_last_version_without_listing(
    api: FakeApiServer, kubeconfig: str, store: Datastore
) -> None:
    api.put(make_pool())
    api.put(make_pod("a", "127.0.0.11"))
    async with source(store, kubeconfig) as src:
        await eventually(src.synced.is_set)
        await eventually(lambda: api.watching("pods") == 1)
        api.put(make_pod("b", "127.0.0.12"))
        await eventually(lambda: len(hostports(store)) == 2)
        seen_rv = api.rv
        api.drop_watches()
        api.put(make_pod("c", "127.0.0.13"))  # while no watch is connected
        await eventually(lambda: len(hostports(store)) == 3)
        assert api.watch_requests("pods")[-1]["resourceVersion"] == str(seen_rv)
        assert lists(api, "pods") == 1


async def test_410_gone_relists_and_nothing_is_missed(
    api: FakeApiServer, kubeconfig: str, store: Datastore
) -> None:
    api.put(make_pool())
    for i, ip in enumerate(["127.0.0.11", "127.0.0.12", "127.0.0.13"]):
        api.put(make_pod(f"p{i}", ip))
    async with source(store, kubeconfig) as src:
        await eventually(src.synced.is_set)
        await eventually(lambda: api.watching("pods") == 1)
        api.drop_watches()
        # During the gap: one pod changes, one goes, one comes; then history is compacted.
        api.put(make_pod("p0", "127.0.0.11", ready=False))
        api.delete("v1", "Pod", "p1")
        api.put(make_pod("p3", "127.0.0.14"))
        api.compact()
        await eventually(lambda: hostports(store) == ["127.0.0.13:8000", "127.0.0.14:8000"])
        assert sorted(p.name for p in store.pods()) == ["p0", "p2", "p3"]
        assert lists(api, "pods") == 2


async def test_bookmark_moves_the_resume_point(
    api: FakeApiServer, kubeconfig: str, store: Datastore
) -> None:
    api.put(make_pool())
    async with source(store, kubeconfig) as src:
        await eventually(src.synced.is_set)
        await eventually(lambda: api.watching("pods") == 1)
        api.put(make_model("m", "llama"))  # moves rv; no pod event
        await eventually(lambda: store.model("llama") is not None)
        api.bookmark()
        api.send_raw({"type": "SURPRISE", "object": {}})
        rv = str(api.rv)
        api.compact()  # a watch resumed from before the bookmark would be refused
        api.drop_watches()
        await eventually(lambda: len(api.watch_requests("pods")) >= 2 and api.watching("pods") == 1)
        assert api.watch_requests("pods")[-1]["resourceVersion"] == rv
        assert lists(api, "pods") == 1


async def test_silent_stream_is_reopened_after_the_inactivity_timeout(
    api: FakeApiServer, kubeconfig: str, store: Datastore
) -> None:
    api.put(make_pool())
    loop = asyncio.get_running_loop()
    async with source(store, kubeconfig) as src:
        await eventually(src.synced.is_set)
        start = loop.time()
        await eventually(lambda: len(api.watch_requests("pods")) >= 2, within=600, step=1)
        assert loop.time() - start >= SETTINGS.inactivity_timeout
        assert lists(api, "pods") == 1


async def test_transient_list_errors_are_retried_with_backoff(
    api: FakeApiServer, kubeconfig: str, store: Datastore, caplog: pytest.LogCaptureFixture
) -> None:
    api.put(make_pool())
    api.put(make_pod("a", "127.0.0.11"))
    api.fail("LIST", "pods", 500, times=2)
    loop = asyncio.get_running_loop()
    start = loop.time()
    async with source(store, kubeconfig) as src:
        await eventually(src.synced.is_set)
        assert loop.time() - start >= sum(SETTINGS.request_backoff)
    assert hostports(store) == ["127.0.0.11:8000"]
    assert "list pods: attempt #1/3 failed; will retry" in caplog.text
    assert "list pods: attempt #2/3 failed; will retry" in caplog.text


async def test_429_waits_for_retry_after(
    api: FakeApiServer, kubeconfig: str, store: Datastore
) -> None:
    api.put(make_pool())
    api.fail("LIST", "inferencepools", 429, retry_after=7)
    loop = asyncio.get_running_loop()
    start = loop.time()
    async with source(store, kubeconfig) as src:
        await eventually(src.synced.is_set)
        assert loop.time() - start >= 7


async def test_persistent_errors_back_off_and_recover(
    api: FakeApiServer, kubeconfig: str, store: Datastore, caplog: pytest.LogCaptureFixture
) -> None:
    api.put(make_pool())
    api.put(make_pod("a", "127.0.0.11"))
    # 3 attempts per cycle: the first two cycles fail, the third succeeds.
    api.fail("LIST", "pods", 503, times=6)
    loop = asyncio.get_running_loop()
    start = loop.time()
    async with source(store, kubeconfig) as src:
        await eventually(src.synced.is_set, within=120)
        backoffs = SETTINGS.watch_backoff[0] + SETTINGS.watch_backoff[1]
        assert loop.time() - start >= 2 * sum(SETTINGS.request_backoff) + backoffs
    assert "watch pods in default failed" in caplog.text
    assert hostports(store) == ["127.0.0.11:8000"]


async def test_non_410_error_event_restarts_with_a_fresh_list(
    api: FakeApiServer, kubeconfig: str, store: Datastore
) -> None:
    api.put(make_pool())
    async with source(store, kubeconfig) as src:
        await eventually(src.synced.is_set)
        await eventually(lambda: api.watching("pods") == 1)
        api.send_raw(
            {"type": "ERROR", "object": {"kind": "Status", "code": 500, "message": "etcd"}}
        )
        api.drop_watches()
        await eventually(lambda: lists(api, "pods") == 2, within=60)


async def test_missing_optional_crds_warn_and_the_pool_is_still_served(
    kubeconfig: str, api: FakeApiServer, store: Datastore, caplog: pytest.LogCaptureFixture
) -> None:
    api.not_installed = {
        "inference.networking.x-k8s.io/inferencemodels",
        "inference.networking.x-k8s.io/inferenceobjectives",
        "inference.networking.x-k8s.io/inferencemodelrewrites",
    }
    api.put(make_pool())
    api.put(make_pod("a", "127.0.0.11"))
    api.put(make_model("m", "llama"))
    loop = asyncio.get_running_loop()
    async with source(store, kubeconfig) as src:
        await eventually(src.synced.is_set)
        start = loop.time()
        assert hostports(store) == ["127.0.0.11:8000"]
        assert "inferencemodels.inference.networking.x-k8s.io in default: not served" in caplog.text
        api.not_installed.clear()  # the CRD gets installed; found on the slow retry
        await eventually(lambda: store.model("llama") is not None, within=120, step=1)
        assert loop.time() - start >= SETTINGS.missing_crd_retry * 0.9


async def test_http_410_on_the_watch_request_relists(
    api: FakeApiServer, kubeconfig: str, store: Datastore
) -> None:
    api.put(make_pool())
    async with source(store, kubeconfig) as src:
        await eventually(src.synced.is_set)
        await eventually(lambda: api.watching("pods") == 1)
        api.fail("WATCH", "pods", 410)
        api.put(make_pod("a", "127.0.0.11"))
        api.drop_watches()
        await eventually(lambda: hostports(store) == ["127.0.0.11:8000"])
        await eventually(lambda: lists(api, "pods") == 2)
