"""API objects (either generation) to the datastore's normalised records.

This is the only place that knows how a v1alpha2 ``extensionRef`` differs from a v1
``endpointPickerRef`` or where a Pod keeps its IP; both sources (the YAML file and the
Kubernetes watches) go through it, so they cannot disagree about what an object means.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from types import MappingProxyType

from inference_gateway.api import (
    ApiObject,
    InferenceModel,
    InferenceModelRewrite,
    InferenceObjective,
    InferencePoolV1,
    InferencePoolV1Alpha2,
    Pod,
)
from inference_gateway.datastore import (
    Criticality,
    DesiredState,
    ModelInfo,
    ObjectiveInfo,
    PodInfo,
    PoolInfo,
    RewriteInfo,
    RewriteRule,
    TargetModel,
)

Record = PoolInfo | ModelInfo | ObjectiveInfo | RewriteInfo | PodInfo


def _frozen(mapping: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping))


def _unix(ts: datetime | None) -> float:
    return ts.timestamp() if ts is not None else 0.0


def pool_v1alpha2(obj: InferencePoolV1Alpha2) -> PoolInfo:
    ext = obj.spec.extension_ref
    return PoolInfo(
        name=obj.metadata.name,
        namespace=obj.metadata.namespace,
        selector=_frozen(obj.spec.selector),
        target_ports=(obj.spec.target_port_number,),
        api_version="v1alpha2",
        failure_mode=ext.failure_mode,
        epp_service=ext.name,
        epp_port=ext.port_number,
    )


def pool_v1(obj: InferencePoolV1) -> PoolInfo:
    ref = obj.spec.endpoint_picker_ref
    return PoolInfo(
        name=obj.metadata.name,
        namespace=obj.metadata.namespace,
        selector=_frozen(obj.spec.selector.match_labels),
        target_ports=tuple(p.number for p in obj.spec.target_ports),
        api_version="v1",
        failure_mode=ref.failure_mode if ref is not None else "FailClose",
        app_protocol=obj.spec.app_protocol,
        epp_service=ref.name if ref is not None else None,
        epp_port=ref.port.number if ref is not None and ref.port is not None else None,
    )


def model(obj: InferenceModel) -> ModelInfo:
    return ModelInfo(
        name=obj.metadata.name,
        namespace=obj.metadata.namespace,
        model_name=obj.spec.model_name,
        pool=obj.spec.pool_ref.name,
        criticality=None if obj.spec.criticality is None else Criticality(obj.spec.criticality),
        targets=tuple(TargetModel(t.name, t.weight) for t in obj.spec.target_models),
        created=_unix(obj.metadata.creation_timestamp),
    )


def objective(obj: InferenceObjective) -> ObjectiveInfo:
    return ObjectiveInfo(
        name=obj.metadata.name,
        namespace=obj.metadata.namespace,
        pool=obj.spec.pool_ref.name,
        priority=obj.spec.priority or 0,
    )


def rewrite(obj: InferenceModelRewrite) -> RewriteInfo:
    rules = tuple(
        RewriteRule(
            matches=tuple(m.model.value for m in rule.matches),
            targets=tuple(TargetModel(t.model_rewrite, t.weight) for t in rule.targets),
        )
        for rule in obj.spec.rules
    )
    return RewriteInfo(
        name=obj.metadata.name,
        namespace=obj.metadata.namespace,
        pool=obj.spec.pool_ref.name,
        rules=rules,
        created=_unix(obj.metadata.creation_timestamp),
    )


def pod(obj: Pod) -> PodInfo:
    return PodInfo(
        name=obj.metadata.name,
        namespace=obj.metadata.namespace,
        address=obj.status.pod_ip or "",
        labels=_frozen(obj.metadata.labels),
        annotations=_frozen(obj.metadata.annotations),
        ready=obj.is_ready,
        terminating=obj.is_terminating,
    )


def to_record(obj: ApiObject) -> Record:
    """Dispatch on the object's type; every ``ApiObject`` has exactly one record type."""
    if isinstance(obj, InferencePoolV1Alpha2):
        return pool_v1alpha2(obj)
    if isinstance(obj, InferencePoolV1):
        return pool_v1(obj)
    if isinstance(obj, InferenceModel):
        return model(obj)
    if isinstance(obj, InferenceObjective):
        return objective(obj)
    if isinstance(obj, InferenceModelRewrite):
        return rewrite(obj)
    return pod(obj)


def desired_state(objects: Iterable[ApiObject]) -> DesiredState:
    """Group records by kind; a later object with the same key replaces an earlier one."""
    buckets: dict[type, dict[str, Record]] = {
        PoolInfo: {},
        ModelInfo: {},
        ObjectiveInfo: {},
        RewriteInfo: {},
        PodInfo: {},
    }
    for obj in objects:
        record = to_record(obj)
        buckets[type(record)][record.key] = record
    return DesiredState(
        pools=tuple(r for r in buckets[PoolInfo].values() if isinstance(r, PoolInfo)),
        models=tuple(r for r in buckets[ModelInfo].values() if isinstance(r, ModelInfo)),
        pods=tuple(r for r in buckets[PodInfo].values() if isinstance(r, PodInfo)),
        objectives=tuple(
            r for r in buckets[ObjectiveInfo].values() if isinstance(r, ObjectiveInfo)
        ),
        rewrites=tuple(r for r in buckets[RewriteInfo].values() if isinstance(r, RewriteInfo)),
    )
