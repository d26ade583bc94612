"""The stream side of an inline connection: receive windows, message delivery, call endings.

A peer's DATA is counted against the stream's and the connection's receive windows (a frame
past either is a stream or connection FLOW_CONTROL_ERROR, RFC 9113 section 6.9.1), and the
windows are given back only for bytes that left us: handed to a call as a whole message,
padding, or dropped with a stream. Bytes kept in a stream's inbox (a partial message, or
messages held back) stay counted, so a peer can make one connection hold at most its
receive window.

Messages are held back while the call is ``busy`` (an asynchronous plugin runs) and while
the connection is throttled: answers waiting for the peer's windows passed
``Limits.max_queued_bytes``. A peer that stops reading its answers therefore soon stops
getting window to send more, as with grpc-go, whose handlers block on a full stream.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from inference_gateway.extproc._inline import frames as f
from inference_gateway.extproc._inline.limits import Limits, RejectLog
from inference_gateway.extproc._inline.outbound import Outbound
from inference_gateway.extproc._inline.streams import (
    STATUS_INTERNAL,
    Call,
    GrpcStream,
    MessageRejected,
)

log = logging.getLogger(__name__)

_ABORT_AFTER = 1.0
"""Seconds a failed connection's last frames get to leave before the socket is dropped."""


