"""Request control: from a buffered request to an endpoint list, and back for the response."""

from inference_gateway.requestcontrol.director import Director, RouteResult
from inference_gateway.requestcontrol.errors import (
    bad_request,
    error_body,
    internal,
    model_not_found,
    payload_too_large,
    resource_exhausted,
    service_unavailable,
)
from inference_gateway.requestcontrol.ports import CapacityGate, NullMetrics, RequestMetrics
from inference_gateway.requestcontrol.routed import Routed
from inference_gateway.requestcontrol.settings import DirectorSettings
from inference_gateway.requestcontrol.types import GatewayError, IncomingRequest

__all__ = [
    "CapacityGate",
    "Director",
    "DirectorSettings",
    "GatewayError",
    "IncomingRequest",
    "NullMetrics",
    "RequestMetrics",
    "RouteResult",
    "Routed",
    "bad_request",
    "error_body",
    "internal",
    "model_not_found",
    "payload_too_large",
    "resource_exhausted",
    "service_unavailable",
]
