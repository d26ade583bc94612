"""Building blocks shared by every API version: validation types, CEL rules, metadata.

The types mirror upstream ``shared_types.go`` so that a pydantic model rejects exactly what
the API server would reject through the generated CRD. A CEL rule is declared once, as an
``Annotated`` marker carrying both the CEL text (for the CRD) and an equivalent Python check
(for objects that never pass through an API server, such as the standalone YAML file).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StringConstraints,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

_DNS_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"

Group = Annotated[str, StringConstraints(max_length=253, pattern=rf"^$|^{_DNS_SUBDOMAIN}$")]
Kind = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=63, pattern=r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$"
    ),
]
ObjectName = Annotated[str, StringConstraints(min_length=1, max_length=253)]
Namespace = Annotated[
    str,
    StringConstraints(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"),
]
PortNumber = Annotated[int, Field(ge=1, le=65535, json_schema_extra={"format": "int32"})]
LabelKey = Annotated[
    str,
    StringConstraints(
        min_length=1,
        max_length=253,
        pattern=rf"^({_DNS_SUBDOMAIN}/)?([A-Za-z0-9][-A-Za-z0-9_.]{{0,61}})?[A-Za-z0-9]$",
    ),
]
LabelValue = Annotated[
    str,
    StringConstraints(max_length=63, pattern=r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"),
]
ControllerName = Annotated[
    str,
    StringConstraints(
        min_length=1,
        max_length=253,
        pattern=rf"^{_DNS_SUBDOMAIN}\/[A-Za-z0-9\/\-._~%!$&'()*+,;=:]+$",
    ),
]
Weight = Annotated[int, Field(ge=1, le=1_000_000, json_schema_extra={"format": "int32"})]
FailureMode = Literal["FailOpen", "FailClose"]


@dataclass(frozen=True)
class Cel:
    """A CEL validation rule (``x-kubernetes-validations``) plus its Python twin.

    ``check`` is ``None`` for transition rules such as ``self == oldSelf``: they need the
    previous object, which only the API server has.
    """

    rule: str
    message: str
    check: Callable[[Any], bool] | None = None

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        schema = handler(source)
        check = self.check
        if check is None:
            return schema
        message = self.message

        def validate(value: Any) -> Any:
            if not check(value):
                raise PydanticCustomError("cel", message)
            return value

        return core_schema.no_info_after_validator_function(validate, schema)

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        rules = json_schema.setdefault("x-kubernetes-validations", [])
        rules.append({"rule": self.rule, "message": self.message})
        return json_schema


_BASE = ConfigDict(
    frozen=True,
    populate_by_name=True,
    alias_generator=to_camel,
    protected_namespaces=(),
)


class SpecModel(BaseModel):
    """Base of every spec/status struct: unknown fields are errors, as in a structural CRD."""

    model_config = ConfigDict(**_BASE, extra="forbid")


class StatusModel(BaseModel):
    """Base of status structs: unknown fields are dropped, as the API server prunes them.

    A status written by another version of the CRD (upstream v0.3.0's ``parentRef`` was a
    full ``ObjectReference`` with ``uid``) must not make the object unreadable: we route by
    the spec, and only our own status writer looks at the status, on the raw object.
    """

    model_config = ConfigDict(**_BASE, extra="ignore")


def _null_is_empty(value: Any) -> Any:
    # metadata.labels/annotations: null is valid (Go's nil map); upstream v0.3.0's manifests
    # have it.
    return {} if value is None else value


StringMap = Annotated[dict[str, str], BeforeValidator(_null_is_empty)]


class ObjectMeta(BaseModel):
    """The part of ``metav1.ObjectMeta`` we use; server-managed extras are ignored."""

    model_config = ConfigDict(**_BASE, extra="ignore")

    name: ObjectName
    namespace: Namespace = "default"
    labels: StringMap = Field(default_factory=dict)
    annotations: StringMap = Field(default_factory=dict)
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: datetime | None = None
    deletion_timestamp: datetime | None = None


class Condition(StatusModel):
    """``metav1.Condition`` with the API server's validation."""

    type: Annotated[
        str,
        StringConstraints(
            max_length=316,
            pattern=rf"^({_DNS_SUBDOMAIN}/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
        ),
    ]
    status: Literal["True", "False", "Unknown"]
    observed_generation: (
        Annotated[int, Field(ge=0, json_schema_extra={"format": "int64"})] | None
    ) = None
    last_transition_time: datetime
    reason: Annotated[
        str,
        StringConstraints(
            min_length=1, max_length=1024, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
        ),
    ]
    message: Annotated[str, StringConstraints(max_length=32768)]


Conditions = Annotated[
    tuple[Condition, ...],
    Field(
        max_length=8,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    ),
]


def pending_condition(condition_type: str) -> dict[str, str]:
    """The condition upstream CRDs default into a fresh status ("Waiting for controller")."""
    return {
        "type": condition_type,
        "status": "Unknown",
        "reason": "Pending",
        "message": "Waiting for controller",
        "lastTransitionTime": "1970-01-01T00:00:00Z",
    }


class ParentReference(StatusModel):
    """The Gateway (or other parent) a pool status entry is about."""

    group: Group = "gateway.networking.k8s.io"
    kind: Kind = "Gateway"
    name: ObjectName
    namespace: Namespace | None = None


class ApiResource(BaseModel):
    """Top level of a namespaced custom resource."""

    model_config = ConfigDict(**_BASE, extra="forbid")

    API_VERSION: ClassVar[str]
    KIND: ClassVar[str]
    SPEC_REQUIRED: ClassVar[bool] = False
    """Whether the CRD lists ``spec`` as required (upstream: only the v1 InferencePool)."""

    metadata: ObjectMeta