class Receiver:
    def __init__(self, limits: Limits, rejects: RejectLog) -> None:
        self._limits = limits
        self._rejects = rejects
        self._transport: Any = None
        self._wire: Any = None
        """The transport until the socket is gone, also after ``fail`` dropped ``_transport``."""
        self._streams: dict[int, GrpcStream] = {}
        self._waiting: dict[int, GrpcStream] = {}
        """Streams with whole messages held back, in the order they were held."""
        self._last_stream = 0
        self._out = Outbound()
        self._window = limits.receive_window
        self._unacked = 0
        self._refill = limits.receive_window // 2
        self._throttled = False
        self._going_away = False

    @property
    def open_streams(self) -> int:
        return len(self._streams)

    @property
    def ever_used(self) -> bool:
        """Whether the peer ever opened a stream."""
        return self._last_stream > 0

    # --- what calls use ---------------------------------------------------------------
    def send_message(self, stream_id: int, message: bytes) -> None:
        stream = self._streams.get(stream_id)
        if stream is None or stream.send.ended:
            return
        out = self._out
        out.message(stream_id, stream.send, message)
        if stream.send.queued is not None:
            out.drain(self._ended)
            if out.queued_bytes > self._limits.max_queued_bytes:
                self._throttled = True

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
            self.release(stream)

    def resume(self, stream_id: int) -> None:
        """A call that was ``busy`` takes messages again: hand it what waited."""
        stream = self._streams.get(stream_id)
        if stream is not None:
            self._deliver(stream)
        self.flush()

    def flush(self) -> None:  # the connection's
        raise NotImplementedError

    # --- receiving --------------------------------------------------------------------
    def _data(self, flags: int, stream_id: int, payload: memoryview) -> None:
        size = len(payload)
        if stream_id == 0:
            self.fail(f.PROTOCOL_ERROR, "DATA on stream 0")
            return
        if size > self._window:
            self.fail(f.FLOW_CONTROL_ERROR, "DATA beyond the connection window")
            return
        self._window -= size
        stream = self._streams.get(stream_id)
        if stream is None or stream.send.ended:
            if stream_id > self._last_stream:
                self.fail(f.PROTOCOL_ERROR, f"DATA on idle stream {stream_id}")
                return
            self._consumed(None, size)  # a stream we ended: counted, dropped
            return
        if size > stream.window:
            self._consumed(None, size)
            self.reset_stream(stream, f.FLOW_CONTROL_ERROR, "DATA beyond the stream window")
            return
        stream.window -= size
        stream.got_data = True
        if stream.end_received:
            self._consumed(None, size)
            self.reset_stream(stream, f.STREAM_CLOSED, "DATA after END_STREAM")
            return
        if flags & f.PADDED:
            if size < 1 or payload[0] >= size:
                self.fail(f.PROTOCOL_ERROR, "bad padding")
                return
            payload = payload[1 : size - payload[0]]
        kept = self._receive(stream, payload) if payload else 0
        self._consumed(stream, size - kept)
        if flags & f.END_STREAM and self._streams.get(stream_id) is stream:
            self._end_received(stream)

    def _receive(self, stream: GrpcStream, payload: memoryview) -> int:
        """Hand the call each whole message while it takes them; the bytes kept in the inbox."""
        if stream.inbox or stream.call.busy or self._throttled:
            stream.inbox += payload
            self._deliver(stream)  # gives back what leaves the inbox
            return len(payload)
        call, sid, limit = stream.call, stream.id, self._limits.max_message
        pos, size = 0, len(payload)
        while size - pos >= 5:
            compressed, length = f.MESSAGE_PREFIX.unpack_from(payload, pos)
            if compressed or length > limit:
                self._reject_message(stream, MessageRejected.of(compressed, length))
                return 0
            end = pos + 5 + length
            if end > size:
                break
            self._guarded(stream, call.on_message, payload[pos + 5 : end])
            pos = end
            if self._streams.get(sid) is not stream:
                return 0
            if call.busy or self._throttled:
                break
        if pos < size:
            stream.inbox += payload[pos:]
            if stream.inbox_has_message():
                self._waiting[sid] = stream
        return size - pos

    def _deliver(self, stream: GrpcStream) -> None:
        """Hand over messages from the inbox while the call and the connection allow."""
        call, sid = stream.call, stream.id
        while not call.busy and not self._throttled:
            try:
                message = stream.next_message(self._limits.max_message)
            except MessageRejected as e:
                self._reject_message(stream, e)
                return
            if message is None:
                break
            self._consumed(stream, 5 + len(message))
            self._guarded(stream, call.on_message, message)
            if self._streams.get(sid) is not stream:
                return
        if stream.inbox_has_message():
            self._waiting[sid] = stream
        else:
            self._waiting.pop(sid, None)
            if stream.end_received and not call.busy:
                self._settle_end(stream)

    def _end_received(self, stream: GrpcStream) -> None:
        stream.end_received = True
        if not stream.call.busy and not stream.inbox_has_message():
            self._settle_end(stream)

    def _settle_end(self, stream: GrpcStream) -> None:
        """All messages are in and taken: the call ends, or fails if one is cut short."""
        if stream.end_told:
            return
        stream.end_told = True
        if stream.inbox:
            self._reject_message(stream, MessageRejected(STATUS_INTERNAL, "truncated message"))
        else:
            self._guarded(stream, stream.call.on_end)

    def _consumed(self, stream: GrpcStream | None, size: int) -> None:
        """``size`` bytes left us: give them back to the peer, once half a window is due."""
        if size <= 0:
            return
        self._unacked += size
        if self._unacked >= self._refill:
            self._out.frames.append(f.window_update(0, self._unacked))
            self._window += self._unacked
            self._unacked = 0
        if stream is not None and not stream.end_received:
            stream.unacked += size
            if stream.unacked >= self._refill:
                self._out.frames.append(f.window_update(stream.id, stream.unacked))
                stream.window += stream.unacked
                stream.unacked = 0

    def _unthrottle(self) -> None:
        """After the peer opened windows or a blocked stream went: resume held streams once
        half the queue is gone."""
        if not self._throttled or self._out.queued_bytes > self._limits.max_queued_bytes // 2:
            return
        self._throttled = False
        for stream in list(self._waiting.values()):
            if self._throttled:
                break
            if self._streams.get(stream.id) is stream:
                self._deliver(stream)

    # --- endings ----------------------------------------------------------------------
    def release(self, stream: GrpcStream) -> None:
        """The stream is gone: what its inbox held goes back to the connection window."""
        self._waiting.pop(stream.id, None)
        held = len(stream.inbox)
        stream.inbox = bytearray()
        self._consumed(None, held)

    def _ended(self, stream_id: int) -> None:
        """The trailers that waited for window are sent: the stream is over."""
        stream = self._streams.pop(stream_id, None)
        if stream is not None:
            self.release(stream)

    def reset_stream(self, stream: GrpcStream, code: int, reason: str) -> None:
        """A stream error: RST_STREAM with ``code``; the call is cancelled."""
        self.reject(f"stream {stream.id}: {reason}")
        self._out.frames.append(f.rst_stream(stream.id, code))
        if self._streams.pop(stream.id, None) is stream:
            self.release(stream)
            self._out.forget(stream.id, stream.send)
            self._cancel(stream.call)
            self._unthrottle()

    def _reject_message(self, stream: GrpcStream, e: MessageRejected) -> None:
        self.reject(f"stream {stream.id}: {e.reason}")
        self._abort(stream, e.status, e.reason)

    def _guarded(self, stream: GrpcStream, fn: Any, *args: Any) -> None:
        """Run a call's callback; a failure ends that stream, not the connection."""
        try:
            fn(*args)
        except Exception as e:
            log.debug("gRPC call on stream %d failed", stream.id, exc_info=True)
            self.reject(f"stream {stream.id}: call failed ({type(e).__name__}: {e})")
            if self._streams.get(stream.id) is stream:
                self._abort(stream, STATUS_INTERNAL, "internal error")

    def _abort(self, stream: GrpcStream, status: int, message: str) -> None:
        self._cancel(stream.call)
        if self._streams.get(stream.id) is stream:
            self._out.forget(stream.id, stream.send)
            self.release(stream)
            self.finish(stream.id, status, message)

    def _cancel(self, call: Call) -> None:
        try:
            call.on_cancel()
        except Exception:
            log.exception("gRPC call cancellation failed")

    def reject(self, reason: str) -> None:
        peer = self._wire.get_extra_info("peername") if self._wire is not None else None
        self._rejects.reject(peer, reason)

    def fail(self, code: int, reason: str) -> None:
        """A connection error: GOAWAY with ``code``, then close.

        Closing a socket with the peer's bytes still unread makes the kernel answer with a
        TCP reset, which can destroy the GOAWAY before the peer reads it; so this side only
        shuts its writing, reads and drops whatever still comes, and drops the socket when the
        peer closes or after a second, whichever is first.
        """
        transport = self._transport
        if transport is None:
            return
        self.reject(f"{reason} (GOAWAY {code})")
        self._going_away = True
        self._out.frames.append(f.goaway(self._last_stream, code))
        self.flush()
        self._transport = None
        if transport.can_write_eof():
            transport.write_eof()
            transport.resume_reading()
        else:
            transport.close()
        asyncio.get_running_loop().call_later(_ABORT_AFTER, transport.abort)
