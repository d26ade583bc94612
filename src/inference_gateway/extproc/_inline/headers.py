"""Header blocks and new streams on an inline connection (RFC 9113 sections 4.3, 5.1, 6.2, 6.10).

A header block is HEADERS plus up to ``Limits.max_continuations`` CONTINUATION frames and at
most ``Limits.max_header_block`` bytes, decoded only once whole. A block on a stream this side
does not know opens a stream if its id is new, odd and under the concurrent-stream limit; on
an id already used it is a protocol error, unless it carries END_STREAM (trailers of a stream
we have ended and forgotten). A stream refused for the limit counts against the reset budget,
as a stream reset before any DATA does: a peer cycling through streams is one pattern.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, cast

import hpack

from inference_gateway.extproc._inline import frames as f
from inference_gateway.extproc._inline.hpack_cache import CachingDecoder
from inference_gateway.extproc._inline.limits import Limits, RejectLog, TokenBucket
from inference_gateway.extproc._inline.receive import Receiver
from inference_gateway.extproc._inline.streams import (
    NO_CALL,
    STATUS_UNIMPLEMENTED,
    CallFactory,
    GrpcStream,
)

if TYPE_CHECKING:
    from inference_gateway.extproc._inline.connection import Connection


class HeaderBlocks(Receiver):
    def __init__(
        self, routes: Mapping[bytes, CallFactory], limits: Limits, rejects: RejectLog
    ) -> None:
        super().__init__(limits, rejects)
        self._routes = routes
        self._decoder = CachingDecoder(limits.max_table_updates, limits.max_header_block)
        self._resets = TokenBucket(limits.reset_burst, limits.reset_rate)
        self._continuation: tuple[int, int, bytearray, int] | None = None

    def _headers(self, flags: int, stream_id: int, payload: memoryview) -> None:
        if stream_id == 0:
            self.fail(f.PROTOCOL_ERROR, "HEADERS on stream 0")
            return
        start, end = 0, len(payload)
        if flags & f.PADDED:
            if end < 1 or payload[0] >= end:
                self.fail(f.PROTOCOL_ERROR, "bad padding")
                return
            start, end = 1, end - payload[0]
        if flags & f.PRIORITY_FLAG:
            start += 5
        block = bytearray(payload[start:end])
        if flags & f.END_HEADERS:
            self._header_block(flags, stream_id, block)
        else:
            self._continuation = (stream_id, flags, block, 0)

    def _continued(self, flags: int, stream_id: int, payload: memoryview) -> None:
        pending = self._continuation
        if pending is None or pending[0] != stream_id:
            self.fail(f.PROTOCOL_ERROR, "CONTINUATION without HEADERS")
            return
        sid, first_flags, block, count = pending
        block.extend(payload)
        if count >= self._limits.max_continuations or len(block) > self._limits.max_header_block:
            self.fail(f.ENHANCE_YOUR_CALM, "header block too long")
        elif flags & f.END_HEADERS:
            self._continuation = None
            self._header_block(first_flags, stream_id, block)
        else:
            self._continuation = (sid, first_flags, block, count + 1)

    def _header_block(self, flags: int, stream_id: int, block: bytearray) -> None:
        if len(block) > self._limits.max_header_block:
            self.fail(f.ENHANCE_YOUR_CALM, "header block too long")
            return
        try:
            headers = self._decoder.decode(bytes(block))
        except hpack.HPACKError as e:
            self.fail(f.COMPRESSION_ERROR, f"header block: {e}")
            return
        stream = self._streams.get(stream_id)
        if stream is not None:
            if flags & f.END_STREAM and not stream.end_received:  # trailers
                self._end_received(stream)
            else:  # a second request head, or a block after END_STREAM (RFC 9113 8.1)
                self.reset_stream(stream, f.PROTOCOL_ERROR, "unexpected HEADERS")
            return
        if not stream_id & 1:
            self.fail(f.PROTOCOL_ERROR, "even stream id from a client")
            return
        if stream_id <= self._last_stream:
            if not flags & f.END_STREAM:  # trailers of a stream we ended are fine
                self.fail(f.PROTOCOL_ERROR, f"HEADERS on closed stream {stream_id}")
            return
        self._last_stream = stream_id
        if self._going_away:
            self._out.frames.append(f.rst_stream(stream_id, f.REFUSED_STREAM))
            return
        if len(self._streams) >= self._limits.max_concurrent_streams:
            self._out.frames.append(f.rst_stream(stream_id, f.REFUSED_STREAM))
            if not self._resets.take():
                self.fail(f.ENHANCE_YOUR_CALM, "streams opened past the limit too often")
            return
        path = next((bytes(v) for k, v in headers if k == b":path"), b"")
        factory = self._routes.get(path)
        if factory is None:
            block_out = f.trailers_only(STATUS_UNIMPLEMENTED, "method not found")
            self._out.headers(f.END_HEADERS | f.END_STREAM, stream_id, block_out)
            return
        stream = GrpcStream(stream_id, NO_CALL, self._out.new_stream(), self._limits.receive_window)
        self._streams[stream_id] = stream
        stream.call = factory(cast("Connection", self), stream_id)
        if flags & f.END_STREAM:
            self._end_received(stream)
