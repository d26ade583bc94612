"""What the ext_proc handler hands the request-control layer, and the one error it raises.

The handler (``extproc``) knows the Envoy protocol and nothing about models; the director
(``requestcontrol.director``) knows models, pools and scheduling and nothing about Envoy.
The handler buffers the request body into an ``IncomingRequest``, calls ``route`` once and
then drives the ``requestcontrol.routed.Routed`` it gets back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


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
