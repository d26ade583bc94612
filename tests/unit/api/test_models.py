"""Parsing API documents into models: defaults, helpers, and located validation errors."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from inference_gateway.api import (
    InferenceModel,
    InferenceModelRewrite,
    InferenceObjective,
    InferencePoolV1,
    InferencePoolV1Alpha2,
    InvalidObjectError,
    ObjectMeta,
    Pod,
    UnknownKindError,
    parse_documents,
    parse_object,
)
from tests.unit.api import samples
from tests.unit.api.samples import DELETE, with_value


@pytest.mark.parametrize(
    ("build", "cls"),
    [
        (samples.pool_v1alpha2, InferencePoolV1Alpha2),
        (samples.model, InferenceModel),
        (samples.pool_v1, InferencePoolV1),
        (samples.objective, InferenceObjective),
        (samples.rewrite, InferenceModelRewrite),
        (samples.pod, Pod),
    ],
)
def test_valid_documents_parse_to_their_kind(
    build: Callable[[], dict[str, Any]], cls: type
) -> None:
    obj = parse_object(build())
    assert type(obj) is cls
    assert obj.metadata.namespace == "ns"


def test_v1alpha2_pool_fields_and_defaults() -> None:
    pool = parse_object(samples.pool_v1alpha2())
    assert isinstance(pool, InferencePoolV1Alpha2)
    assert pool.spec.selector == {"app": "vllm", "example.com/tier": "gpu"}
    assert pool.spec.target_port_number == 8000
    ref = pool.spec.extension_ref
    assert (ref.group, ref.kind, ref.port_number, ref.failure_mode) == (
        "",
        "Service",
        9002,
        "FailClose",
    )


def test_v1_pool_defaults() -> None:
    pool = parse_object(samples.pool_v1())
    assert isinstance(pool, InferencePoolV1)
    assert pool.spec.app_protocol == "http"
    assert [p.number for p in pool.spec.target_ports] == [8000, 8002]
    ref = pool.spec.endpoint_picker_ref
    assert ref is not None
    assert (ref.kind, ref.failure_mode, ref.port and ref.port.number) == (
        "Service",
        "FailClose",
        9002,
    )


def test_v1_pool_endpoint_picker_ref_is_optional_and_port_only_needed_for_services() -> None:
    no_ref = parse_object(with_value(samples.pool_v1(), "spec.endpointPickerRef", DELETE))
    assert isinstance(no_ref, InferencePoolV1)
    assert no_ref.spec.endpoint_picker_ref is None
    other_kind = with_value(
        samples.pool_v1(), "spec.endpointPickerRef", {"kind": "Backend", "name": "x"}
    )
    assert parse_object(other_kind).spec.endpoint_picker_ref.port is None  # type: ignore[union-attr]


def test_model_criticality_has_no_default_and_pool_ref_group_defaults() -> None:
    doc = with_value(samples.model(), "spec.criticality", DELETE)
    m = parse_object(with_value(doc, "spec.targetModels", DELETE))
    assert isinstance(m, InferenceModel)
    assert m.spec.criticality is None
    assert m.spec.target_models == ()
    assert m.spec.pool_ref.group == "inference.networking.x-k8s.io"
    assert m.spec.pool_ref.kind == "InferencePool"


def test_model_targets_without_weights_are_valid() -> None:
    doc = with_value(samples.model(), "spec.targetModels", [{"name": "a"}, {"name": "b"}])
    m = parse_object(doc)
    assert isinstance(m, InferenceModel)
    assert [t.weight for t in m.spec.target_models] == [None, None]


def test_objective_and_rewrite_defaults() -> None:
    o = parse_object(with_value(samples.objective(), "spec.priority", DELETE))
    assert isinstance(o, InferenceObjective)
    assert o.spec.priority is None
    assert o.spec.pool_ref.group == "inference.networking.k8s.io"
    r = parse_object(samples.rewrite())
    assert isinstance(r, InferenceModelRewrite)
    assert r.spec.rules[0].matches[0].model.type == "Exact"
    assert r.spec.rules[1].matches == ()
    assert r.spec.rules[1].targets[0].weight is None


def test_metadata_ignores_server_fields_and_defaults_namespace() -> None:
    doc = samples.model()
    doc["metadata"] = {
        "name": "m",
        "managedFields": [{"manager": "kubectl"}],
        "creationTimestamp": "2026-01-02T03:04:05Z",
        "resourceVersion": "42",
    }
    m = parse_object(doc)
    assert m.metadata.namespace == "default"
    assert m.metadata.resource_version == "42"
    assert m.metadata.creation_timestamp == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_pod_tolerates_unknown_fields_and_reports_readiness() -> None:
    pod = parse_object(samples.pod())
    assert isinstance(pod, Pod)
    assert pod.status.pod_ip == "127.0.0.11"
    assert pod.status.phase == "Running"
    assert pod.is_ready
    assert not pod.is_terminating


@pytest.mark.parametrize(
    ("conditions", "ready"),
    [
        ([], False),
        ([{"type": "Ready", "status": "False"}], False),
        ([{"type": "ContainersReady", "status": "True"}], False),
        ([{"type": "Ready", "status": "Unknown"}], False),
        ([{"type": "Ready", "status": "True"}], True),
        ([{"type": "Ready", "status": True}], True),
        ([{"type": "Ready", "status": False}], False),
    ],
)
def test_pod_ready_needs_a_true_ready_condition(conditions: list[Any], ready: bool) -> None:
    pod = parse_object(with_value(samples.pod(), "status.conditions", conditions))
    assert isinstance(pod, Pod)
    assert pod.is_ready is ready


def test_pod_with_deletion_timestamp_is_terminating() -> None:
    doc = with_value(samples.pod(), "metadata.deletionTimestamp", "2026-01-02T03:05:00Z")
    pod = parse_object(doc)
    assert isinstance(pod, Pod)
    assert pod.is_terminating


def test_pod_without_status_is_not_ready() -> None:
    pod = Pod(metadata=ObjectMeta(name="p"))
    assert not pod.is_ready
    assert pod.status.pod_ip is None


def test_models_are_frozen() -> None:
    m = parse_object(samples.model())
    assert isinstance(m, InferenceModel)
    with pytest.raises(ValueError, match="frozen"):
        m.spec.model_name = "other"


_V1 = samples.pool_v1
_A2 = samples.pool_v1alpha2
_M = samples.model
_O = samples.objective
_R = samples.rewrite


def _bad(
    build: Callable[[], dict[str, Any]], path: str, value: Any, rule: str, *, where: str = ""
) -> Any:
    """A row of the rejection table: set ``path`` to ``value``; expect ``rule`` at ``where``."""
    return pytest.param(build, path, value, where or path, rule, id=f"{path}={value!r:.20}")


_CEL_PORT = "port is required when kind is 'Service' or unspecified (defaults to 'Service')"


@pytest.mark.parametrize(
    ("build", "path", "value", "where", "rule"),
    [
        _bad(_M, "spec.targetModels[2].weight", 0, "must be between 1 and 1000000"),
        _bad(_M, "spec.targetModels[0].weight", 1_000_001, "must be between 1 and 1000000"),
        _bad(_M, "spec.modelName", "m" * 257, "must be at most 256 characters"),
        _bad(_M, "spec.targetModels[1].name", "n" * 254, "must be at most 253 characters"),
        _bad(
            _M,
            "spec.targetModels",
            [{"name": f"t{i}"} for i in range(11)],
            "must have at most 10 items",
        ),
        _bad(
            _M,
            "spec.targetModels[1].weight",
            DELETE,
            "weights must be set on all targetModels or on none",
            where="spec.targetModels",
        ),
        _bad(
            _M,
            "spec.criticality",
            "Important",
            "must be one of 'Critical', 'Standard' or 'Sheddable'",
        ),
        _bad(_M, "spec.poolRef", DELETE, "is required"),
        _bad(_M, "spec.poolRef.kind", "bad/kind", "must match ^[a-zA-Z]"),
        _bad(_M, "spec.modelNmae", "typo", "is not a known field"),
        _bad(_A2, "spec.targetPortNumber", 0, "must be between 1 and 65535"),
        _bad(_A2, "spec.targetPortNumber", 65536, "must be between 1 and 65535"),
        _bad(_A2, "spec.extensionRef.portNumber", 70000, "must be between 1 and 65535"),
        _bad(
            _A2,
            "spec.extensionRef.failureMode",
            "Maybe",
            "must be one of 'FailOpen' or 'FailClose'",
        ),
        _bad(_A2, "spec.extensionRef.name", DELETE, "is required"),
        _bad(
            _A2,
            "spec.selector",
            {"bad key!": "x"},
            "must match",
            where="spec.selector.bad key! (key)",
        ),
        _bad(
            _A2,
            "spec.selector",
            {"app": "v" * 64},
            "must be at most 63 characters",
            where="spec.selector.app",
        ),
        _bad(_A2, "spec.selector", {"app": "-bad"}, "must match", where="spec.selector.app"),
        _bad(_A2, "spec.extensionRef.group", "Not.A.Group", "must match"),
        _bad(
            _V1,
            "spec.targetPorts",
            [{"number": 8000}, {"number": 8000}],
            "port number must be unique",
        ),
        _bad(_V1, "spec.targetPorts", [], "must have at least 1 item"),
        _bad(
            _V1,
            "spec.targetPorts",
            [{"number": 8000 + i} for i in range(9)],
            "must have at most 8 items",
        ),
        _bad(_V1, "spec.targetPorts[1].number", 0, "must be between 1 and 65535"),
        _bad(_V1, "spec.selector.matchLabels", {}, "must have at least 1 item"),
        _bad(
            _V1,
            "spec.selector.matchLabels",
            {f"k{i}": "v" for i in range(65)},
            "must have at most 64 items",
        ),
        _bad(_V1, "spec.endpointPickerRef.port", DELETE, _CEL_PORT, where="spec.endpointPickerRef"),
        _bad(_V1, "spec.endpointPickerRef.port.number", 0, "must be between 1 and 65535"),
        _bad(_V1, "spec.appProtocol", "grpc", "must be one of 'http' or 'kubernetes.io/h2c'"),
        _bad(
            _V1, "spec.selector", {"app": "vllm"}, "is not a known field", where="spec.selector.app"
        ),
        _bad(_O, "spec.priority", "high", "valid integer"),
        _bad(_O, "spec.poolRef.name", "", "must be at least 1 characters"),
        _bad(_R, "spec.rules", DELETE, "is required"),
        _bad(_R, "spec.rules[0].targets", [], "must have at least 1 item"),
        _bad(_R, "spec.rules[0].targets[1].weight", 2_000_000, "must be between 1 and 1000000"),
        _bad(_R, "spec.rules[0].targets[0].modelRewrite", DELETE, "is required"),
        _bad(_R, "spec.rules[0].matches[0].model.value", "", "must be at least 1 characters"),
        _bad(_R, "spec.rules[0].matches[0].model.type", "Prefix", "must be one of 'Exact'"),
        _bad(_M, "metadata.namespace", "Bad_NS", "must match"),
        _bad(_M, "metadata.name", DELETE, "is required"),
        _bad(_M, "spec", DELETE, "is required"),
    ],
)
def test_invalid_objects_are_rejected_naming_object_field_and_rule(
    build: Callable[[], dict[str, Any]], path: str, value: Any, where: str, rule: str
) -> None:
    doc = with_value(build(), path, value)
    with pytest.raises(InvalidObjectError) as info:
        parse_object(doc)
    message = str(info.value)
    kind, meta = doc["kind"], doc["metadata"]
    assert message.startswith(f"{kind} {meta.get('namespace', 'default')}/")
    assert any(p.path == where and rule in p.rule for p in info.value.problems), message
    assert f"{where}: " in message


def test_every_problem_is_reported_at_once() -> None:
    doc = with_value(samples.model(), "spec.modelName", "m" * 300)
    doc = with_value(doc, "spec.targetModels[0].weight", 0)
    with pytest.raises(InvalidObjectError) as info:
        parse_object(doc)
    assert {p.path for p in info.value.problems} == {
        "spec.modelName",
        "spec.targetModels[0].weight",
    }
    assert str(info.value).startswith("InferenceModel ns/food-review: ")


def test_unknown_kind_names_api_version_and_kind() -> None:
    with pytest.raises(UnknownKindError) as info:
        parse_object({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}})
    assert (info.value.api_version, info.value.kind) == ("apps/v1", "Deployment")
    assert "apps/v1/Deployment" in str(info.value)


def test_known_kind_in_wrong_version_is_unknown() -> None:
    doc = with_value(samples.model(), "apiVersion", "inference.networking.k8s.io/v1")
    with pytest.raises(UnknownKindError, match=r"inference\.networking\.k8s\.io/v1/InferenceModel"):
        parse_object(doc)


@pytest.mark.parametrize(
    "doc", [["a", "list"], {"kind": "Pod"}, {"apiVersion": "v1", "kind": 3}, "text"]
)
def test_documents_without_api_version_and_kind_are_invalid(doc: Any) -> None:
    with pytest.raises(InvalidObjectError):
        parse_object(doc)


_MULTI = """
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferencePool
metadata: {name: pool}
spec:
  selector: {app: vllm}
  targetPortNumber: 8000
  extensionRef: {name: epp}
