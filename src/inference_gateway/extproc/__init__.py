"""The Envoy ext_proc side of the EPP: the per-request state machine (``handler``), the
gRPC servers (``server``), the endpoint picker composed whole (``epp``) and with a real
Envoy in front (``gateway``)."""

from __future__ import annotations

from inference_gateway.extproc.epp import (
    GA_GROUP,
    X_GROUP,
    Epp,
    EppSettings,
    KubernetesSourceSettings,
)
from inference_gateway.extproc.gateway import (
    BbrRouting,
    BbrService,
    Gateway,
    GatewaySettings,
    bench_gateway,
)

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
