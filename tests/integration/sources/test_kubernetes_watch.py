"""The Kubernetes source against a fake API server: lists, watch events, readiness."""

from __future__ import annotations

from typing import Any

import pytest

from inference_gateway.datastore import Datastore
from tests.integration.sources.conftest import (
    X,
    eventually,
    hostports,
    make_model,
    make_pod,
    make_pool,
    source,
)
from tests.integration.sources.fakeapi import FakeApiServer

pytestmark = pytest.mark.looptime


async def test_initial_list_fills_the_datastore_and_marks_synced(
    api: FakeApiServer, kubeconfig: str, store: Datastore
) -> None:
    api.put(make_pool(ports=(8000, 8001)))
    api.put(make_pod("a", "127.0.0.11"))
    api.put(make_pod("b", "127.0.0.12", app="other"))
    api.put(make_model("m", "llama"))
    async with source(store, kubeconfig) as src:
        await eventually(src.synced.is_set)
        assert store.synced
        assert hostports(store) == ["127.0.0.11:8000", "127.0.0.11:8001"]
        assert store.model("llama") is not None
        pool = store.pool("default/pool")
        assert pool is not None and pool.api_version == "v1"
        watches = api.watch_requests("inferencepools")
        assert watches and watches[0]["allowWatchBookmarks"] == "true"
        assert watches[0]["fieldSelector"] == "metadata.name=pool"


async def test_not_synced_without_the_pool(
    api: FakeApiServer, kubeconfig: str, store: Datastore
) -> None:
    api.put(make_pod("a", "127.0.0.11"))
    async with source(store, kubeconfig) as src:
        await eventually(lambda: api.watching("pods") == 1 and api.watching("inferencepools") == 1)
        assert not store.synced
        api.put(make_pool())
        await eventually(src.synced.is_set)
        assert hostports(store) == ["127.0.0.11:8000"]


async def test_watch_events_add_change_and_remove(
    api: FakeApiServer, kubeconfig: str, store: Datastore
) -> None:
    api.put(make_pool())
    async with source(store, kubeconfig) as src:
        await eventually(src.synced.is_set)
        await eventually(lambda: api.watching("pods") == 1)
        api.put(make_pod("a", "127.0.0.11"))
        api.put(make_pod("b", "127.0.0.12"))
        await eventually(lambda: hostports(store) == ["127.0.0.11:8000", "127.0.0.12:8000"])
        api.put(make_pod("a", "127.0.0.11", app="other"))
        await eventually(lambda: hostports(store) == ["127.0.0.12:8000"])
        api.delete("v1", "Pod", "b")
        await eventually(lambda: hostports(store) == [])
        assert [p.name for p in store.pods()] == ["a"]
        api.put(make_pool(app="other"))
        await eventually(lambda: hostports(store) == ["127.0.0.11:8000"])


@pytest.mark.parametrize(
    "change",
    [
        {"ready": False},
        {"deleting": True},
    ],
    ids=["not-ready", "terminating"],
)
async def test_a_pod_leaves_within_one_event(
    api: FakeApiServer, kubeconfig: str, store: Datastore, change: dict[str, Any]
) -> None:
    api.put(make_pool())
    api.put(make_pod("a", "127.0.0.11"))
    async with source(store, kubeconfig) as src:
        await eventually(src.synced.is_set)
        await eventually(lambda: api.watching("pods") == 1)
        assert hostports(store) == ["127.0.0.11:8000"]
        api.put(make_pod("a", "127.0.0.11", **change))
        await eventually(lambda: hostports(store) == [])
        api.put(make_pod("a", "127.0.0.11"))
        await eventually(lambda: hostports(store) == ["127.0.0.11:8000"])


async def test_v1alpha2_pool_group(api: FakeApiServer, kubeconfig: str, store: Datastore) -> None:
    api.put(make_pool())  # the GA pool of the same name must be ignored
    api.put(
        {
            "apiVersion": X,
            "kind": "InferencePool",
            "metadata": {"name": "pool"},
            "spec": {
                "selector": {"app": "old"},
                "targetPortNumber": 8080,
                "extensionRef": {"name": "epp", "failureMode": "FailOpen"},
            },
        }
    )
    api.put(make_pod("a", "127.0.0.11", app="old"))
    async with source(store, kubeconfig, group="inference.networking.x-k8s.io") as src:
        await eventually(src.synced.is_set)
        pool = store.pool("default/pool")
        assert pool is not None
        assert (pool.api_version, pool.failure_mode) == ("v1alpha2", "FailOpen")
        assert hostports(store) == ["127.0.0.11:8080"]


async def test_models_of_other_pools_are_absent_and_unreadable_edits_keep_the_last_good(
    api: FakeApiServer, kubeconfig: str, store: Datastore
) -> None:
    api.put(make_pool())
    api.put(make_model("mine", "llama"))
    api.put(make_model("theirs", "qwen", pool="other"))
    async with source(store, kubeconfig) as src:
        await eventually(src.synced.is_set)
        assert [m.model_name for m in store.models()] == ["llama"]
        await eventually(lambda: api.watching("inferencemodels") == 1)
        broken = make_model("mine", "llama")
        broken["spec"]["targetModels"] = [{"name": "a", "weight": 1}, {"name": "b"}]
        api.put(broken)
        await eventually(lambda: sum(src.unreadable().values()) == 1)
        assert store.model("llama") is not None  # reported, and the last good version stays
        api.put(make_model("theirs", "qwen"))
        await eventually(lambda: store.model("qwen") is not None)


async def test_an_unreadable_pool_edit_does_not_make_the_pool_vanish(
    api: FakeApiServer, kubeconfig: str, store: Datastore
) -> None:
    api.put(make_pool())
    async with source(store, kubeconfig) as src:
        await eventually(src.synced.is_set)
        assert store.pool(src.pool_key) is not None
        broken = make_pool()
        broken["spec"]["targetPorts"] = [{"number": "8000"}]  # a string: strict types refuse
        api.put(broken)
        await eventually(lambda: sum(src.unreadable().values()) == 1)
        api.put(make_model("other", "qwen"))  # history moves on past the pool's version ...
        api.compact()  # ... and is forgotten: 410 Gone, a relist, which must not drop it either
        api.drop_watches()
        await eventually(lambda: sum(src.unreadable().values()) == 2)
        assert store.pool(src.pool_key) is not None


async def test_objectives_and_rewrites(
    api: FakeApiServer, kubeconfig: str, store: Datastore
) -> None:
    api.put(make_pool())
    api.put(
        {
            "apiVersion": X,
            "kind": "InferenceObjective",
            "metadata": {"name": "batch"},
            "spec": {"priority": -1, "poolRef": {"name": "pool"}},
        }
    )
    rewrite = {
        "apiVersion": X,
        "kind": "InferenceModelRewrite",
        "metadata": {"name": "split"},
        "spec": {
            "poolRef": {"name": "pool"},
            "rules": [{"targets": [{"modelRewrite": "llama-v2"}]}],
        },
    }
    api.put(rewrite)
    async with source(store, kubeconfig) as src:
        await eventually(src.synced.is_set)
        objective = store.objective("default", "batch")
        assert objective is not None and objective.priority == -1
        assert [r.name for r in store.rewrites("default/pool")] == ["split"]
        await eventually(lambda: api.watching("inferencemodelrewrites") == 1)
        api.delete(X, "InferenceModelRewrite", "split")
        await eventually(lambda: store.rewrites("default/pool") == ())
