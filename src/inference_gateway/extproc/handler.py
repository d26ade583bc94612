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
whose response needs no reading (``Routed.needs_response_body`` False) is let go another
way: after its response headers are answered the stream is ended cleanly, which the
protocol defines as "proceed without the processor" for the rest of the exchange. That is
why the response body is STREAMED rather than FULL_DUPLEX_STREAMED: in full duplex Envoy
would forward only what the processor echoed, so ending the stream would drop the body. The
request is finished at that point (for a non-streaming response the headers come with the
complete answer, so the in-flight count is released at about the right time).

``Stream.on_message`` never raises: a ``GatewayError`` becomes an ImmediateResponse with the
OpenAI error body, anything else a logged 500 (request path) or a pass-through (response path).
The director's ``finish`` runs exactly once per routed request, from ``close`` at the latest.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass, field

from envoy.service.ext_proc.v3 import external_processor_pb2 as pb

from inference_gateway.extproc import messages as msgs
from inference_gateway.extproc._read import read_headers, served_endpoint, subset_hint
from inference_gateway.observability import tracing
from inference_gateway.requestcontrol.errors import internal, payload_too_large
from inference_gateway.requestcontrol.extensions import ExtensionChain, RequestExtensions
from inference_gateway.requestcontrol.flowcontrol.hook import Held
from inference_gateway.requestcontrol.types import Director, GatewayError, IncomingRequest, Routed

log = logging.getLogger(__name__)


# Upstream caps its Content-Length preallocation at 1 MiB too (#2928): a client may declare
# a large body and never send it, and this memory is taken before a byte has arrived.
_PREALLOCATE_MAX = 1024 * 1024


class Phase(enum.Enum):
    REQUEST_HEADERS = "request_headers"
    REQUEST_BODY = "request_body"
    ROUTED = "routed"
    RESPONSE = "response"
    DONE = "done"
    """Answered with an ImmediateResponse or the response is complete."""


@dataclass(slots=True)
class StreamState:
    phase: Phase = Phase.REQUEST_HEADERS
    headers: dict[str, str] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)
    received: int = 0
    subset: tuple[str, ...] | None = None
    routed: Routed | None = None
    finished: bool = False
    pending: tuple[bytes, bool, bool] | None = None
    """A complete request waiting for ``route_pending`` (async request-control plugins)."""
    ext: RequestExtensions | None = None
    held: Held | None = None
    """Flow control holds the request (issue 16): ``route_pending`` awaits it."""


Responses = list[pb.ProcessingResponse]


