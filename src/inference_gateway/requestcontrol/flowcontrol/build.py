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
from inference_gateway.requestcontrol.flowcontrol.config import enabled, parse_flow_control
from inference_gateway.requestcontrol.flowcontrol.gate import SaturationGate
from inference_gateway.requestcontrol.flowcontrol.hook import FlowHook
from inference_gateway.requestcontrol.flowcontrol.policies import policy_types
from inference_gateway.scheduling.config import BUILTIN_CONFIGS, SchedulerConfig
from inference_gateway.scheduling.saturation import SaturationDetector


class _Registry(Protocol):
    def register(self, cls: type[Any], type_name: str | None = None) -> None: ...


def register_flow_policies(registry: _Registry) -> None:
    """Let ``plugins:`` list the fairness and ordering policies by upstream's type names."""
    for cls in policy_types():
        registry.register(cls)


def build_flow_hook(
    config: SchedulerConfig,
    datastore: Datastore,
    detector: SaturationDetector,
    *,
    metrics: FlowMetrics | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> FlowHook | None:
    """The director's flow-control hook, or None when the feature gate is off."""
    if not enabled(config.feature_gates):
        return None
    types = {name: p.type for name, p in config.plugins.items()}
    flow = FlowControl(
        parse_flow_control(config.flow_control, types),
        datastore.endpoints,
        gate=SaturationGate.like(detector),
        clock=clock,
        metrics=metrics,
    )
    return FlowHook(flow, datastore)


def with_flow_control(source: str, section: Mapping[str, Any], *, queue_threshold: int = 1) -> str:
    """``source`` (a built-in config name or YAML text) with flow control turned on.

    Adds the feature gate, the ``flowControl`` section, and a saturation detector whose
    ``queueDepthThreshold`` gates dispatch: 1 releases a request only to a pod with
    nothing waiting, so the queue stays in the EPP, where priority holds (the demo and
    ``bench flow-control`` use it).
    """
    if source in BUILTIN_CONFIGS:
        ref = resources.files("inference_gateway.scheduling") / "configs" / f"{source}.yaml"
        source = ref.read_text(encoding="utf-8")
    doc = yaml.safe_load(source)
    doc["featureGates"] = [*(doc.get("featureGates") or ()), "flowControl"]
    doc["flowControl"] = dict(section)
    gate = {"queueDepthThreshold": queue_threshold}
    doc.setdefault("plugins", []).append(
        {"name": "flow-control-gate", "type": "saturation-detector", "parameters": gate}
    )
    doc["saturationDetector"] = {"pluginRef": "flow-control-gate"}
    return str(yaml.safe_dump(doc, sort_keys=False))
