"""One HTTP/2 connection of the inline gRPC server: an ``asyncio.Protocol``, no tasks.

Frames are parsed in ``data_received`` and each complete gRPC message goes straight to its
call, which answers synchronously; everything written while handling one read leaves in one
``transport.write``. That is where this server's saving lies: grpcio passes each message
through queues, futures and its C-core thread, and ext_proc sends five to seven small
messages per HTTP request.

The server side of RFC 9113 that a gRPC peer such as Envoy exercises is implemented:
SETTINGS, PING, GOAWAY, RST_STREAM, padding, priority fields, CONTINUATION, and flow
control both ways (a rewritten 10 MiB prompt is larger than Envoy's stream window). Header
blocks are decoded with ``hpack`` (``hpack_cache``), so the peer's dynamic table is tracked
exactly; push, compression and server-initiated streams are never used. A stream this side
has ended is forgotten at once; frames the peer still sends on it are counted against the
connection window and dropped.

Every resource a peer can make the connection hold is bounded (``limits``; the receive side
is in ``receive``, header blocks and new streams in ``headers``): streams, windows, header
blocks, queued answers and acknowledgements, resets per second, and time before the preface
and while idle. Writing is the peer's to pace: once the transport's buffer is over its
high-water mark, reading stops until it drains.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from inference_gateway.extproc._inline import frames as f
from inference_gateway.extproc._inline.headers import HeaderBlocks
from inference_gateway.extproc._inline.limits import Limits, RejectLog
from inference_gateway.extproc._inline.streams import CallFactory

MAX_FRAME = 64 * 1024
"""The largest frame the peer may send us (announced; RFC minimum is 16 KiB)."""
_FRAMES_PER_TURN = 1000
"""Frames handled per turn of the event loop: about 5 ms of the costliest kind (a stream
answered at once), while Envoy's reads hold a handful."""


