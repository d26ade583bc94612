"""API objects of both generations become the datastore's records with nothing lost."""

from __future__ import annotations

from typing import Any

import pytest

from inference_gateway.api import parse_object
from inference_gateway.datastore import PodInfo, PoolInfo, TargetModel
from inference_gateway.sources import convert

X = "inference.networking.x-k8s.io/v1alpha2"
GA = "inference.networking.k8s.io/v1"


def make_pod(
    name: str = "p1",
    *,
    ip: str | None = "127.0.0.11",
    ready: str | None = "True",
    deleting: bool = False,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns", "labels": labels or {"app": "vllm"}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    status: dict[str, Any] = {}
    if ip is not None:
        status["podIP"] = ip
    if ready is not None:
        status["conditions"] = [{"type": "Ready", "status": ready}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "status": status}


def test_v1alpha2_pool() -> None:
    obj = parse_object(
        {
            "apiVersion": X,
            "kind": "InferencePool",
            "metadata": {"name": "pool", "namespace": "ns"},
            "spec": {
                "selector": {"app": "vllm"},
                "targetPortNumber": 8000,
                "extensionRef": {"name": "epp", "failureMode": "FailOpen"},
            },
        }
    )
    pool = convert.to_record(obj)
    assert pool == PoolInfo(
        name="pool",
        namespace="ns",
        selector={"app": "vllm"},
        target_ports=(8000,),
        api_version="v1alpha2",
        failure_mode="FailOpen",
        epp_service="epp",
        epp_port=9002,
    )


def test_v1_pool() -> None:
    obj = parse_object(
        {
            "apiVersion": GA,
            "kind": "InferencePool",
            "metadata": {"name": "pool", "namespace": "ns"},
            "spec": {
                "selector": {"matchLabels": {"app": "vllm"}},
                "targetPorts": [{"number": 8000}, {"number": 8002}],
                "appProtocol": "kubernetes.io/h2c",
                "endpointPickerRef": {"name": "epp", "port": {"number": 9100}},
            },
        }
    )
    pool = convert.to_record(obj)
    assert isinstance(pool, PoolInfo)
    assert (pool.api_version, pool.target_ports, pool.app_protocol) == (
        "v1",
        (8000, 8002),
        "kubernetes.io/h2c",
    )
    assert dict(pool.selector) == {"app": "vllm"}
    assert (pool.epp_service, pool.epp_port, pool.failure_mode) == ("epp", 9100, "FailClose")


def test_v1_pool_without_picker_ref() -> None:
    obj = parse_object(
        {
            "apiVersion": GA,
            "kind": "InferencePool",
            "metadata": {"name": "pool"},
            "spec": {"selector": {"matchLabels": {"a": "b"}}, "targetPorts": [{"number": 1}]},
        }
    )
    pool = convert.to_record(obj)
    assert isinstance(pool, PoolInfo)
    assert (pool.namespace, pool.epp_service, pool.epp_port) == ("default", None, None)


@pytest.mark.parametrize(
    ("created", "expected"),
    [("2026-01-01T00:00:00Z", 1767225600.0), (None, 0.0)],
)
def test_inference_model(created: str | None, expected: float) -> None:
    meta: dict[str, Any] = {"name": "m", "namespace": "ns"}
    if created is not None:
        meta["creationTimestamp"] = created
    obj = parse_object(
        {
            "apiVersion": X,
            "kind": "InferenceModel",
            "metadata": meta,
            "spec": {
                "modelName": "food-review",
                "criticality": "Critical",
                "poolRef": {"name": "pool"},
                "targetModels": [{"name": "a", "weight": 3}, {"name": "b", "weight": 1}],
            },
        }
    )
    model = convert.model(obj)  # type: ignore[arg-type]
    assert (model.key, model.model_name, model.pool_key, model.criticality) == (
        "ns/m",
        "food-review",
        "ns/pool",
        "Critical",
    )
    assert model.targets == (TargetModel("a", 3), TargetModel("b", 1))
    assert model.created == expected


def test_objective_priority_defaults_to_zero() -> None:
    spec: dict[str, Any] = {"poolRef": {"name": "pool"}}
    doc = {"apiVersion": X, "kind": "InferenceObjective", "metadata": {"name": "o"}, "spec": spec}
    assert convert.objective(parse_object(doc)).priority == 0  # type: ignore[arg-type]
    spec["priority"] = -3
    assert convert.objective(parse_object(doc)).priority == -3  # type: ignore[arg-type]


def test_rewrite() -> None:
    obj = parse_object(
        {
            "apiVersion": X,
            "kind": "InferenceModelRewrite",
            "metadata": {"name": "r", "creationTimestamp": "1970-01-01T00:01:00Z"},
            "spec": {
                "poolRef": {"name": "pool"},
                "rules": [
                    {
                        "matches": [{"model": {"value": "llama"}}],
                        "targets": [{"modelRewrite": "llama-v2", "weight": 9}],
                    },
                    {"targets": [{"modelRewrite": "base"}]},
                ],
            },
        }
    )
    rw = convert.rewrite(obj)  # type: ignore[arg-type]
    assert rw.created == 60.0 and rw.pool == "pool"
    assert [r.matches for r in rw.rules] == [("llama",), ()]
    assert [r.targets for r in rw.rules] == [(TargetModel("llama-v2", 9),), (TargetModel("base"),)]


@pytest.mark.parametrize(
    ("pod", "ready", "terminating", "serving"),
    [
        (make_pod(), True, False, True),
        (make_pod(ready="False"), False, False, False),
        (make_pod(ready=None), False, False, False),
        (make_pod(deleting=True), True, True, False),
        (make_pod(ip=None), True, False, False),
    ],
)
def test_pod(pod: dict[str, Any], ready: bool, terminating: bool, serving: bool) -> None:
    info = convert.to_record(parse_object(pod))
    assert isinstance(info, PodInfo)
    assert (info.ready, info.terminating, info.serving) == (ready, terminating, serving)
    assert dict(info.labels) == {"app": "vllm"}


def test_desired_state_groups_and_last_wins() -> None:
    objects = [parse_object(make_pod("a")), parse_object(make_pod("a", ip="127.0.0.12"))]
    state = convert.desired_state(objects)
    assert [p.address for p in state.pods] == ["127.0.0.12"]
    assert state.pools == () and state.models == ()
