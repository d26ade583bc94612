"""CustomResourceDefinitions generated from the pydantic models, never written by hand.

Pydantic emits JSON Schema 2020-12; the API server wants a *structural* OpenAPI v3 schema:
every node typed, no ``$ref``/``$defs``, no ``anyOf`` to express "optional", no ``const``,
no ``title``, no ``additionalProperties: false`` (unknown fields are pruned instead) and no
``propertyNames``. :func:`structural_schema` performs exactly that rewrite; the CRD envelope
(names, printer columns, subresources) comes from the :data:`CRDS` table.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import BaseModel

from inference_gateway.api._common import ApiResource
from inference_gateway.api.v1 import InferencePoolV1
from inference_gateway.api.v1alpha2 import (
    InferenceModel,
    InferenceModelRewrite,
    InferenceObjective,
    InferencePoolV1Alpha2,
)

Schema = dict[str, Any]

HEADER = "# Generated from inference_gateway.api by `inference-gateway crds`; do not edit.\n"

# Descriptions are dropped because ours are docstrings written for developers.
_DROPPED = frozenset({"title", "description", "propertyNames", "$defs"})
_AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
_POOL = {"name": "Inference Pool", "type": "string", "jsonPath": ".spec.poolRef.name"}
# Groups ending in k8s.io are protected: the API server wants a link to the approving PR.
_APPROVAL = {
    "api-approved.kubernetes.io": (
        "https://github.com/kubernetes-sigs/gateway-api-inference-extension/pull/1173"
    )
}


@dataclass(frozen=True)
class CrdKind:
    """What a CRD needs beyond the schema."""

    model: type[ApiResource]
    plural: str
    short_names: tuple[str, ...] = ()
    printer_columns: tuple[Mapping[str, str], ...] = ()
    annotations: Mapping[str, str] | None = None


CRDS: tuple[CrdKind, ...] = (
    CrdKind(InferencePoolV1Alpha2, "inferencepools"),
    CrdKind(
        InferenceModel,
        "inferencemodels",
        printer_columns=(
            {"name": "Model Name", "type": "string", "jsonPath": ".spec.modelName"},
            _POOL,
            {"name": "Criticality", "type": "string", "jsonPath": ".spec.criticality"},
            _AGE,
        ),
    ),
    CrdKind(InferencePoolV1, "inferencepools", short_names=("infpool",), annotations=_APPROVAL),
    CrdKind(
        InferenceObjective,
        "inferenceobjectives",
        printer_columns=(
            _POOL,
            # Upstream declares this integer column as a string column; kept for parity.
            {"name": "Priority", "type": "string", "jsonPath": ".spec.priority"},
            _AGE,
        ),
    ),
    CrdKind(InferenceModelRewrite, "inferencemodelrewrites", printer_columns=(_POOL, _AGE)),
)


def crd_documents() -> list[dict[str, Any]]:
    """One ``apiextensions.k8s.io/v1`` CustomResourceDefinition per entry of :data:`CRDS`."""
    return [_crd(kind) for kind in CRDS]


def crd_files() -> dict[str, str]:
    """File name (``<group>_<plural>.yaml``, as upstream names them) to YAML text."""
    files: dict[str, str] = {}
    for doc in crd_documents():
        files[f"{doc['spec']['group']}_{doc['spec']['names']['plural']}.yaml"] = render_yaml([doc])
    return files


def render_yaml(docs: Sequence[Mapping[str, Any]]) -> str:
    """Multi-document YAML with sorted keys, so output is stable across runs."""
    body = yaml.safe_dump_all(docs, sort_keys=True, explicit_start=True, width=100)
    return HEADER + body


def _crd(spec: CrdKind) -> dict[str, Any]:
    api_version: str = spec.model.API_VERSION
    kind: str = spec.model.KIND
    group, version = api_version.split("/")
    names: dict[str, Any] = {
        "kind": kind,
        "listKind": f"{kind}List",
        "plural": spec.plural,
        "singular": kind.lower(),
    }
    if spec.short_names:
        names["shortNames"] = list(spec.short_names)
    entry: dict[str, Any] = {
        "name": version,
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": resource_schema(spec.model)},
        "subresources": {"status": {}},
    }
    if spec.printer_columns:
        entry["additionalPrinterColumns"] = [dict(c) for c in spec.printer_columns]
    metadata: dict[str, Any] = {"name": f"{spec.plural}.{group}"}
    if spec.annotations:
        metadata["annotations"] = dict(spec.annotations)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": metadata,
        "spec": {
            "group": group,
            "names": names,
            "scope": "Namespaced",
            "versions": [entry],
        },
    }


@functools.cache
def _resource_schema(model: type[BaseModel]) -> Schema:
    schema = structural_schema(model.model_json_schema(by_alias=True))
    props = schema["properties"]
    # apiVersion/kind are checked by the API server's routing, metadata by apimachinery;
    # CRDs may only declare them loosely.
    props["apiVersion"] = {"type": "string"}
    props["kind"] = {"type": "string"}
    props["metadata"] = {"type": "object"}
    dropped = {"metadata"} if getattr(model, "SPEC_REQUIRED", False) else {"metadata", "spec"}
    schema["required"] = [r for r in schema.get("required", []) if r not in dropped]
    if not schema["required"]:
        del schema["required"]
    return schema


def resource_schema(model: type[BaseModel]) -> Schema:
    """The ``openAPIV3Schema`` of one resource model (a fresh copy each call)."""
    return copy.deepcopy(_resource_schema(model))


def structural_schema(schema: Schema) -> Schema:
    """Rewrite pydantic's JSON Schema into a structural OpenAPI v3 schema."""
    defs: Mapping[str, Schema] = schema.get("$defs", {})
    return _rewrite(schema, defs)


