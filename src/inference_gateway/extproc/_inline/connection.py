"""One HTTP/2 connection of the inline gRPC server: an ``asyncio.Protocol``, no tasks.

Frames are parsed in ``data_received`` and each complete gRPC message goes straight to its
call, which answers synchronously; everything written while handling one read leaves in one
``transport.write``. That is where this server's saving lies: grpclib and grpcio pass each
message through queues, futures and tasks, and ext_proc sends five to seven small messages
per HTTP request.

The server side of RFC 9113 that a gRPC peer such as Envoy exercises is implemented:
SETTINGS, PING, GOAWAY, RST_STREAM, padding, priority fields, CONTINUATION, and flow
control both ways (a rewritten 10 MiB prompt is larger than Envoy's stream window). Header
blocks are decoded with ``hpack`` (``hpack_cache``), so the peer's dynamic table is tracked
exactly; push, compression and server-initiated streams are never used. A stream this side
has ended is forgotten at once; frames the peer still sends on it are counted against the
connection window and dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

import hpack

from inference_gateway.extproc._inline import frames as f
from inference_gateway.extproc._inline.hpack_cache import CachingDecoder
from inference_gateway.extproc._inline.outbound import Outbound
from inference_gateway.extproc._inline.streams import (
    NO_CALL,
    STATUS_INTERNAL,
    STATUS_UNIMPLEMENTED,
    Call,
    CallFactory,
    GrpcStream,
    MessageRejected,
)

log = logging.getLogger(__name__)

RECEIVE_WINDOW = 16 * 1024 * 1024
"""Announced per stream and granted to the connection; refilled once half is used."""
MAX_FRAME = 64 * 1024
"""The largest frame the peer may send us (announced; RFC minimum is 16 KiB)."""
_REFILL = RECEIVE_WINDOW // 2
_REFUSED_STREAM = 0x7


class Connection(asyncio.Protocol):
    def __init__(
        self,
        routes: Mapping[bytes, CallFactory],
        on_made: Callable[[Connection], None],
        on_lost: Callable[[Connection], None],
    ) -> None:
        """``on_made`` runs once the connection is up (after a TLS handshake), ``on_lost``
        when it is gone; a connection whose handshake fails sees neither."""
        self._routes = routes
        self._on_made = on_made
        self._on_lost = on_lost
        self._decoder = CachingDecoder()
        self._transport: Any = None
        self._wire: Any = None
        """The transport until the socket is gone, also after ``_fail`` dropped ``_transport``."""
        self._pending = b""
        self._preface_seen = False
        self._streams: dict[int, GrpcStream] = {}
        self._last_stream = 0
        self._out = Outbound()
        self._receive_unacked = 0
        self._continuation: tuple[int, int, bytearray] | None = None
        self._going_away = False
        self.closed = asyncio.Event()

    # --- asyncio.Protocol -------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = self._wire = transport
        self._out.frames.append(
            f.settings(
                {
                    f.SETTINGS_ENABLE_PUSH: 0,
                    f.SETTINGS_INITIAL_WINDOW_SIZE: RECEIVE_WINDOW,
                    f.SETTINGS_MAX_FRAME_SIZE: MAX_FRAME,
                }
            )
        )
        self._out.frames.append(f.window_update(0, RECEIVE_WINDOW - f.DEFAULT_WINDOW))
        self.flush()
        self._on_made(self)

    def data_received(self, data: bytes) -> None:
        view = self._pending + data if self._pending else data
        pos = 0
        if not self._preface_seen:
            if len(view) < len(f.PREFACE):
                if not f.PREFACE.startswith(view):
                    self._fail(f.PROTOCOL_ERROR)
                self._pending = view
                return
            if not view.startswith(f.PREFACE):
                self._fail(f.PROTOCOL_ERROR)
                return
            self._preface_seen = True
            pos = len(f.PREFACE)
        size = len(view)
        mv = memoryview(view)  # over bytes: slices stay valid, nothing to release
        try:
            while size - pos >= 9 and self._transport is not None:
                hi, lo, kind, flags, stream_id = f.HEADER.unpack_from(view, pos)
                length = hi << 8 | lo
                if length > MAX_FRAME:
                    self._fail(f.FRAME_SIZE_ERROR)
                    return
                end = pos + 9 + length
                if end > size:
                    break
                self._frame(kind, flags, stream_id & 0x7FFFFFFF, mv[pos + 9 : end])
                pos = end
        finally:
            self._pending = view[pos:] if pos < size else b""
            self.flush()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._transport = self._wire = None
        streams, self._streams = self._streams, {}
        self._out.forget_all()
        for stream in streams.values():
            self._cancel(stream.call)
        self.closed.set()
        self._on_lost(self)

    # --- what calls use ---------------------------------------------------------------
    def send_message(self, stream_id: int, message: bytes) -> None:
        stream = self._streams.get(stream_id)
        if stream is None or stream.send.ended:
            return
        self._out.message(stream_id, stream.send, message)
        if stream.send.queued is not None:
            self._out.drain(self._ended)

    def finish(self, stream_id: int, status: int = 0, message: str = "") -> None:
        """Send the trailers (or a trailers-only answer) and forget the stream."""
        stream = self._streams.get(stream_id)
        if stream is None or stream.send.ended:
            return
        if stream.send.headers_sent:
            block = f.OK_TRAILERS if status == 0 and not message else f.trailers(status, message)
        else:
            block = f.trailers_only(status, message)
        if self._out.trailers(stream_id, stream.send, block):
            del self._streams[stream_id]

    def flush(self) -> None:
        if self._out.frames and self._transport is not None:
            self._transport.write(self._out.take())

    def close(self) -> None:
        """Say GOAWAY and close; open calls are cancelled when the socket is gone."""
        if self._transport is None:
            return
        self._going_away = True
        self._out.frames.append(f.goaway(self._last_stream, f.NO_ERROR))
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        """Drop the socket now, unsent data and all: ``close`` waits for a peer to read it."""
        if self._wire is not None:
            self._wire.abort()

    @property
    def open_streams(self) -> int:
        return len(self._streams)

    # --- frames -----------------------------------------------------------------------
    def _frame(self, kind: int, flags: int, stream_id: int, payload: memoryview) -> None:
        if self._continuation is not None and kind != f.CONTINUATION:
            self._fail(f.PROTOCOL_ERROR)
        elif kind == f.DATA:
            self._data(flags, stream_id, payload)
        elif kind == f.HEADERS:
            self._headers(flags, stream_id, payload)
        elif kind == f.CONTINUATION:
            self._continued(flags, stream_id, payload)
        elif kind == f.WINDOW_UPDATE:
            self._window_update(stream_id, payload)
        elif kind == f.SETTINGS:
            self._settings(flags, stream_id, payload)
        elif kind == f.PING:
            self._ping(flags, stream_id, payload)
        elif kind == f.RST_STREAM:
            self._reset_by_peer(stream_id, payload)
        elif kind == f.PUSH_PROMISE:
            self._fail(f.PROTOCOL_ERROR)
        elif kind == f.GOAWAY:
            self._going_away = True
        # PRIORITY and unknown frame types are ignored, as RFC 9113 allows.

    def _data(self, flags: int, stream_id: int, payload: memoryview) -> None:
        size = len(payload)
        if stream_id == 0:
            self._fail(f.PROTOCOL_ERROR)
            return
        self._receive_unacked += size
        if self._receive_unacked >= _REFILL:
            self._out.frames.append(f.window_update(0, self._receive_unacked))
            self._receive_unacked = 0
        if flags & f.PADDED:
            if size < 1 or payload[0] >= size:
                self._fail(f.PROTOCOL_ERROR)
                return
            payload = payload[1 : size - payload[0]]
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        stream.receive_unacked += size
        if stream.receive_unacked >= _REFILL:
            self._out.frames.append(f.window_update(stream_id, stream.receive_unacked))
            stream.receive_unacked = 0
        if stream.send.ended:
            return
        if payload:
            self._messages(stream_id, stream, payload)
        if flags & f.END_STREAM and self._streams.get(stream_id) is stream:
            self._guarded(stream_id, stream.call.on_end)

    def _messages(self, stream_id: int, stream: GrpcStream, payload: memoryview) -> None:
        """Hand each complete message to the call, until the call ends."""
        try:
            messages = stream.messages(payload)
        except MessageRejected as e:
            self._abort(stream_id, stream, e.status, "message rejected")
            return
        for message in messages:
            self._guarded(stream_id, stream.call.on_message, message)
            if self._streams.get(stream_id) is not stream:
                return

    def _headers(self, flags: int, stream_id: int, payload: memoryview) -> None:
        if stream_id == 0:
            self._fail(f.PROTOCOL_ERROR)
            return
        start, end = 0, len(payload)
        if flags & f.PADDED:
            if end < 1 or payload[0] >= end:
                self._fail(f.PROTOCOL_ERROR)
                return
            start, end = 1, end - payload[0]
        if flags & f.PRIORITY_FLAG:
            start += 5
        block = bytearray(payload[start:end])
        if flags & f.END_HEADERS:
            self._header_block(flags, stream_id, block)
        else:
            self._continuation = (stream_id, flags, block)

    def _continued(self, flags: int, stream_id: int, payload: memoryview) -> None:
        pending = self._continuation
        if pending is None or pending[0] != stream_id:
            self._fail(f.PROTOCOL_ERROR)
            return
        pending[2].extend(payload)
        if len(pending[2]) > MAX_FRAME * 4:
            self._fail(f.PROTOCOL_ERROR)
        elif flags & f.END_HEADERS:
            self._continuation = None
            self._header_block(pending[1], stream_id, pending[2])

    def _header_block(self, flags: int, stream_id: int, block: bytearray) -> None:
        try:
            headers = self._decoder.decode(bytes(block))
        except hpack.HPACKError:
            self._fail(f.COMPRESSION_ERROR)
            return
        stream = self._streams.get(stream_id)
        if stream is not None:
            if flags & f.END_STREAM and not stream.send.ended:  # trailers
                self._guarded(stream_id, stream.call.on_end)
            return
        if stream_id <= self._last_stream or not stream_id & 1:
            return
        self._last_stream = stream_id
        if self._going_away:
            self._out.frames.append(f.rst_stream(stream_id, _REFUSED_STREAM))
            return
        path = next((bytes(v) for k, v in headers if k == b":path"), b"")
        factory = self._routes.get(path)
        if factory is None:
            block_out = f.trailers_only(STATUS_UNIMPLEMENTED, "method not found")
            self._out.headers(f.END_HEADERS | f.END_STREAM, stream_id, block_out)
            return
        stream = GrpcStream(call=NO_CALL, send=self._out.new_stream())
        self._streams[stream_id] = stream
        stream.call = factory(self, stream_id)
        if flags & f.END_STREAM:
            self._guarded(stream_id, stream.call.on_end)

    def _window_update(self, stream_id: int, payload: memoryview) -> None:
        if len(payload) != 4:
            self._fail(f.FRAME_SIZE_ERROR)
            return
        increment = f.u32(payload) & 0x7FFFFFFF
        if stream_id == 0:
            self._out.window += increment
        else:
            stream = self._streams.get(stream_id)
            if stream is None:
                return
            stream.send.window += increment
        self._out.drain(self._ended)

    def _settings(self, flags: int, stream_id: int, payload: memoryview) -> None:
        if flags & f.ACK:
            return
        if stream_id != 0 or len(payload) % 6:
            self._fail(f.PROTOCOL_ERROR if stream_id else f.FRAME_SIZE_ERROR)
            return
        for key, value in f.parse_settings(payload):
            if key == f.SETTINGS_INITIAL_WINDOW_SIZE:
                if value > f.MAX_WINDOW:
                    self._fail(f.FLOW_CONTROL_ERROR)
                    return
                self._out.peer_initial_window(value, [s.send for s in self._streams.values()])
            elif key == f.SETTINGS_MAX_FRAME_SIZE:
                self._out.max_frame = max(f.DEFAULT_MAX_FRAME, min(value, MAX_FRAME))
        self._out.frames.append(f.frame(f.SETTINGS, f.ACK, 0))
        self._out.drain(self._ended)

    def _ping(self, flags: int, stream_id: int, payload: memoryview) -> None:
        if stream_id != 0 or len(payload) != 8:
            self._fail(f.PROTOCOL_ERROR)
        elif not flags & f.ACK:
            self._out.frames.append(f.frame(f.PING, f.ACK, 0, bytes(payload)))

    def _reset_by_peer(self, stream_id: int, payload: memoryview) -> None:
        stream = self._streams.pop(stream_id, None)
        if stream is not None:
            self._out.forget(stream_id, stream.send)
            self._cancel(stream.call)

    def _ended(self, stream_id: int) -> None:
        """The trailers that waited for window are sent: the stream is over."""
        self._streams.pop(stream_id, None)

    # --- failures ---------------------------------------------------------------------
    def _guarded(self, stream_id: int, fn: Callable[..., None], *args: Any) -> None:
        """Run a call's callback; a bug in one call resets that stream, not the connection."""
        try:
            fn(*args)
        except Exception:
            log.exception("gRPC call on stream %d failed", stream_id)
            stream = self._streams.get(stream_id)
            if stream is not None:
                self._abort(stream_id, stream, STATUS_INTERNAL, "internal error")

    def _abort(self, stream_id: int, stream: GrpcStream, status: int, message: str) -> None:
        self._cancel(stream.call)
        if self._streams.get(stream_id) is stream:
            self._out.forget(stream_id, stream.send)
            self.finish(stream_id, status, message)

    def _cancel(self, call: Call) -> None:
        try:
            call.on_cancel()
        except Exception:
            log.exception("gRPC call cancellation failed")

    def _fail(self, code: int) -> None:
        """A connection error: GOAWAY with ``code``, then close."""
        if self._transport is None:
            return
        log.warning("HTTP/2 connection error %d: closing the connection", code)
        self._going_away = True
        self._out.frames.append(f.goaway(self._last_stream, code))
        self.flush()
        self._transport.close()
        self._transport = None
