"""The two gRPC methods the inline server answers: ext_proc ``Process`` and health ``Check``.

Both run inside the connection's read handling, so a ``Process`` message is answered before
the next one is looked at. Only request-control plugins are asynchronous; while one runs,
later messages of that stream wait in the connection, in order, and are handled when it
returns. A message that is not a valid protobuf ends its call with INTERNAL, as grpc does,
and one log line.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from envoy.service.ext_proc.v3 import external_processor_pb2 as pb
from google.protobuf.message import DecodeError
from grpc_health.v1 import health_pb2

from inference_gateway.aio import spawn
from inference_gateway.extproc._inline.connection import Connection
from inference_gateway.extproc.handler import Responses, Stream

log = logging.getLogger(__name__)

_NOT_FOUND, _INTERNAL = 5, 13


class CallCounter:
    """Open ``Process`` calls, so a graceful stop can wait until there are none."""

    def __init__(self) -> None:
        self.active = 0
        self.idle = asyncio.Event()
        self.idle.set()

    def opened(self) -> None:
        self.active += 1
        self.idle.clear()

    def closed(self) -> None:
        self.active -= 1
        if not self.active:
            self.idle.set()


class ProcessCall:
    """``ExternalProcessor/Process``: one handler ``Stream`` per gRPC stream.

    While an asynchronous plugin routes the request the call is ``busy``: the connection
    keeps later messages of the stream (and their window) until ``resume``.
    """

    __slots__ = ("_conn", "_counter", "_id", "_stream", "_task", "busy")

    def __init__(
        self, conn: Connection, stream_id: int, stream: Stream, counter: CallCounter
    ) -> None:
        self._conn = conn
        self._id = stream_id
        self._stream: Stream | None = stream
        self._counter = counter
        self._task: asyncio.Task[None] | None = None
        self.busy = False
        counter.opened()

    def on_message(self, message: bytes | memoryview) -> None:
        stream = self._stream
        if stream is None:
            return
        try:
            request = pb.ProcessingRequest.FromString(message)
        except DecodeError:
            self._conn.reject(f"stream {self._id}: malformed ProcessingRequest")
            self._close("stream_error")
            self._conn.finish(self._id, _INTERNAL, "malformed message")
            return
        responses = stream.on_message(request)
        if stream.routing_pending:
            self.busy = True
            self._task = spawn(
                self._route(stream), name=f"ext_proc-route-{self._id}", forever=False
            )
            return
        self._send(stream, responses)

    def on_end(self) -> None:
        self._close("incomplete")
        self._conn.finish(self._id)

    def on_cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self._close("cancelled")

    def _send(self, stream: Stream, responses: Responses) -> None:
        conn, stream_id = self._conn, self._id
        for response in responses:
            conn.send_message(stream_id, response.SerializeToString())
        if stream.done:
            self._close("stream_closed")
            conn.finish(stream_id)

    async def _route(self, stream: Stream) -> None:
        try:
            responses = await stream.route_pending()
        except asyncio.CancelledError:
            return
        self._task = None
        self.busy = False
        try:
            self._send(stream, responses)
        except Exception:
            log.exception("ext_proc stream %d failed after routing", self._id)
            self._close("stream_error")
            self._conn.finish(self._id, _INTERNAL, "internal error")
        self._conn.resume(self._id)

    def _close(self, error: str) -> None:
        stream, self._stream = self._stream, None
        if stream is None:
            return
        self._counter.closed()
        stream.close(error=error)


class HealthCall:
    """``Health/Check``: answered as soon as its one request message is in."""

    __slots__ = ("_conn", "_id", "_on_check", "_statuses")
    busy = False

    def __init__(
        self,
        conn: Connection,
        stream_id: int,
        statuses: dict[str, int],
        on_check: Callable[[], None],
    ) -> None:
        self._conn = conn
        self._id = stream_id
        self._statuses = statuses
        self._on_check = on_check

    def on_message(self, message: bytes | memoryview) -> None:
        try:
            service = health_pb2.HealthCheckRequest.FromString(message).service
        except DecodeError:
            self._conn.reject(f"stream {self._id}: malformed HealthCheckRequest")
            self._conn.finish(self._id, _INTERNAL, "malformed message")
            return
        self._on_check()
        status = self._statuses.get(service)
        if status is None:
            self._conn.finish(self._id, _NOT_FOUND, "unknown service")
            return
        answer = health_pb2.HealthCheckResponse(status=status).SerializeToString()
        self._conn.send_message(self._id, answer)
        self._conn.finish(self._id)

    def on_end(self) -> None:
        self._conn.finish(self._id, _NOT_FOUND, "no request message")

    def on_cancel(self) -> None:
        pass
