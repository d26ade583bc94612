"""Just enough of ``core/v1`` Pod to know a model server's address and readiness.

Everything else in a real Pod (spec, container statuses, managed fields) is ignored, so the
same model reads objects from the API server and the hand-written standalone YAML file.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from inference_gateway.api._common import ObjectMeta


class _Lenient(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        extra="ignore",
        populate_by_name=True,
        alias_generator=to_camel,
        protected_namespaces=(),
    )


class PodCondition(_Lenient):
    type: str
    status: Literal["True", "False", "Unknown"]

    @field_validator("status", mode="before")
    @classmethod
    def _unquoted_yaml_bool(cls, value: object) -> object:
        # Hand-written YAML often says `status: True`, which YAML reads as a boolean.
        return str(value) if isinstance(value, bool) else value


class PodStatus(_Lenient):
    pod_ip: str | None = Field(default=None, alias="podIP")
    phase: str | None = None
    conditions: tuple[PodCondition, ...] = ()


class Pod(_Lenient):
    API_VERSION: ClassVar[str] = "v1"
    KIND: ClassVar[str] = "Pod"

    api_version: Literal["v1"] = "v1"
    kind: Literal["Pod"] = "Pod"
    metadata: ObjectMeta
    status: PodStatus = Field(default_factory=PodStatus)

    @property
    def is_ready(self) -> bool:
        """The kubelet's Ready condition is ``"True"`` (what a Service's endpoints use)."""
        return any(c.type == "Ready" and c.status == "True" for c in self.status.conditions)

    @property
    def is_terminating(self) -> bool:
        """Deletion has started; the pod must stop receiving new requests."""
        return self.metadata.deletion_timestamp is not None
