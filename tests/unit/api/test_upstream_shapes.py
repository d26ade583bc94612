"""Objects in upstream's shapes (``tests/upstream/api_objects.yaml``) parse as the API server
would accept them, and what it would refuse is refused naming the field."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from inference_gateway.api import InvalidObjectError, parse_object
from inference_gateway.api.v1alpha2 import InferencePoolV1Alpha2

DOCS: list[dict[str, Any]] = [
    d
    for d in yaml.safe_load_all(
        (Path(__file__).parents[2] / "upstream" / "api_objects.yaml").read_text()
    )
    if d
]


def _group(d: dict[str, Any]) -> str:
    return "x-k8s" if "x-k8s" in d["apiVersion"] else "ga"


def doc(kind: str, api_version_part: str, index: int = 0) -> dict[str, Any]:
    found = [d for d in DOCS if d["kind"] == kind and _group(d) == api_version_part]
    return copy.deepcopy(found[index])


@pytest.mark.parametrize("document", DOCS, ids=lambda d: f"{d['kind']}-{d['metadata']['name']}")
def test_upstream_documents_parse(document: dict[str, Any]) -> None:
    obj = parse_object(document)
    assert obj.metadata.name == document["metadata"]["name"]


def test_labels_null_is_no_labels() -> None:
    pool = parse_object(doc("InferencePool", "x-k8s"))
    assert pool.metadata.labels == {}


def test_a_v030_status_with_an_object_reference_is_read_without_its_extra_fields() -> None:
    pool = parse_object(doc("InferencePool", "x-k8s"))
    assert isinstance(pool, InferencePoolV1Alpha2)
    assert pool.status is not None
    assert pool.status.parent[0].parent_ref.name == "inference-gateway"


def test_an_unreadable_status_drops_the_status_not_the_object() -> None:
    d = doc("InferencePool", "x-k8s")
    d["status"]["parent"][0]["conditions"][0]["status"] = "Maybe"
    pool = parse_object(d)
    assert isinstance(pool, InferencePoolV1Alpha2)
    assert pool.status is None and pool.spec.target_port_number == 8000


def test_port_number_is_inferred_when_absent() -> None:
    pool = parse_object(doc("InferencePool", "x-k8s"))
    assert isinstance(pool, InferencePoolV1Alpha2)
    assert pool.spec.extension_ref.port_number == 9002


def test_rewrite_rules_may_omit_targets() -> None:
    d = doc("InferenceModelRewrite", "x-k8s")
    del d["spec"]["rules"][0]["targets"]
    parse_object(d)


def _set(d: dict[str, Any], path: str, value: Any) -> None:
    keys = [int(k) if k.isdigit() else k for k in path.split(".")]
    node: Any = d
    for k in keys[:-1]:
        node = node[k]
    node[keys[-1]] = value


@pytest.mark.parametrize(
    ("kind", "group", "path", "value", "field"),
    [
        # The API server does not coerce: strings and booleans are not integers ...
        ("InferencePool", "x-k8s", "spec.targetPortNumber", "8000", "spec.targetPortNumber"),
        ("InferencePool", "ga", "spec.targetPorts.0.number", True,
         "spec.targetPorts[0].number"),
        ("InferenceModel", "x-k8s", "spec.targetModels.0.weight", "100",
         "spec.targetModels[0].weight"),
        ("InferenceObjective", "x-k8s", "spec.priority", "1", "spec.priority"),
        ("InferenceObjective", "x-k8s", "spec.priority", 1.5, "spec.priority"),
        # ... nor numbers strings.
        ("InferenceModel", "x-k8s", "spec.modelName", 7, "spec.modelName"),
        ("InferencePool", "ga", "metadata.labels", {"a": 1}, "metadata.labels.a"),
        # Schema and CEL rules.
        ("InferencePool", "ga", "spec.targetPorts", [], "spec.targetPorts"),
        ("InferencePool", "ga", "spec.targetPorts.0.number", 70000,
         "spec.targetPorts[0].number"),
        ("InferencePool", "ga", "spec.endpointPickerRef.port", None,
         "spec.endpointPickerRef"),
        ("InferencePool", "ga", "spec.appProtocol", "grpc", "spec.appProtocol"),
        ("InferencePool", "x-k8s", "spec.extensionRef.failureMode", "Open",
         "spec.extensionRef.failureMode"),
        ("InferenceModel", "x-k8s", "spec.criticality", "High", "spec.criticality"),
        ("InferenceModelRewrite", "x-k8s", "spec.rules.0.targets", [], "spec.rules[0].targets"),
        ("InferenceObjective", "x-k8s", "spec.poolRef", None, "spec.poolRef"),
        # A typo in the spec is refused (kubectl's strict field validation), not dropped.
        ("InferencePool", "ga", "spec.targetPort", 8000, "spec.targetPort"),
    ],
)  # fmt: skip
def test_invalid_documents_are_refused_naming_the_field(
    kind: str, group: str, path: str, value: Any, field: str
) -> None:
    d = doc(kind, group)
    _set(d, path, value)
    with pytest.raises(InvalidObjectError) as caught:
        parse_object(d)
    assert any(p.path.startswith(field) for p in caught.value.problems), caught.value
