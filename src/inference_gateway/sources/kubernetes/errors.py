"""Our own Kubernetes API errors, mapped once from HTTP responses and transport failures.

Nothing above this module sees an ``aiohttp`` or ``kubernetes_asyncio`` exception: callers
catch ``NotFound`` (a CRD not installed, an object gone), ``Gone`` (410: the watch's
resourceVersion expired, re-list), and retry what ``transient`` says may succeed later.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# Enough of a Status body to diagnose; the rest (sometimes a whole HTML page) is noise.
_BODY_LIMIT = 500


class ApiError(Exception):
    """The API server (or the way to it) failed a request."""

    def __init__(self, status: int, message: str, *, body: str = "") -> None:
        self.status = status
        self.message = message
        self.body = body[:_BODY_LIMIT]
        super().__init__(f"{status}: {message}" if status else message)


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    pass


class Gone(ApiError):
    """410: the requested resourceVersion is older than the server keeps."""


class TooManyRequests(ApiError):
    def __init__(self, status: int, message: str, *, body: str = "", retry_after: float) -> None:
        super().__init__(status, message, body=body)
        self.retry_after = retry_after


class ServerError(ApiError):
    """5xx from the server."""


class TransportError(ApiError):
    """No HTTP answer at all: refused, reset, timed out."""


def transient(error: ApiError) -> bool:
    return isinstance(error, ServerError | TooManyRequests | TransportError)


def _message(body: str, fallback: str) -> str:
    try:
        doc = json.loads(body)
    except ValueError:
        return fallback
    if isinstance(doc, Mapping) and isinstance(doc.get("message"), str):
        return str(doc["message"])
    return fallback


def _retry_after(headers: Mapping[str, str]) -> float:
    raw = headers.get("Retry-After", "")
    try:
        return max(float(raw), 0.0)
    except ValueError:
        return 1.0


def from_response(status: int, reason: str, body: str, headers: Mapping[str, str]) -> ApiError:
    """The error for a non-2xx response (the caller has checked the status)."""
    message = _message(body, reason or "error")
    if status == 404:
        return NotFound(status, message, body=body)
    if status == 409:
        return Conflict(status, message, body=body)
    if status == 410:
        return Gone(status, message, body=body)
    if status == 429:
        return TooManyRequests(status, message, body=body, retry_after=_retry_after(headers))
    if status >= 500:
        return ServerError(status, message, body=body)
    return ApiError(status, message, body=body)


def from_status(status: Mapping[str, Any]) -> ApiError:
    """The error carried by a watch ``ERROR`` event (a ``metav1.Status`` object)."""
    code = status.get("code")
    code = code if isinstance(code, int) else 0
    message = str(status.get("message") or status.get("reason") or "watch error")
    return from_response(code, message, json.dumps(dict(status)), {})
