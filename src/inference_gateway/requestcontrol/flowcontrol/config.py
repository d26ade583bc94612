"""The ``flowControl`` section of the EndpointPickerConfig, with upstream's keys.

Upstream (``apix/config/v1alpha1`` ``FlowControlConfig``, v1.5)::

    featureGates: [flowControl]
    flowControl:
      maxBytes: 10Gi            # global, 0/absent: no limit
      maxRequests: 1000         # global, 0/absent: no limit
      defaultRequestTTL: 30s    # 0/absent: wait until the client gives up
      defaultPriorityBand: {maxBytes: 1G, fairnessPolicyRef: ..., orderingPolicyRef: ...}
      priorityBands:
      - {priority: 1, maxBytes: 1G, maxRequests: 100,
         fairnessPolicyRef: round-robin-fairness-policy, orderingPolicyRef: fcfs-ordering-policy}

A band's ``maxBytes`` defaults to 1 GB (upstream's 1,000,000,000); the policy refs default
to ``global-strict-fairness-policy`` and ``fcfs-ordering-policy``. A ref names a plugin of
the ``plugins:`` list or, as upstream's defaulting allows, a policy type directly.
``usageLimitPolicyPluginRef`` names a usage-limit policy (``usage.py``) the same way; by
default no band is stopped short of full. Flow control runs only with the ``flowControl``
feature gate, as upstream.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from inference_gateway.requestcontrol.flowcontrol.policies import (
    DEFAULT_FAIRNESS,
    DEFAULT_ORDERING,
    FAIRNESS_POLICIES,
    ORDERING_POLICIES,
)
from inference_gateway.requestcontrol.flowcontrol.usage import USAGE_LIMIT_POLICIES
from inference_gateway.scheduling.config import ConfigError
from inference_gateway.scheduling.saturation import parse_duration

FEATURE_GATE = "flowControl"
DEFAULT_BAND_MAX_BYTES = 1_000_000_000

_SUFFIX = {
    "": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
}  # fmt: skip
_QUANTITY = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(k|M|G|T|Ki|Mi|Gi|Ti)?\s*$")


def parse_quantity(value: object) -> object:
    """A Kubernetes quantity (``10Gi``, ``500M``, ``1024``) to an integer byte count."""
    if isinstance(value, str):
        match = _QUANTITY.match(value)
        if match is None:
            raise ValueError(f"not a quantity: {value!r} (use e.g. '1Gi' or '500M')")
        return int(float(match.group(1)) * _SUFFIX[match.group(2) or ""])
    return value


Bytes = Annotated[int, BeforeValidator(parse_quantity), Field(ge=0)]
Seconds = Annotated[float, BeforeValidator(parse_duration), Field(ge=0.0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Band(_Model):
    maxBytes: Bytes | None = None
    maxRequests: int | None = Field(default=None, ge=0)
    fairnessPolicyRef: str = ""
    orderingPolicyRef: str = ""


class _PriorityBand(_Band):
    priority: int


class _Section(_Model):
    maxBytes: Bytes = 0
    maxRequests: int = Field(default=0, ge=0)
    defaultRequestTTL: Seconds = 0.0
    defaultPriorityBand: _Band | None = None
    priorityBands: list[_PriorityBand] = []
    usageLimitPolicyPluginRef: str = ""


@dataclass(frozen=True, slots=True)
class BandConfig:
    priority: int
    max_bytes: int = DEFAULT_BAND_MAX_BYTES
    max_requests: int = 0
    """0: no limit."""
    fairness: str = DEFAULT_FAIRNESS
    ordering: str = DEFAULT_ORDERING


@dataclass(frozen=True, slots=True)
class FlowControlConfig:
    max_bytes: int = 0
    max_requests: int = 0
    default_ttl: float = 0.0
    """Seconds a request may wait; 0: until its client hangs up."""
    bands: Mapping[int, BandConfig] | None = None
    template: BandConfig = BandConfig(priority=0)
    """For priorities without a configured band (upstream's dynamic provisioning)."""
    usage_limit: str = ""
    """``usageLimitPolicyPluginRef``: a ``plugins:`` name or a policy type; "" for none."""

    def band(self, priority: int) -> BandConfig:
        found = (self.bands or {}).get(priority)
        if found is not None:
            return found
        t = self.template
        return BandConfig(priority, t.max_bytes, t.max_requests, t.fairness, t.ordering)


class FlowConfigError(ConfigError):
    """An invalid ``flowControl`` section; the message starts with the key path (a
    ``ConfigError``, so the commands report it like any other config error)."""


def enabled(feature_gates: object) -> bool:
    return isinstance(feature_gates, list | tuple) and FEATURE_GATE in feature_gates


def parse_flow_control(
    raw: Mapping[str, Any] | None, plugin_types: Mapping[str, str] | None = None
) -> FlowControlConfig:
    """Validate the section; ``plugin_types`` maps ``plugins:`` names to their types."""
    try:
        section = _Section.model_validate(raw or {})
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise FlowConfigError(f"flowControl.{where}: {first['msg']}") from e
    types = dict(plugin_types or {})
    template = _band(section.defaultPriorityBand or _Band(), 0, "defaultPriorityBand", types)
    bands: dict[int, BandConfig] = {}
    for i, b in enumerate(section.priorityBands):
        if b.priority in bands:
            raise FlowConfigError(
                f"flowControl.priorityBands[{i}].priority: duplicate priority {b.priority}"
            )
        bands[b.priority] = _band(b, b.priority, f"priorityBands[{i}]", types, template)
    usage = section.usageLimitPolicyPluginRef
    _ref(usage, USAGE_LIMIT_POLICIES, "usageLimitPolicyPluginRef", types)
    return FlowControlConfig(
        max_bytes=section.maxBytes,
        max_requests=section.maxRequests,
        default_ttl=section.defaultRequestTTL,
        bands=bands,
        template=template,
        usage_limit=usage,
    )


def _band(
    b: _Band, priority: int, where: str, types: Mapping[str, str], base: BandConfig | None = None
) -> BandConfig:
    base = base or BandConfig(priority)
    fairness = _ref(b.fairnessPolicyRef, FAIRNESS_POLICIES, f"{where}.fairnessPolicyRef", types)
    ordering = _ref(b.orderingPolicyRef, ORDERING_POLICIES, f"{where}.orderingPolicyRef", types)
    return BandConfig(
        priority=priority,
        max_bytes=base.max_bytes if not b.maxBytes else b.maxBytes,
        max_requests=base.max_requests if b.maxRequests is None else b.maxRequests,
        fairness=fairness or base.fairness,
        ordering=ordering or base.ordering,
    )


def _ref(ref: str, known: Mapping[str, object], where: str, types: Mapping[str, str]) -> str:
    if not ref:
        return ""
    type_name = types.get(ref, ref)
    if type_name not in known:
        raise FlowConfigError(
            f"flowControl.{where}: {ref!r} is not one of {sorted(known)} "
            "(nor a plugin of that type)"
        )
    return type_name
