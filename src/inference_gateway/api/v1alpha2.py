"""``inference.networking.x-k8s.io/v1alpha2``: the pre-GA pool, InferenceModel and its successors.

InferencePool and InferenceModel are the "criticality era" shapes (upstream v0.2-v0.5).
InferenceObjective (priority chosen by request header) and InferenceModelRewrite (model
traffic splitting) replaced InferenceModel from upstream v1.0; both point at a GA pool by
default, hence their ``poolRef.group`` default of ``inference.networking.k8s.io``.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Final, Literal

from pydantic import Field, StringConstraints

from inference_gateway.api._common import (
    ApiResource,
    Cel,
    Conditions,
    FailureMode,
    Group,
    Kind,
    LabelKey,
    LabelValue,
    ObjectName,
    ParentReference,
    PortNumber,
    SpecModel,
    StatusModel,
    Weight,
    pending_condition,
)

GROUP_VERSION: Final = "inference.networking.x-k8s.io/v1alpha2"

# 9002 is the EPP's ext_proc port; upstream says implementations SHOULD assume it.
DEFAULT_EPP_PORT = 9002


def _int32_no_default(schema: dict[str, Any]) -> None:
    schema["format"] = "int32"
    schema.pop("default", None)


class Extension(SpecModel):
    """How the gateway reaches the endpoint picker (``spec.extensionRef``)."""

    group: Group = ""
    kind: Kind = "Service"
    name: ObjectName
    # Upstream's CRD has no default (implementations SHOULD assume 9002): the API server
    # stores nothing, and 9002 is inferred here, so it stays out of the generated schema.
    port_number: Annotated[int, Field(ge=1, le=65535, json_schema_extra=_int32_no_default)] = (
        DEFAULT_EPP_PORT
    )
    failure_mode: FailureMode = "FailClose"


class InferencePoolSpecV1Alpha2(SpecModel):
    selector: dict[LabelKey, LabelValue]
    target_port_number: PortNumber
    extension_ref: Extension


class PoolStatusV1Alpha2(StatusModel):
    parent_ref: ParentReference
    conditions: Annotated[
        Conditions, Field(json_schema_extra={"default": [pending_condition("Accepted")]})
    ] = ()


class InferencePoolStatusV1Alpha2(StatusModel):
    # The JSON key really is singular ("parent") in v1alpha2.
    parent: Annotated[tuple[PoolStatusV1Alpha2, ...], Field(max_length=32)] = ()


class InferencePoolV1Alpha2(ApiResource):
    """A set of model-server pods behind one endpoint picker (pre-GA group)."""

    API_VERSION: ClassVar[str] = GROUP_VERSION
    KIND: ClassVar[str] = "InferencePool"

    api_version: Literal["inference.networking.x-k8s.io/v1alpha2"] = GROUP_VERSION
    kind: Literal["InferencePool"] = "InferencePool"
    spec: InferencePoolSpecV1Alpha2
    # The API server fills this in; "Status/default" means "no Gateway has taken the pool".
    status: Annotated[
        InferencePoolStatusV1Alpha2 | None,
        Field(
            json_schema_extra={
                "default": {
                    "parent": [
                        {
                            "parentRef": {"kind": "Status", "name": "default"},
                            "conditions": [pending_condition("Accepted")],
                        }
                    ]
                }
            }
        ),
    ] = None


class PoolRefV1Alpha2(SpecModel):
    group: Group = "inference.networking.x-k8s.io"
    kind: Kind = "InferencePool"
    name: ObjectName


class TargetModel(SpecModel):
    """A base model or LoRA adapter name as the model server knows it, with a split weight."""

    name: Annotated[str, StringConstraints(max_length=253)]
    weight: Weight | None = None


def _weights_all_or_none(targets: tuple[TargetModel, ...]) -> bool:
    with_weight = sum(1 for t in targets if t.weight is not None)
    return with_weight in (0, len(targets))


Criticality = Literal["Critical", "Standard", "Sheddable"]


class InferenceModelSpec(SpecModel):
    model_name: Annotated[
        str,
        StringConstraints(max_length=256),
        Cel("self == oldSelf", "modelName is immutable"),
    ]
    # No default on purpose: consumers read "unset" as Standard.
    criticality: Criticality | None = None
    target_models: Annotated[
        tuple[TargetModel, ...],
        Field(max_length=10),
        Cel(
            "self.all(model, has(model.weight)) || self.all(model, !has(model.weight))",
            "weights must be set on all targetModels or on none",
            _weights_all_or_none,
        ),
    ] = ()
    pool_ref: PoolRefV1Alpha2


class InferenceModelStatus(StatusModel):
    conditions: Annotated[
        Conditions, Field(json_schema_extra={"default": [pending_condition("Ready")]})
    ] = ()


class InferenceModel(ApiResource):
    """Maps a request's ``model`` name to target models and a criticality, for one pool."""

    API_VERSION: ClassVar[str] = GROUP_VERSION
    KIND: ClassVar[str] = "InferenceModel"

    api_version: Literal["inference.networking.x-k8s.io/v1alpha2"] = GROUP_VERSION
    kind: Literal["InferenceModel"] = "InferenceModel"
    spec: InferenceModelSpec
    status: InferenceModelStatus | None = None


