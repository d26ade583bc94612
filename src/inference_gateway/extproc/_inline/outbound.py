"""What the inline server sends: frames waiting for the next write, under the peer's windows.

Answers are small and Envoy's windows large, so nearly every message leaves at once (the
fast path in ``message``). A rewritten multi-megabyte prompt can outgrow Envoy's stream window
(4 MiB in our bootstrap); its frames, and the trailers after them, then wait per stream in
order until WINDOW_UPDATE or SETTINGS make room.

A peer can hold thousands of streams at a zero window, so the bookkeeping only ever visits
streams that can make progress: ``_ready`` holds blocked streams whose own window is open
(they wait for the connection window, oldest first), ``_stalled`` those whose own window is
shut, and a stream moves from one to the other only on its own WINDOW_UPDATE or on a
SETTINGS_INITIAL_WINDOW_SIZE increase. A stream's window is kept relative to the initial
window (``credit``), so such a change is O(1) for every stream; the stalled ones it opens
come off a heap ordered by credit. Each visit sends a frame or parks a stream, so sending is
amortised O(1) per frame. ``queued_bytes`` is what the connection uses to stop handing the
peer's messages to calls while the peer does not open its windows.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from inference_gateway.extproc._inline import frames as f


@dataclass(slots=True)
class SendState:
    """One stream's side of sending."""

    credit: int
    """The stream's send window minus the peer's current initial window."""
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
        self.queued_bytes = 0
        """DATA bytes waiting for a window, over all streams."""
        self._ready: dict[int, SendState] = {}
        self._stalled: dict[int, SendState] = {}
        self._by_credit: list[tuple[int, int]] = []
        """(credit, stream id) of stalled streams; entries of streams since moved are stale."""
        self._table_zeroed = False

    def take(self) -> bytes:
        out, self.frames = self.frames, []
        return b"".join(out)

    def new_stream(self) -> SendState:
        return SendState(credit=0)

    def stream_window(self, state: SendState) -> int:
        return state.credit + self.initial_window

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
            and size <= state.credit + self.initial_window
            and size <= self.max_frame
        ):
            self.window -= size
            state.credit -= size
            self.frames.append(f.frame_header(f.DATA, 0, stream_id, size))
            self.frames.append(payload)
            return
        self.queued_bytes += size
        if state.queued is None:
            state.queued = deque()
            self._ready[stream_id] = state  # drain parks it if its own window is shut
        state.queued.append((f.DATA, payload))

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
        if state.queued is not None:
            self.queued_bytes -= sum(len(p) for k, p in state.queued if k == f.DATA)
        state.queued = None
        state.ended = False
        self._ready.pop(stream_id, None)
        self._stalled.pop(stream_id, None)

    def forget_all(self) -> None:
        self._ready.clear()
        self._stalled.clear()
        self._by_credit.clear()
        self.queued_bytes = 0

    def stream_window_update(self, stream_id: int, state: SendState, increment: int) -> None:
        state.credit += increment
        if stream_id in self._stalled and state.credit + self.initial_window > 0:
            del self._stalled[stream_id]
            self._ready[stream_id] = state
        elif stream_id in self._stalled:
            self._park(stream_id, state)

    def peer_initial_window(self, value: int) -> None:
        """A new SETTINGS_INITIAL_WINDOW_SIZE: every stream's window moves by the change."""
        self.initial_window = value
        heap = self._by_credit
        while heap and heap[0][0] + value > 0:
            credit, stream_id = heapq.heappop(heap)
            state = self._stalled.get(stream_id)
            if state is not None and state.credit == credit:
                del self._stalled[stream_id]
                self._ready[stream_id] = state

    def drain(self, ended: Callable[[int], None]) -> None:
        """Send what the windows allow; ``ended(stream_id)`` once a stream's trailers go."""
        ready = self._ready
        while ready:
            stream_id, state = next(iter(ready.items()))
            queue = state.queued
            assert queue is not None
            while queue:
                kind, payload = queue[0]
                if kind == f.HEADERS:
                    queue.popleft()
                    self.headers(f.END_HEADERS | f.END_STREAM, stream_id, payload)
                    ended(stream_id)
                    break
                room = min(self.window, state.credit + self.initial_window, self.max_frame)
                if room <= 0:
                    break
                part = payload[:room]
                self.window -= len(part)
                state.credit -= len(part)
                self.queued_bytes -= len(part)
                self.frames.append(f.frame(f.DATA, 0, stream_id, part))
                if len(part) == len(payload):
                    queue.popleft()
                else:
                    queue[0] = (kind, payload[room:])
            if not queue:
                state.queued = None
                del ready[stream_id]
            elif state.credit + self.initial_window <= 0:
                del ready[stream_id]
                self._stalled[stream_id] = state
                self._park(stream_id, state)
            else:
                return  # the connection window is spent; this stream goes first next time

    def _park(self, stream_id: int, state: SendState) -> None:
        heap = self._by_credit
        if len(heap) > 2 * len(self._stalled) + 64:  # drop stale entries now and then
            heap[:] = [(s.credit, i) for i, s in self._stalled.items()]
            heapq.heapify(heap)
            if stream_id in self._stalled:
                return
        heapq.heappush(heap, (state.credit, stream_id))
