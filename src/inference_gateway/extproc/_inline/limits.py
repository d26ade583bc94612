"""The inline server's limits against a hostile HTTP/2 peer, and the few meters that enforce them.

The ext_proc port is reachable by any pod in the cluster, so every resource a peer can make
this server hold is capped, after the mature implementations (STYLE rule 21):

* nghttp2 (Envoy's codec): at most 8 CONTINUATION frames after a HEADERS frame
  (``nghttp2_option_set_max_continuations``), at most 32 entries in a SETTINGS frame
  (``max_settings``), at most 1,000 queued SETTINGS/PING acknowledgements for a peer that
  does not read (``max_outbound_ack``), incoming
  RST_STREAM through a token bucket of burst 1,000 refilled at 33 per second
  (``nghttp2_option_set_stream_reset_rate_limit``), GOAWAY ENHANCE_YOUR_CALM past any of them;
* grpc-go: SETTINGS_MAX_CONCURRENT_STREAMS enforced with RST_STREAM REFUSED_STREAM, the
  reader stops while control answers pile up for a peer that does not read
  (``maxQueuedTransportResponseFrames``), a connection handshake timeout (120 s there), a
  4 MiB default message cap (ours is larger: a BUFFERED body from BBR is one message).

Beyond those, the windows are what bounds memory: a stream's and the connection's receive
windows are given back only as the call consumes messages, so the bytes a peer can make us
hold are at most the connection window (``receive_window``); answers waiting for a peer's
window are capped per connection (``max_queued_bytes``), past which this side stops handing
messages to calls and so stops refilling the windows, and the peer stops too.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

log = logging.getLogger("inference_gateway.extproc.peer")


@dataclass(frozen=True, slots=True)
class Limits:
    max_concurrent_streams: int = 1_000
    """Advertised; a stream past it is refused (RST_STREAM REFUSED_STREAM). Envoy opens a
    further connection when it reaches a server's limit, so this never fails a request."""
    receive_window: int = 16 * 1024 * 1024
    """Per stream and per connection; refilled as messages are consumed. Also bounds the
    request bytes a peer can make one connection hold (partial and queued messages)."""
    max_message: int = 16 * 1024 * 1024 - 64 * 1024
    """A larger gRPC message fails its call with RESOURCE_EXHAUSTED. Under the stream window,
    else a message that size could never arrive (its bytes are held until it is whole)."""
    max_header_block: int = 64 * 1024
    """HEADERS plus CONTINUATION bytes of one block (Envoy's own request-header limit is 60 KiB)."""
    max_continuations: int = 8
    """nghttp2's default; a longer chain, empty frames included, is a connection error."""
    max_table_updates: int = 2
    """HPACK dynamic-table size updates at the start of one block: RFC 7541 section 4.2
    allows two (the smallest, then the final size); more is a COMPRESSION_ERROR."""
    max_settings: int = 32
    """Entries in one SETTINGS frame (nghttp2's ``max_settings``, after CVE-2020-11080)."""
    max_queued_acks: int = 1_000
    """SETTINGS/PING acknowledgements this side may produce while the peer reads nothing."""
    max_queued_bytes: int = 1024 * 1024
    """Answer bytes waiting for the peer's flow-control windows, per connection."""
    reset_burst: int = 1_000
    reset_rate: float = 33.0
    """Streams the peer may reset before sending any DATA on them, or open past the limit: a
    bucket of ``reset_burst`` refilled at ``reset_rate`` per second (rapid reset,
    CVE-2023-44487). A stream reset after its messages is not counted: Envoy ends ext_proc
    streams with RST_STREAM in normal operation."""
    preface_timeout: float = 10.0
    """Seconds a new connection has to send the client preface and its SETTINGS."""
    idle_timeout: float = 3_600.0
    """Seconds a connection with no open stream is kept (then GOAWAY NO_ERROR); Envoy keeps
    its connection to the EPP across quiet periods and reconnects if it is closed."""
    max_connections: int = 1_000
    """Connections served at once (both ports); at the cap a new one replaces a connection
    with no open stream (GOAWAY), or is closed at once if every connection is busy. Envoy
    uses one per worker thread."""


class TokenBucket:
    """``burst`` tokens, refilled at ``rate`` per second; ``take`` is False when empty."""

    __slots__ = ("_burst", "_last", "_rate", "_tokens")

    def __init__(self, burst: int, rate: float) -> None:
        self._burst = float(burst)
        self._rate = rate
        self._tokens = float(burst)
        self._last = time.monotonic()

    def take(self) -> bool:
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class RejectLog:
    """One warning line per rejected peer or message, at most ``per_second`` a second.

    Peer garbage is expected on a port every pod can reach: a line names the peer and the
    reason, never a traceback, and a flood of them is summarised by the next line let through.
    """

    def __init__(self, per_second: float = 10.0) -> None:
        self._bucket = TokenBucket(int(per_second), per_second)
        self._dropped = 0

    def reject(self, peer: object, reason: str) -> None:
        if not self._bucket.take():
            self._dropped += 1
            return
        dropped, self._dropped = self._dropped, 0
        suffix = f" ({dropped} similar lines suppressed)" if dropped else ""
        log.warning("rejected HTTP/2 peer %s: %s%s", peer, reason, suffix)
