"""The Envoy ext_proc side of the EPP: the per-request state machine (``handler``), the
gRPC servers (``server``), the endpoint picker composed whole (``epp``) and with a real
Envoy in front (``gateway``).

``gateway`` (which starts an Envoy) is imported on first use, so the EPP alone imports
nothing of the lab (the Envoy wheel is an extra the EPP image does not install).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from inference_gateway.extproc.epp import (
    GA_GROUP,
    X_GROUP,
    Epp,
    EppSettings,
    KubernetesSourceSettings,
)

if TYPE_CHECKING:
    from inference_gateway.extproc.gateway import (
        BbrRouting,
        BbrService,
        Gateway,
        GatewaySettings,
        bench_gateway,
    )

_GATEWAY_NAMES = frozenset(
    {"BbrRouting", "BbrService", "Gateway", "GatewaySettings", "bench_gateway"}
)


def __getattr__(name: str) -> Any:
    if name in _GATEWAY_NAMES:
        return getattr(importlib.import_module("inference_gateway.extproc.gateway"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "GA_GROUP",
    "X_GROUP",
    "BbrRouting",
    "BbrService",
    "Epp",
    "EppSettings",
    "Gateway",
    "GatewaySettings",
    "KubernetesSourceSettings",
    "bench_gateway",
]