class PoolRef(SpecModel):
    group: Group = "inference.networking.k8s.io"
    kind: Kind = "InferencePool"
    name: ObjectName


class InferenceObjectiveSpec(SpecModel):
    # Unset means 0; negative values mark sheddable traffic.
    priority: int | None = None
    pool_ref: PoolRef


class AcceptedStatus(StatusModel):
    conditions: Annotated[
        Conditions, Field(json_schema_extra={"default": [pending_condition("Accepted")]})
    ] = ()


class ObjectiveStatus(StatusModel):
    # Upstream's CRD defaults the placeholder condition with type Ready (not Accepted).
    conditions: Annotated[
        Conditions, Field(json_schema_extra={"default": [pending_condition("Ready")]})
    ] = ()


class InferenceObjective(ApiResource):
    """A named priority, selected by the ``x-gateway-inference-objective`` request header."""

    API_VERSION: ClassVar[str] = GROUP_VERSION
    KIND: ClassVar[str] = "InferenceObjective"

    api_version: Literal["inference.networking.x-k8s.io/v1alpha2"] = GROUP_VERSION
    kind: Literal["InferenceObjective"] = "InferenceObjective"
    spec: InferenceObjectiveSpec
    status: ObjectiveStatus | None = None


class ModelMatch(SpecModel):
    type: Literal["Exact"] = "Exact"
    value: Annotated[str, StringConstraints(min_length=1)]


class Match(SpecModel):
    model: ModelMatch


class RewriteTarget(SpecModel):
    weight: Weight | None = None
    model_rewrite: str


class RewriteRule(SpecModel):
    """Matches are OR-ed; an empty list matches every model."""

    matches: tuple[Match, ...] = ()
    # Optional upstream (minItems 1 only when given); no targets means nothing to rewrite to.
    targets: Annotated[tuple[RewriteTarget, ...], Field(min_length=1)] = ()


class InferenceModelRewriteSpec(SpecModel):
    pool_ref: PoolRef
    rules: tuple[RewriteRule, ...]


class InferenceModelRewrite(ApiResource):
    """Rewrites a request's model to weighted targets (exact match beats match-all)."""

    API_VERSION: ClassVar[str] = GROUP_VERSION
    KIND: ClassVar[str] = "InferenceModelRewrite"

    api_version: Literal["inference.networking.x-k8s.io/v1alpha2"] = GROUP_VERSION
    kind: Literal["InferenceModelRewrite"] = "InferenceModelRewrite"
    spec: InferenceModelRewriteSpec
    status: AcceptedStatus | None = None
