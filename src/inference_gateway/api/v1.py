"""``inference.networking.k8s.io/v1``: the GA InferencePool.

Differences from v1alpha2 worth knowing: the selector is ``selector.matchLabels``; a pool may
expose up to 8 target ports (one endpoint per pod and port, for data-parallel ranks); the
picker reference is ``endpointPickerRef`` with a nested ``port``, optional as at upstream
HEAD; and the status list is ``parents`` (plural).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Final, Literal

from pydantic import Field

from inference_gateway.api._common import (
    ApiResource,
    Cel,
    Conditions,
    ControllerName,
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
)

GROUP_VERSION: Final = "inference.networking.k8s.io/v1"


class LabelSelector(SpecModel):
    match_labels: Annotated[dict[LabelKey, LabelValue], Field(min_length=1, max_length=64)]


class Port(SpecModel):
    number: PortNumber


class EndpointPickerRef(SpecModel):
    group: Group = ""
    kind: Kind = "Service"
    name: ObjectName
    port: Port | None = None
    failure_mode: FailureMode = "FailClose"


def _ports_unique(ports: tuple[Port, ...]) -> bool:
    return len({p.number for p in ports}) == len(ports)


def _port_set_for_service(ref: EndpointPickerRef) -> bool:
    return ref.kind != "Service" or ref.port is not None


AppProtocol = Literal["http", "kubernetes.io/h2c"]


class InferencePoolSpecV1(SpecModel):
    selector: LabelSelector
    target_ports: Annotated[
        tuple[Port, ...],
        Field(min_length=1, max_length=8, json_schema_extra={"x-kubernetes-list-type": "atomic"}),
        Cel(
            "self.all(p1, self.exists_one(p2, p1.number==p2.number))",
            "port number must be unique",
            _ports_unique,
        ),
    ]
    app_protocol: AppProtocol = "http"
    endpoint_picker_ref: (
        Annotated[
            EndpointPickerRef,
            Cel(
                "self.kind != 'Service' || has(self.port)",
                "port is required when kind is 'Service' or unspecified (defaults to 'Service')",
                _port_set_for_service,
            ),
        ]
        | None
    ) = None


class ParentStatus(StatusModel):
    conditions: Conditions = ()
    parent_ref: ParentReference
    controller_name: ControllerName | None = None


class InferencePoolStatusV1(StatusModel):
    # An empty list means no parent (Gateway) has picked the pool up.
    parents: Annotated[
        tuple[ParentStatus, ...],
        Field(max_length=32, json_schema_extra={"x-kubernetes-list-type": "atomic"}),
    ] = ()


class InferencePoolV1(ApiResource):
    """A set of model-server pods behind one endpoint picker (GA group)."""

    API_VERSION: ClassVar[str] = GROUP_VERSION
    KIND: ClassVar[str] = "InferencePool"
    SPEC_REQUIRED: ClassVar[bool] = True

    api_version: Literal["inference.networking.k8s.io/v1"] = GROUP_VERSION
    kind: Literal["InferencePool"] = "InferencePool"
    spec: InferencePoolSpecV1
    status: InferencePoolStatusV1 | None = None
