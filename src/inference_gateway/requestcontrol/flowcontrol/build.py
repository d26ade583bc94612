"""Building flow control from a loaded EndpointPickerConfig (the composition root calls it).

Flow control exists only when ``featureGates`` lists ``flowControl``, as upstream; the
``flowControl`` section alone changes nothing. Its dispatch gate takes the configured
saturation detector's thresholds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from importlib import resources
from typing import Any, Protocol

import yaml

from inference_gateway.datastore import Datastore
from inference_gateway.requestcontrol.flowcontrol.admission import FlowControl, FlowMetrics
from inference_gateway.requestcontrol.flowcontrol.config import (
    FlowControlConfig,
    enabled,
    parse_flow_control,
)
from inference_gateway.requestcontrol.flowcontrol.gate import gate_for
from inference_gateway.requestcontrol.flowcontrol.hook import FlowHook
from inference_gateway.requestcontrol.flowcontrol.policies import policy_types
from inference_gateway.requestcontrol.flowcontrol.usage import (
    NO_LIMIT,
    USAGE_LIMIT_POLICIES,
    PriorityUsageLimitPolicy,
    StaticUsageLimitPolicy,
    UsageLimitPolicy,
)
from inference_gateway.scheduling.config import BUILTIN_CONFIGS, SchedulerConfig
from inference_gateway.scheduling.saturation import Detector


class _Registry(Protocol):
    def register(self, cls: type[Any], type_name: str | None = None) -> None: ...


def register_flow_policies(registry: _Registry) -> None:
    """Let ``plugins:`` list the fairness and ordering policies by upstream's type names."""
    for cls in policy_types():
        registry.register(cls)


def build_flow_hook(
    config: SchedulerConfig,
    datastore: Datastore,
    detector: Detector,
    *,
    plugins: Mapping[str, object] | None = None,
    metrics: FlowMetrics | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> FlowHook | None:
    """The director's flow-control hook, or None when the feature gate is off."""
    if not enabled(config.feature_gates):
        return None
    flow_config = parse_flow_control(config.flow_control, plugin_types(config))
    flow = FlowControl(
        flow_config,
        datastore.endpoints,
        gate=gate_for(detector, datastore),
        usage=usage_limit(config, flow_config, plugins or {}),
        clock=clock,
        metrics=metrics,
    )
    return FlowHook(flow, datastore)


def plugin_types(config: SchedulerConfig) -> dict[str, str]:
    return {name: p.type for name, p in config.plugins.items()}


def usage_limit(
    config: SchedulerConfig, flow_config: FlowControlConfig, plugins: Mapping[str, object]
) -> UsageLimitPolicy:
    """The policy ``usageLimitPolicyPluginRef`` names: the built instance, one built from
    its ``plugins:`` entry, or one of that type with its defaults; none: no band is stopped
    short of full."""
    ref = flow_config.usage_limit
    if not ref:
        return NO_LIMIT
    found = plugins.get(ref)
    if isinstance(found, StaticUsageLimitPolicy | PriorityUsageLimitPolicy):
        return found
    spec = config.plugins.get(ref)
    if spec is not None:
        return USAGE_LIMIT_POLICIES[spec.type](spec.name, spec.params)
    return USAGE_LIMIT_POLICIES[ref]()


QUEUE_GATE: Mapping[str, Any] = {
    "type": "saturation-detector",
    "parameters": {"queueDepthThreshold": 1},
}
"""The demo's and ``bench flow-control``'s default gate: a request goes only to a pod with
nothing waiting, so the queue stays in the EPP, where priority holds."""


def with_flow_control(
    source: str,
    section: Mapping[str, Any],
    *,
    detector: Mapping[str, Any] = QUEUE_GATE,
    usage_limit: Mapping[str, Any] | None = None,
) -> str:
    """``source`` (a built-in config name or YAML text) with flow control turned on.

    Adds the feature gate, the ``flowControl`` section, ``detector`` (a ``plugins:`` entry
    without its name) as the saturation detector that gates dispatch and, if given,
    ``usage_limit`` as the section's ``usageLimitPolicyPluginRef``.
    """
    if source in BUILTIN_CONFIGS:
        ref = resources.files("inference_gateway.scheduling") / "configs" / f"{source}.yaml"
        source = ref.read_text(encoding="utf-8")
    doc = yaml.safe_load(source)
    doc["featureGates"] = [*(doc.get("featureGates") or ()), "flowControl"]
    doc["flowControl"] = dict(section)
    plugins = doc.setdefault("plugins", [])
    plugins.append({"name": "flow-control-gate", **detector})
    doc["saturationDetector"] = {"pluginRef": "flow-control-gate"}
    if usage_limit is not None:
        plugins.append({"name": "flow-control-usage-limit", **usage_limit})
        doc["flowControl"]["usageLimitPolicyPluginRef"] = "flow-control-usage-limit"
    return str(yaml.safe_dump(doc, sort_keys=False))
