"""The Envoy bootstrap's settings and the names other modules key on.

Separate from the builders (``envoy.parts``) so that the names have one home below both
bootstrap modes and the files Envoy watches (``endpoints_file``, ``bbr_routes``);
``envoy.bootstrap`` re-exports all of them, and callers outside ``envoy`` import from there.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DESTINATION_HEADER = "x-gateway-destination-endpoint"
EPP_CLUSTER = "epp"
EXT_PROC_SERVICE = "envoy.service.ext_proc.v3.ExternalProcessor"
ORIGINAL_DST_CLUSTER = "original_destination_cluster"
FALLBACK_CLUSTER = "epp_fallback"
GATEWAY_LISTENER = "gateway"
DIRECT_LISTENER = "direct"
EDS_FILE_NAME = "fallback_eds.json"
EPP_FILTER = "envoy.filters.http.ext_proc"

EPP_HEALTH_INTERVAL_SECONDS = 1.0
"""How often Envoy health-checks the EPP. A graceful EPP stop stays up NOT_SERVING for one
such interval (``ExtProcSettings.health_interval_seconds``) so Envoy stops opening streams
to it first; both sides default to this value and ``Gateway`` copies Envoy's to the EPP."""
EPP_HEALTH_TIMEOUT_SECONDS = 10.0
"""How long Envoy waits for the EPP's health answer; two misses in a row mark it down.
Long, so that only a hung EPP is: a dead one refuses the connection, which counts at once."""


class EnvoySettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = 8081
    """Client listener; 0 lets Envoy choose (read it back from the admin API)."""
    admin_host: str = "127.0.0.1"
    admin_port: int = 19000
    epp_host: str = "127.0.0.1"
    epp_port: int = 9002
    failure_mode: Literal["FailOpen", "FailClose"] = "FailClose"
    message_timeout_seconds: float = 60.0
    epp_health_interval_seconds: float = EPP_HEALTH_INTERVAL_SECONDS
    """Active gRPC health checks of the EPP; see ``parts.epp_cluster`` for why FailOpen
    needs them."""
    epp_tls: bool = False
    """The EPP serves ext_proc over TLS: connect with TLS (ALPN h2), trusting any certificate
    (upstream's EPP makes a self-signed one at start, so there is nothing to verify against)."""
    response_path: bool = True
    """Send responses through the EPP (usage accounting, model-name restore, served endpoint)."""
    direct_listener: bool = False
    """Add a second listener without ext_proc that routes by the client's own
    ``x-gateway-destination-endpoint`` (the "Envoy alone" baseline of ``bench overhead``).
    It lets a client pick any upstream, so it is for loopback benchmarks only."""
    direct_port: int = 0
    concurrency: int = 1
    log_level: str = "warning"
    max_request_headers_kb: int = Field(default=60, ge=1, le=8192)
    """Client request headers above this get 431 from Envoy (Envoy's own default, 60 KiB)."""
    max_headers_count: int = Field(default=100, ge=1)
    """Client requests with more headers than this are refused (Envoy's default, 100)."""
    bbr_port: int | None = None
    """Body-based routing mode: the BBR ext_proc server's port (None: mode off)."""
    bbr_host: str = "127.0.0.1"
    bbr_streaming: bool = True
    """Request body to BBR FULL_DUPLEX_STREAMED (True) or BUFFERED; must match the server.
    BUFFERED holds the whole body in Envoy, so bodies above the listener's 32 KiB
    per-connection buffer get 413 from Envoy (as with upstream's buffered BBR)."""
