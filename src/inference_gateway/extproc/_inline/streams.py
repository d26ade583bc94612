"""One gRPC call's stream on the inline server: its length-prefixed messages and receive window.

HTTP/2 DATA frames and gRPC messages do not line up: a frame may carry several messages, or a
message may span frames (a body chunk of Envoy's is often larger than one frame). The reader
here hands out whole messages and keeps the rest in ``inbox``, together with any whole
messages the call could not take yet (it is ``busy``, or the connection holds back while the
peer does not read its answers). Bytes in the inbox are not given back to the peer's windows
until they leave it, so the windows bound what a peer can make a stream hold.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from inference_gateway.extproc._inline import frames as f
from inference_gateway.extproc._inline.outbound import SendState

if TYPE_CHECKING:
    from inference_gateway.extproc._inline.connection import Connection

STATUS_UNIMPLEMENTED, STATUS_RESOURCE_EXHAUSTED, STATUS_INTERNAL = 12, 8, 13


class Call(Protocol):
    """One gRPC call; every method runs inside the connection's read handling."""

    busy: bool
    """The call takes no message now; it calls ``Connection.resume`` when it does again."""

    def on_message(self, message: bytes | memoryview) -> None: ...

    def on_end(self) -> None:
        """The peer half-closed: no more messages will come."""

    def on_cancel(self) -> None:
        """Reset by the peer, or the connection is gone: send nothing more."""


CallFactory = Callable[["Connection", int], Call]


class MessageRejected(Exception):
    """A message this server will not take; the call ends with ``status``."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(status)
        self.status = status
        self.reason = reason

    @classmethod
    def of(cls, compressed: int, length: int) -> MessageRejected:
        """Why a message with this prefix is refused (it is compressed or too long)."""
        if compressed:
            return cls(STATUS_UNIMPLEMENTED, "compressed message")
        return cls(STATUS_RESOURCE_EXHAUSTED, f"message of {length} bytes")


@dataclass(slots=True)
class GrpcStream:
    id: int
    call: Call
    send: SendState
    window: int
    """What the peer may still send on this stream (our receive window)."""
    unacked: int = 0
    """Consumed bytes not yet given back with a WINDOW_UPDATE."""
    inbox: bytearray = field(default_factory=bytearray)
    """Received bytes no call has taken: a partial message, or messages held back."""
    end_received: bool = False
    """END_STREAM came; the call hears it once the inbox is empty."""
    end_told: bool = False
    got_data: bool = False

    def inbox_has_message(self) -> bool:
        """A whole message (or a prefix to reject) is at the front of the inbox."""
        inbox = self.inbox
        if len(inbox) < 5:
            return False
        compressed, length = f.MESSAGE_PREFIX.unpack_from(inbox)
        return bool(compressed) or len(inbox) >= 5 + length

    def next_message(self, max_message: int) -> bytes | None:
        """The first whole message in the inbox, taken out of it (None: not whole yet)."""
        inbox = self.inbox
        if len(inbox) < 5:
            return None
        compressed, length = f.MESSAGE_PREFIX.unpack_from(inbox)
        if compressed or length > max_message:
            raise MessageRejected.of(compressed, length)
        if len(inbox) < 5 + length:
            return None
        message = bytes(inbox[5 : 5 + length])
        del inbox[: 5 + length]
        return message


class _NoCall:
    busy = False

    def on_message(self, message: bytes | memoryview) -> None:
        pass

    def on_end(self) -> None:
        pass

    def on_cancel(self) -> None:
        pass


NO_CALL: Call = _NoCall()
"""A placeholder while the call's factory runs."""
