"""Request control: from a buffered request to an endpoint list, and back for the response."""

from inference_gateway.requestcontrol.director import Director
from inference_gateway.requestcontrol.errors import (
    bad_request,
    error_body,
    internal,
    model_not_found,
    payload_too_large,
    resource_exhausted,
    service_unavailable,
)
from inference_gateway.requestcontrol.ports import Admission, NullMetrics, RequestMetrics
from inference_gateway.requestcontrol.settings import DirectorSettings
from inference_gateway.requestcontrol.simple_scheduler import LeastInFlightScheduler
from inference_gateway.requestcontrol.types import GatewayError, IncomingRequest, Routed

__all__ = [
    "Admission",
    "Director",
    "DirectorSettings",
    "GatewayError",
    "IncomingRequest",
    "LeastInFlightScheduler",
    "NullMetrics",
    "RequestMetrics",
    "Routed",
    "bad_request",
    "error_body",
    "internal",
    "model_not_found",
    "payload_too_large",
    "resource_exhausted",
    "service_unavailable",
]
