"""InferenceModel status: Accepted, ModelNameInUse for the younger claim, written on change."""

from __future__ import annotations

from typing import Any

import pytest

from inference_gateway.datastore import Datastore
from tests.integration.sources.conftest import X, eventually, make_model, make_pool, source
from tests.integration.sources.fakeapi import FakeApiServer

pytestmark = pytest.mark.looptime


def accepted(api: FakeApiServer, name: str) -> tuple[str, str] | None:
    obj = api.objects[(X, "inferencemodels", "default", name)]
    for c in (obj.get("status") or {}).get("conditions", []):
        if c["type"] == "Accepted":
            return (c["status"], c["reason"])
    return None


def patched(api: FakeApiServer, name: str) -> list[dict[str, Any]]:
    return [body for who, body in api.patches if who == name]


async def test_oldest_claim_is_accepted_and_the_younger_is_in_use(
    api: FakeApiServer, kubeconfig: str, store: Datastore
) -> None:
    api.put(make_pool())
    api.put(make_model("old", "llama"))
    young = make_model("young", "llama")
    young["status"] = {
        "conditions": [
            {
                "type": "Ready",
                "status": "Unknown",
                "reason": "Pending",
                "message": "Waiting for controller",
                "lastTransitionTime": "1970-01-01T00:00:00Z",
            }
        ]
    }
    api.put(young)
    async with source(store, kubeconfig) as src:
        await eventually(src.synced.is_set)
        await eventually(lambda: len(api.patches) == 2)
        assert accepted(api, "old") == ("True", "Accepted")
        assert accepted(api, "young") == ("False", "ModelNameInUse")
        condition = patched(api, "young")[0]["status"]["conditions"]
        assert [c["type"] for c in condition] == ["Accepted"]  # the Pending placeholder is gone
        assert condition[0]["observedGeneration"] == 1
        # An unrelated change to the winner brings no new patch: its status already says so.
        api.put(make_model("other", "qwen"))
        await eventually(lambda: len(api.patches) == 3)
        await eventually(lambda: store.model("qwen") is not None)
        api.put(
            {
                **make_model("old", "llama"),
                "status": api.objects[(X, "inferencemodels", "default", "old")]["status"],
            }
        )
        await eventually(
            lambda: (
                api.objects[(X, "inferencemodels", "default", "old")]["metadata"]["generation"] == 2
            )
        )
        # The winner goes: the younger claim is accepted now.
        api.delete(X, "InferenceModel", "old")
        await eventually(lambda: accepted(api, "young") == ("True", "Accepted"))
        assert len(patched(api, "young")) == 2
        assert len(patched(api, "old")) == 1
        assert len(api.patches) == 4


async def test_status_already_right_is_not_patched(
    api: FakeApiServer, kubeconfig: str, store: Datastore
) -> None:
    api.put(make_pool())
    model = make_model("m", "llama")
    model["status"] = {
        "conditions": [
            {
                "type": "Accepted",
                "status": "True",
                "reason": "Accepted",
                "message": "",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            }
        ]
    }
    api.put(model)
    api.put(make_model("n", "qwen"))
    async with source(store, kubeconfig) as src:
        await eventually(src.synced.is_set)
        await eventually(lambda: len(api.patches) == 1)
        assert [who for who, _ in api.patches] == ["n"]


async def test_failed_status_patch_is_retried(
    api: FakeApiServer, kubeconfig: str, store: Datastore
) -> None:
    api.put(make_pool())
    api.put(make_model("m", "llama"))
    api.fail("PATCH", "inferencemodels", 500, times=4)  # more than one request's attempts
    async with source(store, kubeconfig) as src:
        await eventually(src.synced.is_set)
        await eventually(lambda: accepted(api, "m") == ("True", "Accepted"), within=60)
        assert len(api.patches) == 1


async def test_patches_carry_the_resource_version_they_were_computed_from(
    api: FakeApiServer, kubeconfig: str, store: Datastore
) -> None:
    api.put(make_pool())
    stored = api.put(make_model("m", "llama"))
    async with source(store, kubeconfig) as src:
        await eventually(src.synced.is_set)
        await eventually(lambda: len(api.patches) == 1)
    assert patched(api, "m")[0]["metadata"] == {
        "resourceVersion": stored["metadata"]["resourceVersion"]
    }


async def test_a_conflict_rereads_and_keeps_the_other_writers_condition(
    api: FakeApiServer, kubeconfig: str, store: Datastore
) -> None:
    api.put(make_pool())
    api.put(make_model("m", "llama"))
    key = (X, "inferencemodels", "default", "m")

    def other_controller_writes() -> None:
        obj = api.objects[key]
        ready = {"type": "Ready", "status": "True", "reason": "Other", "message": "theirs"}
        obj = {**obj, "status": {"conditions": [ready]}}
        api._store(key, obj, "MODIFIED")

    api.before_patch.append(other_controller_writes)
    async with source(store, kubeconfig) as src:
        await eventually(src.synced.is_set)
        await eventually(lambda: accepted(api, "m") == ("True", "Accepted"))
    first, second = patched(api, "m")[:2]
    assert first["metadata"]["resourceVersion"] != second["metadata"]["resourceVersion"]
    conditions = api.objects[key]["status"]["conditions"]
    assert {c["type"] for c in conditions} == {"Ready", "Accepted"}  # theirs survived
    assert any(m == "GET" and p.endswith("/inferencemodels/m") for m, p, _ in api.requests)
