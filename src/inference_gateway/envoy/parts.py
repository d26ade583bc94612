"""The bootstrap's building blocks: listeners, connection managers, filters, routes, clusters.

Shared by the plain mode (``envoy.bootstrap``) and the body-based routing mode
(``envoy.bbr_bootstrap``); separate so that both import it and ``bootstrap`` can import
``bbr_bootstrap`` at module level without an import cycle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from inference_gateway.envoy.local_reply import EXT_PROC_ERROR_STATUS, local_reply_config
from inference_gateway.envoy.settings import (
    DESTINATION_HEADER,
    EDS_FILE_NAME,
    EPP_CLUSTER,
    EPP_HEALTH_TIMEOUT_SECONDS,
    EXT_PROC_SERVICE,
    FALLBACK_CLUSTER,
    ORIGINAL_DST_CLUSTER,
    EnvoySettings,
)

# Upstream's reference values: 32 KiB per connection keeps a slow client from pinning memory;
# circuit breakers at 40,000 so Envoy never queues in front of the EPP's own admission.
_CONNECTION_BUFFER = 32768
_BREAKER = 40000
_LONG = "3600s"


def address(host: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": host, "port_value": port}}


def listener(name: str, host: str, port: int, manager: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "address": address(host, port),
        # Envoy shares ports by default (SO_REUSEPORT): a second gateway on the same port
        # would silently take half the traffic instead of failing to start.
        "enable_reuse_port": False,
        "per_connection_buffer_limit_bytes": _CONNECTION_BUFFER,
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": manager,
                    }
                ]
            }
        ],
    }


def hcm(
    stat_prefix: str, routes: list[dict[str, Any]], filters: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "@type": "type.googleapis.com/envoy.extensions.filters.network."
        "http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": stat_prefix,
        "codec_type": "AUTO",
        "stream_idle_timeout": _LONG,
        "normalize_path": True,
        "merge_slashes": True,
        "common_http_protocol_options": {"headers_with_underscores_action": "REJECT_REQUEST"},
        "http2_protocol_options": {
            "max_concurrent_streams": 100,
            "initial_stream_window_size": 65536,
            "initial_connection_window_size": 1048576,
        },
        "route_config": {
            "name": stat_prefix,
            "virtual_hosts": [{"name": stat_prefix, "domains": ["*"], "routes": routes}],
        },
        "http_filters": [*filters, _router()],
        "local_reply_config": local_reply_config(),
    }


def _route(cluster: str, *, require_header: bool) -> dict[str, Any]:
    match: dict[str, Any] = {"prefix": "/"}
    if require_header:
        match["headers"] = [{"name": DESTINATION_HEADER, "present_match": True}]
    return {
        "match": match,
        "route": {"cluster": cluster, "timeout": "0s", "idle_timeout": _LONG},
    }


def cluster_route(cluster: str, *, require_destination: bool) -> dict[str, Any]:
    """A route to ``cluster``, only when the EPP set the destination header if required."""
    return _route(cluster, require_header=require_destination)


def default_routes() -> list[dict[str, Any]]:
    """The plain mode's routes: EPP picked -> ORIGINAL_DST, else the fallback cluster."""
    return [
        _route(ORIGINAL_DST_CLUSTER, require_header=True),
        _route(FALLBACK_CLUSTER, require_header=False),
    ]


def _router() -> dict[str, Any]:
    return {
        "name": "envoy.filters.http.router",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
            "suppress_envoy_headers": True,
        },
    }


def strip_destination() -> dict[str, Any]:
    return {
        "name": "envoy.filters.http.header_mutation",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http."
            "header_mutation.v3.HeaderMutation",
            "mutations": {"request_mutations": [{"remove": DESTINATION_HEADER}]},
        },
    }


def processing_mode(*, response_path: bool) -> dict[str, str]:
    """Upstream's request modes (2.2); the response body STREAMED (see ``extproc.handler``).

    FULL_DUPLEX_STREAMED requires the matching trailer mode SEND.
    """
    mode = {
        "request_header_mode": "SEND",
        "request_body_mode": "FULL_DUPLEX_STREAMED",
        "request_trailer_mode": "SEND",
        "response_header_mode": "SKIP",
        "response_body_mode": "NONE",
        "response_trailer_mode": "SKIP",
    }
    if response_path:
        mode["response_header_mode"] = "SEND"
        mode["response_body_mode"] = "STREAMED"
    return mode


def ext_proc(s: EnvoySettings) -> dict[str, Any]:
    return {
        "name": "envoy.filters.http.ext_proc",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http."
            "ext_proc.v3.ExternalProcessor",
            "grpc_service": {"envoy_grpc": {"cluster_name": EPP_CLUSTER}},
            "failure_mode_allow": s.failure_mode == "FailOpen",
            "status_on_error": {"code": EXT_PROC_ERROR_STATUS},
            "message_timeout": f"{s.message_timeout_seconds:g}s",
            "allow_mode_override": True,
            "processing_mode": processing_mode(response_path=s.response_path),
            "response_attributes": ["upstream.address"],
            "metadata_options": {
                "forwarding_namespaces": {"untyped": ["envoy.lb", "envoy.lb.subset_hint"]},
                "receiving_namespaces": {"untyped": ["envoy.lb"]},
            },
        },
    }


