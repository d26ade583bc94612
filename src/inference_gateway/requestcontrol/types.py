"""The contract between the ext_proc handler and the request-control layer.

The handler (``extproc``) knows the Envoy protocol and nothing about models; the director
(``requestcontrol.director``) knows models, pools and scheduling and nothing about Envoy.
The handler buffers the request body, calls ``route`` once, then feeds the response through
``response_started`` / ``response_chunk`` and always ends with exactly one ``finish``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol

_EMPTY: Mapping[str, str] = MappingProxyType({})


class GatewayError(Exception):
    """A request the gateway answers itself, in the OpenAI error format.

    ``status`` is the HTTP status, ``code`` the OpenAI ``error.code`` string (for example
    ``model_not_found``), ``reason`` the upstream internal code used in metrics
    (``BadRequest``, ``NotFound``, ``ResourceExhausted``, ``ServiceUnavailable``, ``Internal``).
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        reason: str = "Internal",
        error_type: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.reason = reason
        self.error_type = error_type
        self.param = param


@dataclass(frozen=True, slots=True)
class IncomingRequest:
    """What Envoy told us about one HTTP request, body complete."""

    headers: Mapping[str, str]
    """Lower-cased names; pseudo-headers (``:path``, ``:method``) included."""
    body: bytes
    subset_hint: Sequence[str] | None = None
    """``envoy.lb.subset_hint`` endpoints (``ip:port``); None when the proxy sent none."""

    @property
    def path(self) -> str:
        return self.headers.get(":path", "/")


@dataclass(slots=True)
class Routed:
    """A routed request and everything its response path needs (its lifecycle)."""

    request_id: str
    model: str
    target_model: str
    endpoints: tuple[str, ...]
    """``ip:port`` in preference order; the first is primary, the rest fallbacks."""
    body: bytes | None
    """The body to forward, or None when it is unchanged."""
    pool: str = ""
    criticality: str = "Standard"
    streaming: bool = False
    needs_response_body: bool = True
    """False when nothing in the response must be rewritten or read (lets Envoy skip it)."""
    extra_headers: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    """Response headers to add for the client (for example ``x-gateway-debug``)."""
    started_at: float = 0.0
    status: int = 0
    served_by: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None
    response_bytes: int = 0
    state: dict[str, object] = field(default_factory=dict)


class Director(Protocol):
    def route(self, request: IncomingRequest) -> Routed:
        """Decide where a request goes, or raise ``GatewayError``."""
        ...

    def response_started(
        self, routed: Routed, status: int, headers: Mapping[str, str], served_by: str | None
    ) -> Mapping[str, str]:
        """Note the upstream status; return headers to add to the client's response."""
        ...

    def response_chunk(self, routed: Routed, chunk: bytes, end_of_stream: bool) -> bytes:
        """Account usage and restore the requested model name; return the bytes to send on."""
        ...

    def finish(self, routed: Routed, *, error: str | None = None) -> None:
        """Release everything held for the request. Called exactly once per routed request."""
        ...
