"""The composition root: the endpoint picker composed whole (``epp``: datastore, source,
scraper, director, ext_proc server, metrics) and with a real Envoy in front (``gateway``).
The CLI, the demo, the benchmarks and the tests build these; nothing below imports them.

``gateway`` (which starts an Envoy) is imported on first use, so the EPP alone imports
nothing of the lab (the Envoy wheel is an extra the EPP image does not install).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from inference_gateway.app.epp import (
    GA_GROUP,
    X_GROUP,
    Epp,
    EppSettings,
    KubernetesSourceSettings,
    epp_registry,
)

if TYPE_CHECKING:
    from inference_gateway.app.gateway import (
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
        return getattr(importlib.import_module("inference_gateway.app.gateway"), name)
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
    "epp_registry",
]
