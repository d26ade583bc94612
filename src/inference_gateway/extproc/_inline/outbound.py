"""What the inline server sends: frames waiting for the next write, under the peer's windows.

Answers are small and Envoy's windows large, so nearly every message leaves at once (the
fast path in ``data``). A rewritten multi-megabyte prompt can outgrow Envoy's stream window
(4 MiB in our bootstrap); its frames, and the trailers after them, then wait per stream in
order until WINDOW_UPDATE or SETTINGS make room.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from inference_gateway.extproc._inline import frames as f


@dataclass(slots=True)
class SendState:
    """One stream's side of sending."""

    window: int
    headers_sent: bool = False
    queued: deque[tuple[int, bytes]] | None = None
    """(frame type, payload) waiting for window, in order; HEADERS means trailers."""
    ended: bool = False
    """Trailers are queued: the call is over, though the stream waits for window."""


class Outbound:
    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.window = f.DEFAULT_WINDOW
        """The connection's send window."""
        self.initial_window = f.DEFAULT_WINDOW
        """The peer's SETTINGS_INITIAL_WINDOW_SIZE: a new stream's send window."""
        self.max_frame = f.DEFAULT_MAX_FRAME
        self._blocked: dict[int, SendState] = {}
        """Streams with frames waiting for window, oldest first."""
        self._table_zeroed = False

    def take(self) -> bytes:
        out, self.frames = self.frames, []
        return b"".join(out)

    def new_stream(self) -> SendState:
        return SendState(window=self.initial_window)

    def headers(self, flags: int, stream_id: int, block: bytes) -> None:
        """A HEADERS frame; the connection's first block also sets our HPACK table to 0.

        A peer that lowers SETTINGS_HEADER_TABLE_SIZE below 4,096 must then see a table
        size update in our next block (RFC 7541 section 4.2; nghttp2, so Envoy, fails the
        connection with COMPRESSION_ERROR otherwise). Our blocks never use the table, so
        one update to 0 up front satisfies any later setting too.
        """
        if not self._table_zeroed:
            self._table_zeroed = True
            block = f.TABLE_SIZE_ZERO + block
        self.frames.append(f.frame(f.HEADERS, flags, stream_id, block))

    def message(self, stream_id: int, state: SendState, message: bytes) -> None:
        """One gRPC message, after the response headers if they have not gone yet."""
        if not state.headers_sent:
            state.headers_sent = True
            self.headers(f.END_HEADERS, stream_id, f.RESPONSE_HEADERS)
        payload = f.MESSAGE_PREFIX.pack(0, len(message)) + message
        size = len(payload)
        if (
            state.queued is None
            and size <= self.window
            and size <= state.window
            and size <= self.max_frame
        ):
            self.window -= size
            state.window -= size
            self.frames.append(f.frame_header(f.DATA, 0, stream_id, size))
            self.frames.append(payload)
            return
        if state.queued is None:
            state.queued = deque()
        state.queued.append((f.DATA, payload))
        self._blocked[stream_id] = state

    def trailers(self, stream_id: int, state: SendState, block: bytes) -> bool:
        """End the stream with ``block``; False while it waits behind queued data."""
        state.ended = True
        if state.queued is not None:
            state.queued.append((f.HEADERS, block))
            return False
        self.headers(f.END_HEADERS | f.END_STREAM, stream_id, block)
        return True

    def forget(self, stream_id: int, state: SendState) -> None:
        """Drop what a reset or aborted stream still had waiting (its trailers too)."""
        state.queued = None
        state.ended = False
        self._blocked.pop(stream_id, None)

    def forget_all(self) -> None:
        self._blocked.clear()

    def peer_initial_window(self, value: int, streams: list[SendState]) -> None:
        delta = value - self.initial_window
        self.initial_window = value
        for state in streams:
            state.window += delta

    def drain(self, ended: Callable[[int], None]) -> None:
        """Send what the windows now allow; ``ended(stream_id)`` once a stream's trailers go."""
        for stream_id, state in list(self._blocked.items()):
            queue = state.queued
            while queue:
                kind, payload = queue[0]
                if kind == f.HEADERS:
                    queue.popleft()
                    self.headers(f.END_HEADERS | f.END_STREAM, stream_id, payload)
                    ended(stream_id)
                    break
                room = min(self.window, state.window, self.max_frame)
                if room <= 0:
                    break
                part = payload[:room]
                self.window -= len(part)
                state.window -= len(part)
                self.frames.append(f.frame(f.DATA, 0, stream_id, part))
                if len(part) == len(payload):
                    queue.popleft()
                else:
                    queue[0] = (kind, payload[room:])
            if not queue:
                state.queued = None
                del self._blocked[stream_id]