def _http2_options() -> dict[str, Any]:
    return {
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "explicit_http_config": {
                "http2_protocol_options": {
                    "initial_stream_window_size": 4 * 1024 * 1024,
                    "initial_connection_window_size": 16 * 1024 * 1024,
                }
            },
        }
    }


def _breakers() -> dict[str, Any]:
    limits = {
        "max_connections": _BREAKER,
        "max_pending_requests": _BREAKER,
        "max_requests": _BREAKER,
        "max_retries": 1024,
    }
    return {"thresholds": [limits]}


def static_endpoints(cluster: str, hostports: list[tuple[str, int]]) -> dict[str, Any]:
    lb = [{"endpoint": {"address": address(h, p)}} for h, p in hostports]
    return {"cluster_name": cluster, "endpoints": [{"lb_endpoints": lb}]}


def epp_cluster(s: EnvoySettings) -> dict[str, Any]:
    """The EPP as a cluster, health-checked, outlier-ejected, with panic mode off.

    In FULL_DUPLEX_STREAMED, Envoy can fail open only while no body chunk has gone to the
    processor (envoyproxy/envoy#41276); a refused connection is noticed too late for that,
    because the first chunk is already queued. With the EPP marked unhealthy and no panic
    routing, the stream fails as it opens and FailOpen works as the pool promises.

    Two things make "marked unhealthy" quick. Outlier detection ejects the host on the
    first locally originated failure (a refused or reset connection), so after an abrupt
    stop only the streams already on their way fail, not those of the next health-check
    interval; the ejection lasts one interval, and a successful health check lifts it.
    ``update_merge_window: 0s`` makes the workers apply a health change at once instead
    of up to 1 s after the main thread saw it (the default merges updates that follow
    another one closely, as a stop then a restart do).
    """
    interval = f"{s.epp_health_interval_seconds:g}s"
    return {
        "name": EPP_CLUSTER,
        "type": "STATIC",
        "connect_timeout": "1s",
        "typed_extension_protocol_options": _http2_options(),
        "circuit_breakers": _breakers(),
        "common_lb_config": {
            "healthy_panic_threshold": {"value": 0},
            "update_merge_window": "0s",
        },
        "health_checks": [
            {
                # A busy EPP answering late is not a dead one: with a starved event loop
                # (1-2 s stalls, docs/benchmarks session 22) two 2 s timeouts in a row
                # marked it down and failed requests it would have served. A dead EPP
                # refuses connections, which fails a check (and ejects it) at once.
                "timeout": f"{EPP_HEALTH_TIMEOUT_SECONDS:g}s",
                "interval": interval,
                "no_traffic_interval": interval,
                "unhealthy_threshold": 2,
                "healthy_threshold": 1,
                "grpc_health_check": {"service_name": EXT_PROC_SERVICE},
            }
        ],
        "outlier_detection": {
            "split_external_local_origin_errors": True,
            "consecutive_local_origin_failure": 1,
            "enforcing_consecutive_local_origin_failure": 100,
            "enforcing_consecutive_5xx": 0,
            "enforcing_success_rate": 0,
            "base_ejection_time": interval,
            "max_ejection_percent": 100,
        },
        "load_assignment": static_endpoints(EPP_CLUSTER, [(s.epp_host, s.epp_port)]),
        **({"transport_socket": _upstream_tls()} if s.epp_tls else {}),
    }


def _upstream_tls() -> dict[str, Any]:
    return {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3."
            "UpstreamTlsContext",
            "common_tls_context": {"alpn_protocols": ["h2"], "validation_context": {}},
        },
    }


def original_dst_cluster() -> dict[str, Any]:
    return {
        "name": ORIGINAL_DST_CLUSTER,
        "type": "ORIGINAL_DST",
        "lb_policy": "CLUSTER_PROVIDED",
        "connect_timeout": "10s",
        "per_connection_buffer_limit_bytes": _CONNECTION_BUFFER,
        "circuit_breakers": _breakers(),
        "original_dst_lb_config": {
            "use_http_header": True,
            "http_header_name": DESTINATION_HEADER,
        },
    }


def fallback_cluster(eds_dir: Path) -> dict[str, Any]:
    return {
        "name": FALLBACK_CLUSTER,
        "type": "EDS",
        "lb_policy": "LEAST_REQUEST",
        "connect_timeout": "10s",
        "per_connection_buffer_limit_bytes": _CONNECTION_BUFFER,
        "circuit_breakers": _breakers(),
        "eds_cluster_config": {
            "eds_config": {
                "resource_api_version": "V3",
                "path_config_source": {
                    "path": str(eds_dir / EDS_FILE_NAME),
                    "watched_directory": {"path": str(eds_dir)},
                },
            }
        },
    }
