"""The ext_proc state machine for one HTTP request (one gRPC stream).

Envoy runs the request body in FULL_DUPLEX_STREAMED (the response body STREAMED): it sends
the request headers and then the body chunks without waiting for answers. The routing
decision needs the whole body, so the request-headers message is answered only at the
body's end, followed by the (possibly rewritten) body and the trailers answer, strictly in
that order. Bodiless requests (``GET /v1/models``) are routed at once with an empty body;
the director decides where they go. On the response path every chunk is answered as soon
as it arrives, so server-sent events are never held back, and an unchanged chunk is
answered without a copy.

Envoy ignores ``mode_override`` whenever a body mode is FULL_DUPLEX_STREAMED, so a request
whose response needs no reading (``needs_response_body`` False) is let go another way:
after its response headers are answered the stream is ended cleanly, which the protocol
defines as "proceed without the processor" for the rest of the exchange. That is why the
response body is STREAMED rather than FULL_DUPLEX_STREAMED: in full duplex Envoy would
forward only what the processor echoed, so ending the stream would drop the body. The
request is finished at that point (for a non-streaming response the headers come with the
complete answer, so the in-flight count is released at about the right time).

This module translates messages and nothing more: every decision, and every stage a
request goes through, is the router's (``requestcontrol.Director``), which hands back a
routed request that owns its response path. The router answers at once or, when
request-control plugins must run or flow control holds the request, with a route to
await; ``routing_pending`` then tells the transport to ``await route_pending()``, and a
stream that closes first closes that route (which gives up its place in the queue).
Messages out of protocol order (a second request_headers, a body before the headers) end
the stream as a protocol error: nothing is routed twice and nothing acquired is left behind.

``Stream.on_message`` never raises: a ``GatewayError`` becomes an ImmediateResponse with the
OpenAI error body, anything else a logged 500 (request path) or a pass-through (response path).
The routed request's ``finish`` runs exactly once, from ``close`` at the latest.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field

from envoy.service.ext_proc.v3 import external_processor_pb2 as pb

from inference_gateway.extproc import messages as msgs
from inference_gateway.extproc._read import read_headers, served_endpoint, subset_hint
from inference_gateway.extproc.routing import PendingRoute, RoutedRequest, Router
from inference_gateway.observability import tracing
from inference_gateway.requestcontrol.errors import internal, payload_too_large
from inference_gateway.requestcontrol.types import GatewayError, IncomingRequest

log = logging.getLogger(__name__)


# Upstream caps its Content-Length preallocation at 1 MiB too (#2928): a client may declare
# a large body and never send it, and this memory is taken before a byte has arrived.
_PREALLOCATE_MAX = 1024 * 1024


class Phase(enum.Enum):
    REQUEST_HEADERS = "request_headers"
    REQUEST_BODY = "request_body"
    ROUTING = "routing"
    """The request is complete and its route is being awaited."""
    ROUTED = "routed"
    RESPONSE = "response"
    DONE = "done"
    """Answered with an ImmediateResponse, the response is complete, or a protocol error."""


@dataclass(slots=True)
class _Pending:
    """A route being awaited, and how to forward once it is there."""

    route: PendingRoute
    request: IncomingRequest
    has_body: bool
    trailers: bool


@dataclass(slots=True)
class StreamState:
    phase: Phase = Phase.REQUEST_HEADERS
    headers: dict[str, str] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)
    received: int = 0
    subset: tuple[str, ...] | None = None
    routed: RoutedRequest | None = None
    pending: _Pending | None = None
    protocol_error: str | None = None
    """Why the stream was ended for breaking message order (None: it did not)."""


Responses = list[pb.ProcessingResponse]


class Stream:
    """Turns each ``ProcessingRequest`` of one stream into the answers to send, in order."""

    def __init__(
        self,
        router: Router,
        *,
        max_body_bytes: int,
        inline_small_bodies: bool = True,
        tracer: tracing.Tracer = tracing.NULL_TRACER,
    ) -> None:
        self._router = router
        self._tracer = tracer
        self._max_body = max_body_bytes
        self._inline_limit = msgs.BODY_CHUNK_BYTES if inline_small_bodies else -1
        self.state = StreamState()
        self.span: tracing.Span = tracing.NULL_SPAN

    def on_message(self, request: pb.ProcessingRequest) -> Responses:
        kind = request.WhichOneof("request")
        try:
            if kind == "request_body":
                return self._request_body(request.request_body)
            if kind == "response_body":
                return self._response_body(request.response_body)
            if kind == "request_headers":
                return self._request_headers(request)
            if kind == "response_headers":
                return self._response_headers(request)
            if kind == "request_trailers":
                return self._request_trailers()
            if kind == "response_trailers":
                self._finish(None)
                return [msgs.EMPTY_RESPONSE_TRAILERS]
            return []
        except GatewayError as err:
            return self._reject(err)
        except Exception:
            log.exception("ext_proc: unexpected error on %s", kind)
            if self.state.phase in (Phase.RESPONSE, Phase.ROUTED):
                return _passthrough(request)
            return self._reject(internal())

    @property
    def routing_pending(self) -> bool:
        """The request is complete and must be routed with ``await route_pending()``."""
        return self.state.pending is not None

    async def route_pending(self) -> Responses:
        """Await the router's coroutine (request-control plugins), then forward or answer."""
        pending = self.state.pending
        assert pending is not None
        self.state.pending = None
        try:
            routed = await pending.route
            return self._forward(routed, pending.request, pending.has_body, pending.trailers)
        except GatewayError as err:
            return self._reject(err)
        except Exception:
            log.exception("ext_proc: unexpected error while routing")
            return self._reject(internal())

    @property
    def done(self) -> bool:
        """Nothing more to do: the caller should end the stream (Envoy then goes on alone)."""
        return self.state.phase is Phase.DONE

    def close(self, *, error: str | None) -> None:
        """The stream ended; release the request if the response never completed."""
        pending, self.state.pending = self.state.pending, None
        if pending is not None:
            pending.route.close()
        self._finish(error)
        self.span.end()

    # --- request path ------------------------------------------------------------------
    def _protocol_error(self, why: str) -> Responses:
        """Out-of-order message: end the stream; whatever was held is released."""
        log.warning("ext_proc: protocol error, ending the stream: %s", why)
        state = self.state
        state.protocol_error = why
        pending, state.pending = state.pending, None
        if pending is not None:
            pending.route.close()
        self._finish("protocol_error")
        return []

    def _request_headers(self, request: pb.ProcessingRequest) -> Responses:
        state = self.state
        if state.phase is not Phase.REQUEST_HEADERS:
            if state.phase is Phase.DONE:
                return []
            return self._protocol_error(f"request_headers in phase {state.phase.value}")
        msg = request.request_headers
        state.headers = headers = read_headers(msg.headers)
        self.span = self._tracer.start_request(headers)
        state.subset = subset_hint(request)
        if msg.end_of_stream:
            return self._complete(b"", has_body=False, trailers=False)
        self._preallocate(headers.get("content-length"))
        state.phase = Phase.REQUEST_BODY
        return []

    def _preallocate(self, content_length: str | None) -> None:
        if content_length is None or not content_length.isdigit():
            return
        size = int(content_length)
        if size > self._max_body:
            raise payload_too_large(self._max_body)
        self.state.body = bytearray(min(size, _PREALLOCATE_MAX))

    def _request_body(self, msg: pb.HttpBody) -> Responses:
        state = self.state
        if state.phase is not Phase.REQUEST_BODY:
            if state.phase is Phase.REQUEST_HEADERS:
                return self._protocol_error("request_body before request_headers")
            return []
        chunk = msg.body
        start = state.received
        state.received = stop = start + len(chunk)
        if stop > self._max_body:
            raise payload_too_large(self._max_body)
        state.body[start:stop] = chunk
        if not msg.end_of_stream:
            return []
        return self._complete(self._take_body(), has_body=True, trailers=False)

    def _request_trailers(self) -> Responses:
        if self.state.phase is not Phase.REQUEST_BODY:
            return [msgs.EMPTY_REQUEST_TRAILERS]
        return self._complete(self._take_body(), has_body=True, trailers=True)

    def _take_body(self) -> bytes:
        body = self.state.body
        if len(body) != self.state.received:
            del body[self.state.received :]
        self.state.body = bytearray()
        return bytes(body)

    def _complete(self, body: bytes, *, has_body: bool, trailers: bool) -> Responses:
        """The request is whole: route it now, or leave its coroutine for ``route_pending``."""
        state = self.state
        request = IncomingRequest(headers=state.headers, body=body, subset_hint=state.subset)
        state.phase = Phase.ROUTING
        routed = self._router.route(request)
        if isinstance(routed, Awaitable):
            state.pending = _Pending(routed, request, has_body, trailers)
            return []
        return self._forward(routed, request, has_body, trailers)

    def _forward(
        self, routed: RoutedRequest, request: IncomingRequest, has_body: bool, trailers: bool
    ) -> Responses:
        state = self.state
        if state.phase is not Phase.ROUTING:
            # The stream closed while the route was awaited: let go of what it holds.
            routed.finish(error="cancelled")
            return []
        self._tracer.record_route(self.span, routed)
        state.routed = routed
        answer = routed.answer
        if answer is not None:
            state.phase = Phase.DONE
            return [msgs.answer(answer.status, answer.headers, answer.body)]
        state.phase = Phase.ROUTED
        body = request.body
        forwarded = body if routed.body is None else routed.body
        extra: dict[str, str] = {}
        if "x-request-id" not in state.headers and routed.request_id:
            extra["x-request-id"] = routed.request_id
        length = len(forwarded) if has_body else None
        endpoints = ",".join(routed.endpoints)
        remove = routed.remove_headers
        if has_body and not trailers and len(forwarded) <= self._inline_limit:
            return [
                msgs.route_headers(
                    endpoints, content_length=length, extra=extra, body=forwarded, remove=remove
                )
            ]
        out = [msgs.route_headers(endpoints, content_length=length, extra=extra, remove=remove)]
        if has_body:
            out.extend(msgs.request_body_chunks(forwarded, end_of_stream=not trailers))
        if trailers:
            out.append(msgs.EMPTY_REQUEST_TRAILERS)
        return out

    def _reject(self, err: GatewayError) -> Responses:
        self.span.fail(err.status, err.reason)
        if self.state.phase in (Phase.RESPONSE, Phase.DONE):
            return []
        self._finish(err.reason)
        self.state.phase = Phase.DONE
        return [msgs.immediate(err)]

    # --- response path -----------------------------------------------------------------
    def _response_headers(self, request: pb.ProcessingRequest) -> Responses:
        routed = self.state.routed
        if routed is None or self.state.phase is not Phase.ROUTED:
            return [msgs.EMPTY_RESPONSE_HEADERS]
        msg = request.response_headers
        headers = read_headers(msg.headers)
        status = int(headers.get(":status", "0") or 0)
        self.span.set("http.response.status_code", status)
        added = routed.response_started(status, headers, served_endpoint(request))
        self.state.phase = Phase.RESPONSE
        if msg.end_of_stream or not routed.needs_response_body:
            self._finish(None)
        return [msgs.response_headers(added)]

    def _response_body(self, msg: pb.HttpBody) -> Responses:
        state = self.state
        routed = state.routed
        if routed is None or state.phase is not Phase.RESPONSE:
            return [msgs.EMPTY_RESPONSE_BODY]
        chunk = msg.body
        eos = msg.end_of_stream
        out = routed.response_chunk(chunk, eos)
        if eos:
            self._finish(None)
        return [msgs.response_body(None if out is chunk or out == chunk else out)]

    def _finish(self, error: str | None) -> None:
        state = self.state
        if state.phase is not Phase.DONE:
            state.phase = Phase.DONE
        routed = state.routed
        if routed is None:
            return
        state.routed = None
        try:
            routed.finish(error=error)
        except Exception:
            log.exception("ext_proc: finishing the request failed")


def _passthrough(request: pb.ProcessingRequest) -> Responses:
    kind = request.WhichOneof("request")
    if kind == "response_body":
        return [msgs.EMPTY_RESPONSE_BODY]
    if kind == "response_headers":
        return [msgs.EMPTY_RESPONSE_HEADERS]
    if kind == "response_trailers":
        return [msgs.EMPTY_RESPONSE_TRAILERS]
    return [msgs.EMPTY_REQUEST_TRAILERS] if kind == "request_trailers" else []