---
---
# only a comment
---
apiVersion: v1
kind: Service
metadata: {name: svc}
---
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferenceModel
metadata: {name: m}
spec:
  modelName: m
  poolRef: {name: pool}
"""


def test_parse_documents_skips_empty_documents_and_reports_unknown_kinds() -> None:
    unknown: list[UnknownKindError] = []
    objects = parse_documents(_MULTI, on_unknown=unknown.append)
    assert [type(o) for o in objects] == [InferencePoolV1Alpha2, InferenceModel]
    assert [(e.kind, e.document) for e in unknown] == [("Service", 4)]


def test_parse_documents_raises_on_unknown_kind_by_default() -> None:
    with pytest.raises(UnknownKindError, match=r"document 4: .*v1/Service"):
        parse_documents(_MULTI)


def test_parse_documents_names_the_document_of_an_invalid_object() -> None:
    text = _MULTI.replace("targetPortNumber: 8000", "targetPortNumber: 0")
    with pytest.raises(InvalidObjectError) as info:
        parse_documents(text, on_unknown=lambda e: None)
    assert info.value.document == 1
    assert str(info.value).startswith(
        "document 1: InferencePool default/pool: spec.targetPortNumber: must be between 1 and 65535"
    )


def test_parse_documents_of_empty_text_is_empty() -> None:
    assert parse_documents("") == []
    assert parse_documents("---\n---\n") == []


def test_parse_documents_wraps_yaml_syntax_errors() -> None:
    with pytest.raises(InvalidObjectError, match="invalid YAML"):
        parse_documents("a: [unclosed")
