"""The generated CRDs: structural, faithful to the models, and in sync with deploy/crds."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate
import pytest
import typer
import yaml
from typer.testing import CliRunner

from inference_gateway.api import crd_documents, parse_object
from inference_gateway.api.crdgen import crd_files
from inference_gateway.cli import tools_cmd
from tests.unit.api import samples
from tests.unit.api.samples import DELETE, with_value

DEPLOY = Path(__file__).resolve().parents[3] / "deploy" / "crds"

_NAMES = {
    "pool-v1alpha2": "inferencepools.inference.networking.x-k8s.io",
    "model": "inferencemodels.inference.networking.x-k8s.io",
    "pool-v1": "inferencepools.inference.networking.k8s.io",
    "objective": "inferenceobjectives.inference.networking.x-k8s.io",
    "rewrite": "inferencemodelrewrites.inference.networking.x-k8s.io",
}


def _crd(name: str) -> dict[str, Any]:
    (doc,) = [d for d in crd_documents() if d["metadata"]["name"] == name]
    return doc


def _schema(sample: str) -> dict[str, Any]:
    schema: dict[str, Any] = _crd(_NAMES[sample])["spec"]["versions"][0]["schema"][
        "openAPIV3Schema"
    ]
    return schema


def _nodes(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, sub in node.get("properties", {}).items():
        yield from _nodes(sub, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from _nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _nodes(node["additionalProperties"], f"{path}{{}}")


def _is_valid(schema: dict[str, Any], doc: Any) -> bool:
    valid: bool = jsonschema.Draft202012Validator(schema).is_valid(doc)
    return valid


def test_one_crd_per_kind_and_group() -> None:
    docs = crd_documents()
    assert sorted(d["metadata"]["name"] for d in docs) == sorted(_NAMES.values())
    for doc in docs:
        assert doc["apiVersion"] == "apiextensions.k8s.io/v1"
        assert doc["kind"] == "CustomResourceDefinition"
        spec = doc["spec"]
        assert spec["scope"] == "Namespaced"
        assert doc["metadata"]["name"] == f"{spec['names']['plural']}.{spec['group']}"
        (version,) = spec["versions"]
        assert version["served"] and version["storage"]
        assert version["subresources"] == {"status": {}}


def test_names_versions_short_names_and_approval() -> None:
    v1 = _crd(_NAMES["pool-v1"])
    assert v1["spec"]["names"]["shortNames"] == ["infpool"]
    assert v1["spec"]["versions"][0]["name"] == "v1"
    assert "api-approved.kubernetes.io" in v1["metadata"]["annotations"]
    model = _crd(_NAMES["model"])["spec"]
    assert model["versions"][0]["name"] == "v1alpha2"
    assert model["names"] == {
        "kind": "InferenceModel",
        "listKind": "InferenceModelList",
        "plural": "inferencemodels",
        "singular": "inferencemodel",
    }


def test_printer_columns_follow_upstream() -> None:
    def columns(sample: str) -> list[str]:
        version = _crd(_NAMES[sample])["spec"]["versions"][0]
        return [c["name"] for c in version.get("additionalPrinterColumns", [])]

    assert columns("model") == ["Model Name", "Inference Pool", "Criticality", "Age"]
    assert columns("objective") == ["Inference Pool", "Priority", "Age"]
    assert columns("rewrite") == ["Inference Pool", "Age"]
    assert columns("pool-v1") == []


@pytest.mark.parametrize("sample", list(_NAMES))
def test_schema_is_structural(sample: str) -> None:
    forbidden = {"$ref", "$defs", "anyOf", "oneOf", "allOf", "not", "const", "title"}
    forbidden |= {"patternProperties", "propertyNames"}
    for path, node in _nodes(_schema(sample)):
        assert not forbidden & node.keys(), (path, forbidden & node.keys())
        assert node.get("type") in {"object", "array", "string", "integer", "boolean"}, path
        assert not ("properties" in node and "additionalProperties" in node), path
        assert node.get("additionalProperties", {}) is not False, path
        if node["type"] == "array":
            assert isinstance(node.get("items"), dict), path


@pytest.mark.parametrize("sample", list(_NAMES))
def test_defaults_validate_against_their_own_schema(sample: str) -> None:
    seen = 0
    for path, node in _nodes(_schema(sample)):
        if "default" in node:
            seen += 1
            bare = {k: v for k, v in node.items() if k != "default"}
            assert _is_valid(bare, node["default"]), path
    assert seen > 0


@pytest.mark.parametrize("sample", list(_NAMES))
def test_crds_are_valid_kubernetes_objects(sample: str) -> None:
    kubernetes_validate.validate(_crd(_NAMES[sample]), "1.31", strict=True)


@pytest.mark.parametrize("sample", list(_NAMES))
def test_valid_samples_and_their_round_trip_pass_the_schema(sample: str) -> None:
    doc = samples.BUILDERS[sample]()
    assert _is_valid(_schema(sample), doc)
    dumped = parse_object(doc).model_dump(mode="json", by_alias=True, exclude_none=True)
    assert _is_valid(_schema(sample), dumped)


@pytest.mark.parametrize(
    ("sample", "path", "value"),
    [
        ("model", "spec.targetModels[0].weight", 0),
        ("model", "spec.modelName", "m" * 300),
        ("model", "spec.criticality", "Important"),
        ("model", "spec.targetModels", [{"name": f"t{i}"} for i in range(11)]),
        ("model", "spec.poolRef", DELETE),
        ("pool-v1alpha2", "spec.targetPortNumber", 70000),
        ("pool-v1alpha2", "spec.selector", {"app": "-bad"}),
        ("pool-v1alpha2", "spec.extensionRef.failureMode", "Maybe"),
        ("pool-v1", "spec.targetPorts", [{"number": 8000 + i} for i in range(9)]),
        ("pool-v1", "spec.selector.matchLabels", {}),
        ("pool-v1", "spec.appProtocol", "grpc"),
        ("objective", "spec.poolRef.name", ""),
        ("rewrite", "spec.rules[0].targets", []),
        ("rewrite", "spec.rules[0].targets[0].weight", 0),
    ],
)
def test_invalid_samples_fail_the_schema_and_the_model(sample: str, path: str, value: Any) -> None:
    doc = with_value(samples.BUILDERS[sample](), path, value)
    assert not _is_valid(_schema(sample), doc)
    with pytest.raises(ValueError):
        parse_object(doc)


@pytest.mark.parametrize(
    ("sample", "path", "message"),
    [
        ("model", ".spec.targetModels", "weights must be set on all targetModels or on none"),
        ("model", ".spec.modelName", "modelName is immutable"),
        ("pool-v1", ".spec.targetPorts", "port number must be unique"),
        (
            "pool-v1",
            ".spec.endpointPickerRef",
            "port is required when kind is 'Service' or unspecified (defaults to 'Service')",
        ),
    ],
)
def test_cel_rules_are_present_with_their_messages(sample: str, path: str, message: str) -> None:
    node = dict(_nodes(_schema(sample)))[path]
    rules = node["x-kubernetes-validations"]
    assert [r["message"] for r in rules] == [message]
    assert rules[0]["rule"]


def test_list_types_match_upstream() -> None:
    pool = dict(_nodes(_schema("pool-v1")))
    assert pool[".spec.targetPorts"]["x-kubernetes-list-type"] == "atomic"
    assert pool[".status.parents"]["x-kubernetes-list-type"] == "atomic"
    conditions = pool[".status.parents[].conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]


def test_key_defaults_are_in_the_schema() -> None:
    v1 = dict(_nodes(_schema("pool-v1")))
    assert v1[".spec.appProtocol"]["default"] == "http"
    assert v1[".spec.endpointPickerRef.failureMode"]["default"] == "FailClose"
    a2 = dict(_nodes(_schema("pool-v1alpha2")))
    # Upstream's CRD has no portNumber default (9002 is inferred by implementations).
    assert "default" not in a2[".spec.extensionRef.portNumber"]
    assert a2[".status"]["default"]["parent"][0]["parentRef"] == {
        "kind": "Status",
        "name": "default",
    }
    assert "default" not in dict(_nodes(_schema("model")))[".spec.criticality"]


def test_committed_crds_are_in_sync_with_the_models() -> None:
    generated = crd_files()
    committed = {p.name: p.read_text(encoding="utf-8") for p in DEPLOY.glob("*.yaml")}
    assert sorted(committed) == sorted(generated)
    for name, text in generated.items():
        assert committed[name] == text, (
            f"{name} is stale: run `inference-gateway crds --out deploy/crds`"
        )


def _cli() -> Callable[[list[str]], Any]:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Test root."""

    tools_cmd.register(app, typer.Typer())
    runner = CliRunner()
    return lambda args: runner.invoke(app, args)


def test_crds_command_prints_every_crd() -> None:
    result = _cli()(["crds"])
    assert result.exit_code == 0, result.output
    docs = [d for d in yaml.safe_load_all(result.output) if d]
    assert docs == crd_documents()


def test_crds_command_writes_one_file_per_crd(tmp_path: Path) -> None:
    result = _cli()(["crds", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    written = {p.name: p.read_text(encoding="utf-8") for p in (tmp_path / "out").iterdir()}
    assert written == crd_files()
