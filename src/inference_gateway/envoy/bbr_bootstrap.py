"""The Envoy bootstrap's body-based routing mode (``EnvoySettings.bbr_port`` set).

Filters: strip client copies of the routing headers -> BBR (sets x-gateway-model-name,
clears the route cache) -> a header_mutation whose per-route config names the route's
pool in x-gateway-inference-pool -> the EPP (restricted to that pool) -> router.
Both later filters read their per-route config after BBR answered (BBR holds the request
headers until then in both modes), so they see the route the model header chose.

The route table depends on the InferenceModels, so it is served by RDS from a file in
the watched EDS directory (written by ``envoy.bbr_routes``): adding or moving a model
takes effect without restarting Envoy.

Apart from ``envoy.bootstrap`` so that the plain mode and this one change separately;
``build_bootstrap`` stays the one entry point for both, and both build from ``envoy.parts``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from inference_gateway.envoy.local_reply import EXT_PROC_ERROR_STATUS
from inference_gateway.envoy.parts import (
    epp_cluster,
    ext_proc,
    hcm,
    static_endpoints,
    strip_destination,
)
from inference_gateway.envoy.settings import DESTINATION_HEADER, GATEWAY_LISTENER, EnvoySettings

BBR_CLUSTER = "bbr"
BBR_FILTER = "inference-gateway.bbr"
POOL_FILTER = "inference-gateway.pool_header"
MODEL_HEADER = "x-gateway-model-name"
POOL_HEADER = "x-gateway-inference-pool"
ROUTES_FILE_NAME = "bbr_routes.json"


def bbr_gateway_hcm(s: EnvoySettings, eds_dir: Path) -> dict[str, Any]:
    """The gateway listener's connection manager: the filters above, routes from RDS."""
    manager = hcm("gateway", [], [_strip_routing_headers(), _bbr_ext_proc(s), _pool_filter()])
    manager["http_filters"].insert(-1, ext_proc(s))
    del manager["route_config"]
    manager["rds"] = {
        "route_config_name": GATEWAY_LISTENER,
        "config_source": {
            "resource_api_version": "V3",
            "path_config_source": {
                "path": str(eds_dir / ROUTES_FILE_NAME),
                "watched_directory": {"path": str(eds_dir)},
            },
        },
    }
    return manager


def _strip_routing_headers() -> dict[str, Any]:
    strip = strip_destination()
    strip["typed_config"]["mutations"]["request_mutations"] = [
        {"remove": name} for name in (DESTINATION_HEADER, MODEL_HEADER, POOL_HEADER)
    ]
    return strip


def bbr_processing_mode(*, streaming: bool) -> dict[str, str]:
    """Request headers and body only; FULL_DUPLEX_STREAMED needs request trailers SEND."""
    return {
        "request_header_mode": "SEND",
        "request_body_mode": "FULL_DUPLEX_STREAMED" if streaming else "BUFFERED",
        "request_trailer_mode": "SEND" if streaming else "SKIP",
        "response_header_mode": "SKIP",
        "response_body_mode": "NONE",
        "response_trailer_mode": "SKIP",
    }


def _bbr_ext_proc(s: EnvoySettings) -> dict[str, Any]:
    return {
        "name": BBR_FILTER,
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http."
            "ext_proc.v3.ExternalProcessor",
            "grpc_service": {"envoy_grpc": {"cluster_name": BBR_CLUSTER}},
            # BBR down + FailOpen: no model header, so the EPP resolves the pool itself.
            "failure_mode_allow": s.failure_mode == "FailOpen",
            "status_on_error": {"code": EXT_PROC_ERROR_STATUS},
            "message_timeout": f"{s.message_timeout_seconds:g}s",
            "processing_mode": bbr_processing_mode(streaming=s.bbr_streaming),
        },
    }


def _pool_filter() -> dict[str, Any]:
    return {
        "name": POOL_FILTER,
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http."
            "header_mutation.v3.HeaderMutation",
        },
    }


def bbr_cluster(s: EnvoySettings) -> dict[str, Any]:
    """The BBR server as a cluster, health-checked and ejected as the EPP's is."""
    assert s.bbr_port is not None
    cluster = epp_cluster(s)
    cluster.pop("transport_socket", None)  # BBR serves plaintext, whatever the EPP does
    cluster["name"] = BBR_CLUSTER
    cluster["load_assignment"] = static_endpoints(BBR_CLUSTER, [(s.bbr_host, s.bbr_port)])
    return cluster
