"""Reading what Envoy sends: header maps, the subset hint, the endpoint that served."""

from __future__ import annotations

from envoy.config.core.v3 import base_pb2
from envoy.service.ext_proc.v3 import external_processor_pb2 as pb

from inference_gateway.extproc.messages import (
    LB_NAMESPACE,
    SERVED_KEY,
    SUBSET_KEY,
    SUBSET_NAMESPACE,
)

_ATTRIBUTES_KEY = "envoy.filters.http.ext_proc"
_UPSTREAM_ADDRESS = "upstream.address"


def read_headers(header_map: base_pb2.HeaderMap) -> dict[str, str]:
    out: dict[str, str] = {}
    for h in header_map.headers:
        raw = h.raw_value
        out[h.key.lower()] = raw.decode("utf-8", "replace") if raw else h.value
    return out


def subset_hint(request: pb.ProcessingRequest) -> tuple[str, ...] | None:
    meta = request.metadata_context.filter_metadata
    if SUBSET_NAMESPACE not in meta:
        return None
    fields = meta[SUBSET_NAMESPACE].fields
    if SUBSET_KEY not in fields:
        return None
    values = fields[SUBSET_KEY].list_value.values
    return tuple(v.string_value for v in values if v.string_value)


def served_endpoint(request: pb.ProcessingRequest) -> str | None:
    """The endpoint that answered: proxy metadata if set, else Envoy's upstream address."""
    meta = request.metadata_context.filter_metadata
    if LB_NAMESPACE in meta:
        value = meta[LB_NAMESPACE].fields.get(SERVED_KEY)
        if value is not None and value.string_value:
            return str(value.string_value)
    if _ATTRIBUTES_KEY in request.attributes:
        value = request.attributes[_ATTRIBUTES_KEY].fields.get(_UPSTREAM_ADDRESS)
        if value is not None and value.string_value:
            return str(value.string_value)
    return None
