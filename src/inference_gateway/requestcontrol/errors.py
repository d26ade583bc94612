"""Every error the gateway answers itself, and the one function that renders them.

Upstream answers with a plain ``inference error: <Code> - <msg>`` text; clients of an
OpenAI-compatible endpoint expect ``{"error": {"message", "type", "param", "code"}}``, so
that is what ``error_body`` writes for every ImmediateResponse (STYLE rule 11). The
``reason`` of each error is the upstream internal code and is what the error metric counts.

Shapes (``type`` / ``code``), chosen to match what OpenAI itself returns where it has one:

=====  ===================  =====================  ========================
HTTP   reason               type                   code
=====  ===================  =====================  ========================
400    BadRequest           invalid_request_error  invalid_json | missing_model | invalid_body
404    NotFound             invalid_request_error  model_not_found
413    PayloadTooLarge      invalid_request_error  request_too_large
429    ResourceExhausted    rate_limit_error       rate_limit_exceeded
500    Internal             server_error           internal_error
503    ServiceUnavailable   server_error           service_unavailable
=====  ===================  =====================  ========================
"""

from __future__ import annotations

import json

from inference_gateway.requestcontrol.types import GatewayError

_DEFAULT_TYPES = {
    400: "invalid_request_error",
    404: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


def error_body(err: GatewayError) -> bytes:
    """The OpenAI-format JSON body for ``err`` (UTF-8, compact)."""
    error_type = err.error_type or _DEFAULT_TYPES.get(err.status, "server_error")
    payload = {
        "error": {
            "message": err.message,
            "type": error_type,
            "param": err.param,
            "code": err.code,
        }
    }
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def bad_request(
    message: str, *, code: str = "invalid_body", param: str | None = None
) -> GatewayError:
    return GatewayError(400, message, code=code, reason="BadRequest", param=param)


def model_not_found(model: str) -> GatewayError:
    return GatewayError(
        404,
        f"The model `{model}` does not exist.",
        code="model_not_found",
        reason="NotFound",
        param="model",
    )


def payload_too_large(limit: int) -> GatewayError:
    return GatewayError(
        413,
        f"request body is larger than the limit of {limit} bytes",
        code="request_too_large",
        reason="PayloadTooLarge",
    )


def resource_exhausted(message: str) -> GatewayError:
    return GatewayError(429, message, code="rate_limit_exceeded", reason="ResourceExhausted")


def service_unavailable(message: str) -> GatewayError:
    return GatewayError(503, message, code="service_unavailable", reason="ServiceUnavailable")


def internal(message: str = "internal error while routing the request") -> GatewayError:
    return GatewayError(500, message, code="internal_error", reason="Internal")
