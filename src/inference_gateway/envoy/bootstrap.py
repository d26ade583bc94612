"""The Envoy bootstrap for standalone mode, as plain data (dict -> YAML or JSON).

Shape follows the upstream reference config (research/upstream.md 2.11) with three changes:

* a ``header_mutation`` filter runs first and deletes any client-sent
  ``x-gateway-destination-endpoint``; without it, a client could pick any upstream address
  whenever the EPP is bypassed (FailOpen);
* routing is by that header: present (only the EPP can have set it) -> the ORIGINAL_DST
  cluster; absent (EPP bypassed in FailOpen) -> ``epp_fallback``, an EDS cluster whose
  endpoints Envoy reads from a file in a watched directory (``endpoints_file``), so pool
  changes reach Envoy without a restart;
* the response body is STREAMED (not FULL_DUPLEX_STREAMED) so the EPP can let a response it
  need not read pass by ending its stream, and the served upstream address is requested as
  the ``upstream.address`` response attribute (plain Envoy has no filter that writes
  ``x-gateway-destination-endpoint-served``; a proxy that does is honoured first).

Body-based routing mode (``bbr_port`` set) adds its filters, RDS and cluster from
``envoy.bbr_bootstrap``. Both modes build from ``envoy.parts``; the settings and the names
(clusters, listeners, headers) live in ``envoy.settings`` and are re-exported here.

Timeouts: route and stream timeouts are off or long because generations run for minutes;
``message_timeout`` bounds how long Envoy waits for any single EPP answer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from inference_gateway.envoy.bbr_bootstrap import bbr_cluster, bbr_gateway_hcm
from inference_gateway.envoy.parts import (
    address,
    cluster_route,
    default_routes,
    epp_cluster,
    ext_proc,
    fallback_cluster,
    hcm,
    listener,
    original_dst_cluster,
    processing_mode,
    strip_destination,
)
from inference_gateway.envoy.settings import (
    DESTINATION_HEADER,
    DIRECT_LISTENER,
    EDS_FILE_NAME,
    EPP_CLUSTER,
    EPP_FILTER,
    EPP_HEALTH_INTERVAL_SECONDS,
    EXT_PROC_SERVICE,
    FALLBACK_CLUSTER,
    GATEWAY_LISTENER,
    ORIGINAL_DST_CLUSTER,
    EnvoySettings,
)

__all__ = [
    "DESTINATION_HEADER",
    "DIRECT_LISTENER",
    "EDS_FILE_NAME",
    "EPP_CLUSTER",
    "EPP_FILTER",
    "EPP_HEALTH_INTERVAL_SECONDS",
    "EXT_PROC_SERVICE",
    "FALLBACK_CLUSTER",
    "GATEWAY_LISTENER",
    "ORIGINAL_DST_CLUSTER",
    "EnvoySettings",
    "build_bootstrap",
    "cluster_route",
    "default_routes",
    "processing_mode",
]


def build_bootstrap(settings: EnvoySettings, *, eds_dir: Path) -> dict[str, Any]:
    """The full bootstrap; ``eds_dir`` is where ``EndpointsFile`` writes the fallback set."""
    s = settings
    manager = _gateway_hcm(s) if s.bbr_port is None else bbr_gateway_hcm(s, eds_dir)
    manager["max_request_headers_kb"] = s.max_request_headers_kb
    manager["common_http_protocol_options"]["max_headers_count"] = s.max_headers_count
    listeners = [listener(GATEWAY_LISTENER, s.host, s.port, manager)]
    clusters = [epp_cluster(s), original_dst_cluster(), fallback_cluster(eds_dir)]
    if s.bbr_port is not None:
        clusters.append(bbr_cluster(s))
    if s.direct_listener:
        listeners.append(listener(DIRECT_LISTENER, s.host, s.direct_port, _direct_hcm()))
    return {
        "node": {"id": "inference-gateway", "cluster": "inference-gateway"},
        "admin": {"address": address(s.admin_host, s.admin_port)},
        "static_resources": {"listeners": listeners, "clusters": clusters},
        "layered_runtime": {
            "layers": [
                {
                    "name": "static",
                    "static_layer": {"overload.global_downstream_max_connections": 50000},
                }
            ]
        },
    }


def _gateway_hcm(s: EnvoySettings) -> dict[str, Any]:
    return hcm("gateway", default_routes(), [strip_destination(), ext_proc(s)])


def _direct_hcm() -> dict[str, Any]:
    return hcm("direct", [cluster_route(ORIGINAL_DST_CLUSTER, require_destination=True)], [])
