"""One gRPC call's stream on the inline server: what it is owed, and its length-prefixed messages.

HTTP/2 DATA frames and gRPC messages do not line up: a frame may carry several messages, or a
message may span frames (a body chunk of Envoy's is often larger than one frame). The reader
here hands out whole messages and keeps the rest; the connection module stays with frames.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from inference_gateway.extproc._inline import frames as f
from inference_gateway.extproc._inline.outbound import SendState

if TYPE_CHECKING:
    from inference_gateway.extproc._inline.connection import Connection

MAX_MESSAGE = 64 * 1024 * 1024
"""A larger gRPC message fails its call with RESOURCE_EXHAUSTED."""
STATUS_UNIMPLEMENTED, STATUS_RESOURCE_EXHAUSTED, STATUS_INTERNAL = 12, 8, 13


class Call(Protocol):
    """One gRPC call; every method runs inside the connection's read handling."""

    def on_message(self, message: bytes | memoryview) -> None: ...

    def on_end(self) -> None:
        """The peer half-closed: no more messages will come."""

    def on_cancel(self) -> None:
        """Reset by the peer, or the connection is gone: send nothing more."""


CallFactory = Callable[["Connection", int], Call]


class MessageRejected(Exception):
    """A message this server will not take; the call ends with ``status``."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


@dataclass(slots=True)
class GrpcStream:
    call: Call
    send: SendState
    receive_unacked: int = 0
    partial: bytearray = field(default_factory=bytearray)

    def messages(self, payload: memoryview) -> list[bytes | memoryview]:
        """The messages ``payload`` completes, in order; an incomplete tail is kept.

        Raises ``MessageRejected`` for a compressed message (none is ever negotiated) or one
        over ``MAX_MESSAGE``, as soon as its prefix is seen.
        """
        if self.partial:
            self.partial += payload
            if len(self.partial) < 5:
                return []
            needed = 5 + f.MESSAGE_PREFIX.unpack_from(self.partial)[1]
            if len(self.partial) < needed and needed <= MAX_MESSAGE + 5:
                return []
            data: bytes | memoryview = bytes(self.partial)
            self.partial = bytearray()
        else:
            data = payload
        out: list[bytes | memoryview] = []
        pos, size = 0, len(data)
        while size - pos >= 5:
            compressed, length = f.MESSAGE_PREFIX.unpack_from(data, pos)
            if compressed or length > MAX_MESSAGE:
                raise MessageRejected(
                    STATUS_UNIMPLEMENTED if compressed else STATUS_RESOURCE_EXHAUSTED
                )
            end = pos + 5 + length
            if end > size:
                break
            out.append(data[pos + 5 : end])
            pos = end
        if pos < size:
            self.partial = bytearray(data[pos:])
        return out


class _NoCall:
    def on_message(self, message: bytes | memoryview) -> None:
        pass

    def on_end(self) -> None:
        pass

    def on_cancel(self) -> None:
        pass


NO_CALL: Call = _NoCall()
"""A placeholder while the call's factory runs."""
