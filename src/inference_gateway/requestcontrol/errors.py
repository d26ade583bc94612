"""Every error the gateway answers itself, and the one function that renders them.

Upstream answers with a plain ``inference error: <Code> - <msg>`` text; clients of an
OpenAI-compatible endpoint expect ``{"error": {"message", "type", "param", "code"}}``.
The gateway sits in front of vLLM pods whose own errors reach the client unchanged, so it
answers in exactly the shape vLLM's server does (``ErrorInfo`` in vLLM's
``entrypoints/openai/engine/protocol.py``): ``code`` is the HTTP status as an integer and
``type`` an exception-style name (``BadRequestError``, ``NotFoundError``, ...). A client then
sees one shape whichever component refused it: the EPP (here), Envoy's own local replies
(mapped to the same JSON by ``envoy.local_reply``), or a pod.

``ERROR_TYPES`` is the single table of ``type`` per status; the names are the ``openai``
SDK's exception classes where it has one (so ``type`` names what the SDK raises). The
machine-readable reason (``BadRequest``, ``NotFound``, ``ResourceExhausted``, ...: the
upstream internal codes, counted by the error metric) rides in the ``x-gateway-error``
header; the finer ``GatewayError.code`` string (``model_not_found``, ``invalid_json``) stays
internal. 429 and 503 carry ``Retry-After`` so SDKs back off instead of retrying blindly.

=====  ===================  ==========================
HTTP   reason               type
=====  ===================  ==========================
400    BadRequest           BadRequestError
404    NotFound             NotFoundError
413    PayloadTooLarge      RequestEntityTooLargeError
429    ResourceExhausted    RateLimitError
500    Internal             InternalServerError
503    ServiceUnavailable   ServiceUnavailableError
=====  ===================  ==========================
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType

from inference_gateway.requestcontrol.types import GatewayError

ERROR_TYPES: Mapping[int, str] = MappingProxyType(
    {
        400: "BadRequestError",
        401: "AuthenticationError",
        403: "PermissionDeniedError",
        404: "NotFoundError",
        408: "RequestTimeoutError",
        409: "ConflictError",
        413: "RequestEntityTooLargeError",
        422: "UnprocessableEntityError",
        429: "RateLimitError",
        431: "RequestHeaderFieldsTooLargeError",
        500: "InternalServerError",
        501: "NotImplementedError",
        502: "BadGatewayError",
        503: "ServiceUnavailableError",
        504: "GatewayTimeoutError",
    }
)
RETRY_AFTER_SECONDS = 1
"""Shed (429) and no-endpoint (503) refusals clear as soon as a queue drains or a pod
turns ready, which the EPP sees within one 50 ms scrape; one second (the header's
smallest unit) lets a client retry promptly without hammering."""
RETRY_STATUSES = frozenset({429, 503})


def error_type(status: int) -> str:
    """The ``type`` for ``status``: the table, else by class (4xx / 5xx)."""
    found = ERROR_TYPES.get(status)
    if found is not None:
        return found
    return "InternalServerError" if status >= 500 else "BadRequestError"


def error_payload(
    status: int, message: str, *, param: str | None = None, kind: str | None = None
) -> dict[str, dict[str, object]]:
    """The one error shape, as a dict (shared with the simulator and the Envoy mapping)."""
    return {
        "error": {
            "message": message,
            "type": kind or error_type(status),
            "param": param,
            "code": status,
        }
    }


def error_body(err: GatewayError) -> bytes:
    """The OpenAI-format JSON body for ``err`` (UTF-8, compact)."""
    payload = error_payload(err.status, err.message, param=err.param, kind=err.error_type)
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def error_headers(status: int) -> dict[str, str]:
    """Headers every error answer of ``status`` carries besides the body's content type."""
    return {"retry-after": str(RETRY_AFTER_SECONDS)} if status in RETRY_STATUSES else {}


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


def cause_of(e: Exception) -> BaseException | None:
    """The cause to chain when ``e`` is raised as a ``GatewayError``: the original error
    behind a 500, else what the error already had."""
    return e.__cause__ if isinstance(e, GatewayError) else e


def code_of(e: BaseException) -> str:
    """The error code a request that ended with ``e`` is finished with."""
    if isinstance(e, GatewayError):
        return e.reason
    return "cancelled" if not isinstance(e, Exception) else "Internal"