class Connection(HeaderBlocks, asyncio.Protocol):
    def __init__(
        self,
        routes: Mapping[bytes, CallFactory],
        on_made: Callable[[Connection], bool],
        on_lost: Callable[[Connection], None],
        limits: Limits,
        rejects: RejectLog,
    ) -> None:
        """``on_made`` runs once the connection is up (after a TLS handshake) and says
        whether to serve it; ``on_lost`` when it is gone; a connection whose handshake fails
        sees neither."""
        super().__init__(routes, limits, rejects)
        self._on_made = on_made
        self._on_lost = on_lost
        self._pending = b""
        self._preface_seen = False
        self._settings_seen = False
        self._acks = 0
        """SETTINGS/PING acknowledgements written since the write buffer was last empty."""
        self._write_paused = False
        self._deferred = False
        """Frames wait in ``_pending`` for the loop's next turn (reading is paused)."""
        self._timer: asyncio.TimerHandle | None = None
        self._idle_ticks = 0
        self._idle_mark = -1
        self._preface_deadline = 0.0
        self.closed = asyncio.Event()

    # --- asyncio.Protocol -------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = self._wire = transport
        if not self._on_made(self):
            self.reject("not accepting connections (at the connection limit, or stopping)")
            self._wire.abort()
            return
        lim = self._limits
        self._out.frames.append(
            f.settings(
                {
                    f.SETTINGS_ENABLE_PUSH: 0,
                    f.SETTINGS_MAX_CONCURRENT_STREAMS: lim.max_concurrent_streams,
                    f.SETTINGS_INITIAL_WINDOW_SIZE: lim.receive_window,
                    f.SETTINGS_MAX_FRAME_SIZE: MAX_FRAME,
                    f.SETTINGS_MAX_HEADER_LIST_SIZE: lim.max_header_block,
                }
            )
        )
        self._out.frames.append(f.window_update(0, lim.receive_window - f.DEFAULT_WINDOW))
        self.flush()
        loop = asyncio.get_running_loop()
        self._preface_deadline = loop.time() + lim.preface_timeout
        self._timer = loop.call_later(min(lim.preface_timeout, lim.idle_timeout / 2), self._tick)

    def data_received(self, data: bytes) -> None:
        if self._transport is None:
            return  # failed: the peer's last bytes are read and dropped
        self._pending = self._pending + data if self._pending else data
        if not self._deferred:
            self._process()

    def _process(self) -> None:
        """Handle the frames in ``_pending``, up to ``_FRAMES_PER_TURN`` of them: past that,
        reading pauses and the rest waits for the loop's next turn, so a read full of tiny
        frames (26,000 in 256 KiB) never holds the loop for long."""
        view = self._pending
        pos = 0
        if not self._preface_seen:
            if len(view) < len(f.PREFACE):
                if not f.PREFACE.startswith(view):
                    self.fail(f.PROTOCOL_ERROR, "not an HTTP/2 client preface")
                self._pending = view
                return
            if not view.startswith(f.PREFACE):
                self.fail(f.PROTOCOL_ERROR, "not an HTTP/2 client preface")
                return
            self._preface_seen = True
            pos = len(f.PREFACE)
        size = len(view)
        mv = memoryview(view)  # over bytes: slices stay valid, nothing to release
        budget = _FRAMES_PER_TURN
        try:
            while size - pos >= 9 and self._transport is not None:
                if not budget:
                    self._defer()
                    break
                budget -= 1
                hi, lo, kind, flags, stream_id = f.HEADER.unpack_from(view, pos)
                length = hi << 8 | lo
                if length > MAX_FRAME:
                    self.fail(f.FRAME_SIZE_ERROR, f"frame of {length} bytes")
                    return
                end = pos + 9 + length
                if end > size:
                    break
                self._frame(kind, flags, stream_id & 0x7FFFFFFF, mv[pos + 9 : end])
                pos = end
        finally:
            self._pending = view[pos:] if pos < size else b""
            self.flush()

    def _defer(self) -> None:
        self._deferred = True
        self._transport.pause_reading()
        asyncio.get_running_loop().call_soon(self._continue)

    def _continue(self) -> None:
        self._deferred = False
        if self._transport is None:
            return
        self._process()
        if not self._deferred and not self._write_paused and self._transport is not None:
            self._transport.resume_reading()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._transport = self._wire = None
        streams, self._streams = self._streams, {}
        self._out.forget_all()
        for stream in streams.values():
            self._cancel(stream.call)
        self.closed.set()
        self._on_lost(self)

    def pause_writing(self) -> None:
        self._write_paused = True
        if self._transport is not None:
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._transport is not None and not self._deferred:
            self._transport.resume_reading()

    # --- what calls and the backend use -------------------------------------------------
    def flush(self) -> None:
        if self._out.frames and self._transport is not None:
            self._transport.write(self._out.take())
            if not self._transport.get_write_buffer_size():
                self._acks = 0

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

    # --- frames -----------------------------------------------------------------------
    def _frame(self, kind: int, flags: int, stream_id: int, payload: memoryview) -> None:
        if self._continuation is not None and kind != f.CONTINUATION:
            self.fail(f.PROTOCOL_ERROR, "header block interrupted")
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
            self.fail(f.PROTOCOL_ERROR, "PUSH_PROMISE from a client")
        elif kind == f.GOAWAY:
            self._going_away = True
        # PRIORITY and unknown frame types are ignored, as RFC 9113 allows.

    def _window_update(self, stream_id: int, payload: memoryview) -> None:
        if len(payload) != 4:
            self.fail(f.FRAME_SIZE_ERROR, "WINDOW_UPDATE size")
            return
        increment = f.u32(payload) & 0x7FFFFFFF
        out = self._out
        if stream_id == 0:
            if increment == 0 or out.window + increment > f.MAX_WINDOW:
                code = f.PROTOCOL_ERROR if increment == 0 else f.FLOW_CONTROL_ERROR
                self.fail(code, f"connection WINDOW_UPDATE of {increment}")
                return
            out.window += increment
        else:
            stream = self._streams.get(stream_id)
            if stream is None:
                return
            if increment == 0 or out.stream_window(stream.send) + increment > f.MAX_WINDOW:
                code = f.PROTOCOL_ERROR if increment == 0 else f.FLOW_CONTROL_ERROR
                self.reset_stream(stream, code, f"WINDOW_UPDATE of {increment}")
                return
            out.stream_window_update(stream_id, stream.send, increment)
        out.drain(self._ended)
        self._unthrottle()

    def _settings(self, flags: int, stream_id: int, payload: memoryview) -> None:
        if flags & f.ACK:
            return
        if stream_id != 0 or len(payload) % 6:
            code = f.PROTOCOL_ERROR if stream_id else f.FRAME_SIZE_ERROR
            self.fail(code, "malformed SETTINGS")
            return
        if len(payload) > 6 * self._limits.max_settings:
            self.fail(f.ENHANCE_YOUR_CALM, f"{len(payload) // 6} settings in one frame")
            return
        for key, value in f.parse_settings(payload):
            if key == f.SETTINGS_INITIAL_WINDOW_SIZE:
                if value > f.MAX_WINDOW:
                    self.fail(f.FLOW_CONTROL_ERROR, "SETTINGS_INITIAL_WINDOW_SIZE too large")
                    return
                self._out.peer_initial_window(value)
            elif key == f.SETTINGS_MAX_FRAME_SIZE:
                self._out.max_frame = max(f.DEFAULT_MAX_FRAME, min(value, MAX_FRAME))
        self._settings_seen = True
        self._ack(f.frame(f.SETTINGS, f.ACK, 0))
        self._out.drain(self._ended)
        self._unthrottle()

    def _ping(self, flags: int, stream_id: int, payload: memoryview) -> None:
        if stream_id != 0 or len(payload) != 8:
            self.fail(f.PROTOCOL_ERROR, "malformed PING")
        elif not flags & f.ACK:
            self._ack(f.frame(f.PING, f.ACK, 0, bytes(payload)))

    def _ack(self, frame: bytes) -> None:
        """Queue an acknowledgement; a peer that makes us pile up too many is flooding."""
        self._acks += 1
        if self._acks > self._limits.max_queued_acks:
            self.fail(f.ENHANCE_YOUR_CALM, "SETTINGS/PING flood from a peer that does not read")
            return
        self._out.frames.append(frame)

    def _reset_by_peer(self, stream_id: int, payload: memoryview) -> None:
        if len(payload) != 4 or stream_id == 0:
            self.fail(f.PROTOCOL_ERROR, "malformed RST_STREAM")
            return
        if stream_id > self._last_stream:
            self.fail(f.PROTOCOL_ERROR, f"RST_STREAM on idle stream {stream_id}")
            return
        stream = self._streams.pop(stream_id, None)
        # Only an open stream reset before it carried any DATA counts as rapid reset: Envoy
        # resets every ext_proc stream it is done with, thousands a second, but after its
        # messages, and often after we ended (and forgot) the stream.
        if stream is not None and not stream.got_data and not self._resets.take():
            self.fail(f.ENHANCE_YOUR_CALM, "too many streams reset before any message")
            return
        if stream is not None:
            self.release(stream)
            self._out.forget(stream_id, stream.send)
            self._cancel(stream.call)
            self._unthrottle()

    # --- timers -----------------------------------------------------------------------
    def _tick(self) -> None:
        """Every half idle timeout (sooner for the preface deadline): a connection without
        the preface and SETTINGS by its deadline fails, and one that had no open stream and
        opened none over two ticks in a row (one to one and a half idle timeouts) is closed
        with GOAWAY."""
        self._timer = None
        if self._transport is None:
            return
        loop = asyncio.get_running_loop()
        step = self._limits.idle_timeout / 2
        if not self._settings_seen:
            left = self._preface_deadline - loop.time()
            if left <= 0:
                self.fail(f.PROTOCOL_ERROR, "no client preface and SETTINGS in time")
            else:
                self._timer = loop.call_later(min(left, step), self._tick)
            return
        if self._streams or self._idle_mark != self._last_stream:
            self._idle_ticks, self._idle_mark = 0, self._last_stream
        else:
            self._idle_ticks += 1
            if self._idle_ticks >= 2:
                self.close()
                return
        self._timer = loop.call_later(step, self._tick)