class Stream:
    """Turns each ``ProcessingRequest`` of one stream into the answers to send, in order."""

    def __init__(
        self,
        director: Director,
        *,
        max_body_bytes: int,
        extensions: ExtensionChain | None = None,
        inline_small_bodies: bool = True,
    ) -> None:
        self._director = director
        self._max_body = max_body_bytes
        self._inline_limit = msgs.BODY_CHUNK_BYTES if inline_small_bodies else -1
        self._chain = extensions if extensions else None
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
        """Route through the request-control plugins (async: they may call services)."""
        assert self.state.pending is not None
        body, has_body, trailers = self.state.pending
        self.state.pending = None
        held, self.state.held = self.state.held, None
        try:
            request = self._incoming(body)
            if held is not None:  # flow control (issue 16)
                return self._forward(request, await held.wait(), has_body, trailers)
            assert self._chain is not None
            ext = self.state.ext = self._chain.for_request(request)
            if ext is not None:
                await ext.before_route()
            try:
                out = self._route(request, has_body=has_body, trailers=trailers)
            except Held as waiting:  # flow control (issue 16)
                out = self._forward(request, await waiting.wait(), has_body, trailers)
            routed = self.state.routed
            if ext is None or routed is None:
                return out
            answer = await ext.after_route(routed)
            if answer is None:
                return out
            self._finish(None)
            return [msgs.answer(answer.status, answer.headers, answer.body)]
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
        self._finish(error)
        self.span.end()

    async def serve(
        self,
        requests: AsyncIterable[pb.ProcessingRequest],
        send: Callable[[pb.ProcessingResponse], Awaitable[object]],
    ) -> None:
        """Drive the whole stream from a library's message source (grpclib, grpcio).

        Returns once ``done`` (the library then ends the call cleanly) or when the peer
        half-closes; ``close`` runs in every case, with why the stream ended.
        """
        error = "stream_closed"
        try:
            async for request in requests:
                responses = self.on_message(request)
                if self.routing_pending:
                    responses = await self.route_pending()
                for response in responses:
                    await send(response)
                if self.done:
                    return
            error = "incomplete"
        except asyncio.CancelledError:
            error = "cancelled"
            raise
        finally:
            self.close(error=error)

    # --- request path ------------------------------------------------------------------
    def _request_headers(self, request: pb.ProcessingRequest) -> Responses:
        msg = request.request_headers
        self.state.headers = headers = read_headers(msg.headers)
        self.span = tracing.start_request(headers)
        self.state.subset = subset_hint(request)
        if msg.end_of_stream:
            return self._complete(b"", has_body=False, trailers=False)
        self._preallocate(headers.get("content-length"))
        self.state.phase = Phase.REQUEST_BODY
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

    def _incoming(self, body: bytes) -> IncomingRequest:
        state = self.state
        return IncomingRequest(headers=state.headers, body=body, subset_hint=state.subset)

    def _complete(self, body: bytes, *, has_body: bool, trailers: bool) -> Responses:
        """The request is whole: route it now, or leave it for ``route_pending``."""
        if self._chain is not None:
            self.state.pending = (body, has_body, trailers)
            self.state.phase = Phase.ROUTED
            return []
        try:
            return self._route(self._incoming(body), has_body=has_body, trailers=trailers)
        except Held as held:  # flow control (issue 16): wait in ``route_pending``
            self.state.held = held
            self.state.pending = (body, has_body, trailers)
            self.state.phase = Phase.ROUTED
            return []

    def _route(self, request: IncomingRequest, *, has_body: bool, trailers: bool) -> Responses:
        return self._forward(request, self._director.route(request), has_body, trailers)

    def _forward(
        self, request: IncomingRequest, routed: Routed, has_body: bool, trailers: bool
    ) -> Responses:
        state = self.state
        body = request.body
        tracing.record_route(self.span, routed)
        state.routed = routed
        state.phase = Phase.ROUTED
        forwarded = body if routed.body is None else routed.body
        extra: dict[str, str] = {}
        if "x-request-id" not in state.headers and routed.request_id:
            extra["x-request-id"] = routed.request_id
        length = len(forwarded) if has_body else None
        endpoints = ",".join(routed.endpoints)
        if has_body and not trailers and len(forwarded) <= self._inline_limit:
            return [
                msgs.route_headers(endpoints, content_length=length, extra=extra, body=forwarded)
            ]
        out = [msgs.route_headers(endpoints, content_length=length, extra=extra)]
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
        if routed is None:
            return [msgs.EMPTY_RESPONSE_HEADERS]
        msg = request.response_headers
        headers = read_headers(msg.headers)
        status = int(headers.get(":status", "0") or 0)
        self.span.set("http.response.status_code", status)
        added = self._director.response_started(routed, status, headers, served_endpoint(request))
        ext = self.state.ext
        if ext is not None:
            added = {**added, **ext.response_header(status, headers)}
        self.state.phase = Phase.RESPONSE
        needed = routed.needs_response_body or (ext is not None and ext.needs_response_body)
        if msg.end_of_stream or not needed:
            self._finish(None)
        return [msgs.response_headers(added)]

    def _response_body(self, msg: pb.HttpBody) -> Responses:
        routed = self.state.routed
        eos = msg.end_of_stream
        if routed is None or self.state.finished:
            return [msgs.EMPTY_RESPONSE_BODY]
        chunk = msg.body
        out = self._director.response_chunk(routed, chunk, eos)
        if self.state.ext is not None:
            self.state.ext.response_body(out, eos)
        if eos:
            self._finish(None)
        return [msgs.response_body(None if out is chunk or out == chunk else out)]

    def _finish(self, error: str | None) -> None:
        state = self.state
        if state.routed is None or state.finished:
            return
        state.finished = True
        state.phase = Phase.DONE
        try:
            self._director.finish(state.routed, error=error)
        except Exception:
            log.exception("ext_proc: director.finish failed")


def _passthrough(request: pb.ProcessingRequest) -> Responses:
    kind = request.WhichOneof("request")
    if kind == "response_body":
        return [msgs.EMPTY_RESPONSE_BODY]
    if kind == "response_headers":
        return [msgs.EMPTY_RESPONSE_HEADERS]
    if kind == "response_trailers":
        return [msgs.EMPTY_RESPONSE_TRAILERS]
    return [msgs.EMPTY_REQUEST_TRAILERS] if kind == "request_trailers" else []