def _rewrite(node: Schema, defs: Mapping[str, Schema]) -> Schema:
    node = dict(node)
    ref = node.pop("$ref", None)
    if ref is not None:
        node = _merge(_rewrite(defs[ref.rsplit("/", 1)[-1]], defs), node)
    variants = node.pop("anyOf", None)
    if variants is not None:
        kept = [v for v in variants if v != {"type": "null"}]
        if len(kept) != 1:
            raise ValueError(f"cannot express anyOf {variants} structurally")
        node = _merge(_rewrite(kept[0], defs), node)
    patterns = node.pop("patternProperties", None)
    if patterns is not None:
        # Map keys are validated in Python only; CRDs cannot constrain them without CEL.
        (node["additionalProperties"],) = patterns.values()
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if "default" in node and node["default"] in (None, [], {}):
        del node["default"]
    out: Schema = {}
    for key, value in node.items():
        if key in _DROPPED or (key == "additionalProperties" and isinstance(value, bool)):
            continue
        if key == "properties":
            out[key] = {name: _rewrite(sub, defs) for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _rewrite(value, defs)
        elif key == "required":
            out[key] = sorted(value)
        else:
            out[key] = value
    return out


def _merge(base: Schema, extra: Schema) -> Schema:
    """Overlay ``extra`` (sibling keys of a ref/anyOf) on ``base``, concatenating CEL rules."""
    merged = {**base, **extra}
    rules = [*base.get("x-kubernetes-validations", []), *extra.get("x-kubernetes-validations", [])]
    if rules:
        merged["x-kubernetes-validations"] = rules
    return merged


def schema_at(model: type[BaseModel], loc: Sequence[int | str]) -> Schema:
    """The schema node a validation error location points at (``{}`` if none)."""
    node = _resource_schema(model)
    for part in loc:
        if isinstance(part, int):
            node = node.get("items", {})
        elif part in node.get("properties", {}):
            node = node["properties"][part]
        else:
            node = node.get("additionalProperties", {})
    return node
