"""What the ext_proc handler needs from request control, defined where it is consumed.

The handler hands a complete request to a ``Router`` and gets back a ``RoutedRequest`` (the
forwarding decision and the response stages it drives), or a ``PendingRoute`` to await
when the router must wait (request-control plugins, flow control). The director in
``requestcontrol`` implements these; tests script them.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any, Protocol

from inference_gateway.requestcontrol.extensions import ImmediateAnswer
from inference_gateway.requestcontrol.types import IncomingRequest


class RoutedRequest(Protocol):
    """What the handler reads of a routed request and the response stages it drives."""

    @property
    def request_id(self) -> str: ...
    @property
    def endpoints(self) -> tuple[str, ...]: ...
    @property
    def body(self) -> bytes | None: ...
    @property
    def remove_headers(self) -> tuple[str, ...]: ...
    @property
    def answer(self) -> ImmediateAnswer | None: ...
    @property
    def needs_response_body(self) -> bool: ...

    def response_started(
        self, status: int, headers: Mapping[str, str], served_by: str | None
    ) -> Mapping[str, str]: ...

    def response_chunk(self, chunk: bytes, end_of_stream: bool) -> bytes: ...

    def finish(self, *, error: str | None = None) -> None: ...


class PendingRoute(Protocol):
    """A route still to be awaited; ``close`` lets go of it unawaited."""

    def __await__(self) -> Generator[Any, None, RoutedRequest]: ...

    def close(self) -> None: ...


class Router(Protocol):
    def route(self, request: IncomingRequest) -> RoutedRequest | PendingRoute:
        """Route a complete request (or return the route to await), or raise ``GatewayError``."""
        ...
