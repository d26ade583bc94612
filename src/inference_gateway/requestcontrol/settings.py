"""The request-control settings: one frozen model, the single source for CLI and YAML."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from inference_gateway.datastore.objects import Criticality

# 10 MiB: far above any real prompt (a 128k-token context is ~0.5 MiB of text) yet small
# enough that buffering a body in the handler cannot exhaust memory under load.
DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024


class DirectorSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, ge=1)
    """Request bodies above this are answered 413 by the handler, which buffers them."""
    account_usage: bool = True
    """Read token usage from responses for the token metrics. Costs a look at every
    response chunk (and buffering non-streamed bodies); when False and no model rewrite is
    needed, ``needs_response_body`` is False and Envoy may skip the response body."""
    max_usage_buffer_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, ge=1)
    """Largest non-streamed response (or partial SSE line) kept for usage parsing."""
    debug_header: bool = True
    """Honour ``x-gateway-debug: true`` by answering with the scheduling explanation."""
    default_criticality: Criticality = Criticality.STANDARD
    """Criticality of an InferenceModel that sets none (upstream treats unset as Standard)."""
    subset_filter: bool = True
    """Honour the proxy's ``x-gateway-destination-endpoint-subset`` hint
    (upstream ``--disable-endpoint-subset-filter`` turns it off)."""
    pool_header: bool = False
    """Honour ``x-gateway-inference-pool: <namespace>/<name>``: the pool a route chose (the
    standalone Envoy's body-based routes set it; its first filter strips client copies).
    The model must belong to that pool, else 404. Off: the pool comes from the model."""
