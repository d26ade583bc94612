"""Normalised views of the Kubernetes objects the datastore keeps.

Both API generations (v1alpha2 and v1 InferencePool; InferenceModel, InferenceObjective,
InferenceModelRewrite) and both sources (Kubernetes watches, the standalone YAML file) are
turned into these small frozen records, so nothing below the sources cares where an object
came from or which version it was written in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Literal

from inference_gateway.api._common import FailureMode


class Criticality(str, Enum):  # noqa: UP042 (str mixin kept: others compare and format it)
    """How a request may be treated under load; the one representation inside the gateway
    (the API objects carry the same three names as strings)."""

    CRITICAL = "Critical"
    STANDARD = "Standard"
    SHEDDABLE = "Sheddable"

    @classmethod
    def from_priority(cls, priority: int) -> Criticality:
        """InferenceObjective priorities: negative is sheddable, positive is critical."""
        if priority < 0:
            return cls.SHEDDABLE
        return cls.CRITICAL if priority > 0 else cls.STANDARD


ENGINE_TYPE_LABEL = "inference.networking.k8s.io/engine-type"
ACTIVE_PORTS_ANNOTATION = "inference.networking.k8s.io/active-ports"

_EMPTY: Mapping[str, str] = MappingProxyType({})


def object_key(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"


@dataclass(frozen=True, slots=True)
class PoolInfo:
    name: str
    namespace: str
    selector: Mapping[str, str]
    target_ports: tuple[int, ...]
    api_version: Literal["v1alpha2", "v1"] = "v1alpha2"
    failure_mode: FailureMode = "FailClose"
    app_protocol: str = "http"
    epp_service: str | None = None
    epp_port: int | None = None

    @property
    def key(self) -> str:
        return object_key(self.namespace, self.name)

    def selects(self, pod: PodInfo) -> bool:
        return pod.namespace == self.namespace and all(
            pod.labels.get(k) == v for k, v in self.selector.items()
        )


@dataclass(frozen=True, slots=True)
class TargetModel:
    name: str
    weight: int | None = None


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """An InferenceModel: the name clients use, where it runs and how it may be treated."""

    name: str
    namespace: str
    model_name: str
    pool: str
    criticality: Criticality | None = None
    targets: tuple[TargetModel, ...] = ()
    created: float = 0.0
    """creationTimestamp as unix seconds; the oldest claim on a modelName wins."""

    @property
    def key(self) -> str:
        return object_key(self.namespace, self.name)

    @property
    def pool_key(self) -> str:
        return object_key(self.namespace, self.pool)


@dataclass(frozen=True, slots=True)
class ObjectiveInfo:
    """An InferenceObjective, chosen per request by header; negative priority is sheddable."""

    name: str
    namespace: str
    pool: str
    priority: int = 0

    @property
    def key(self) -> str:
        return object_key(self.namespace, self.name)


@dataclass(frozen=True, slots=True)
class RewriteRule:
    matches: tuple[str, ...]
    """Exact model names; empty matches every model."""
    targets: tuple[TargetModel, ...]


@dataclass(frozen=True, slots=True)
class RewriteInfo:
    name: str
    namespace: str
    pool: str
    rules: tuple[RewriteRule, ...]
    created: float = 0.0

    @property
    def key(self) -> str:
        return object_key(self.namespace, self.name)


@dataclass(frozen=True, slots=True)
class PodInfo:
    name: str
    namespace: str
    address: str
    labels: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    annotations: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    ready: bool = True
    terminating: bool = False

    @property
    def key(self) -> str:
        return object_key(self.namespace, self.name)

    @property
    def serving(self) -> bool:
        return self.ready and not self.terminating and bool(self.address)

    @property
    def engine_type(self) -> str:
        return self.labels.get(ENGINE_TYPE_LABEL, "vllm")

    def active_ports(self) -> frozenset[int] | None:
        raw = self.annotations.get(ACTIVE_PORTS_ANNOTATION)
        if raw is None:
            return None
        ports = set()
        for part in raw.split(","):
            part = part.strip()
            if part.isdigit():
                ports.add(int(part))
        return frozenset(ports)
