"""Flow control: requests wait in the EPP, by priority band and fair between flows, until
the pool has room (upstream's ``flowControl`` feature, issue 16).

``queues`` is the pure core (the benchmark harness runs it too), ``admission`` the async
adapter, ``hook`` the glue to the director and handler, ``build`` the composition-root
entry. Nothing here is imported by the scheduling layer.
"""

from __future__ import annotations

from inference_gateway.requestcontrol.flowcontrol.config import (
    FEATURE_GATE,
    BandConfig,
    FlowConfigError,
    FlowControlConfig,
    parse_flow_control,
)
from inference_gateway.requestcontrol.flowcontrol.gate import SaturationGate
from inference_gateway.requestcontrol.flowcontrol.queues import FlowQueues
from inference_gateway.requestcontrol.flowcontrol.types import (
    FAIRNESS_HEADER,
    CapacityError,
    FlowKey,
    Outcome,
    QueueItem,
)

__all__ = [
    "FAIRNESS_HEADER",
    "FEATURE_GATE",
    "BandConfig",
    "CapacityError",
    "FlowConfigError",
    "FlowControlConfig",
    "FlowKey",
    "FlowQueues",
    "Outcome",
    "QueueItem",
    "SaturationGate",
    "parse_flow_control",
]
