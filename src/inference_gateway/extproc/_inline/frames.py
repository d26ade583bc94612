"""HTTP/2 framing (RFC 9113) and gRPC message framing: the wire facts the inline server needs.

Only what a gRPC server sends is encoded here, and its few header blocks never touch the
HPACK dynamic table (indexed static entries and literals "without indexing"), so they are
plain byte strings built once and the peer's decoder state never depends on ours.
"""

from __future__ import annotations

import struct

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY = range(8)
WINDOW_UPDATE, CONTINUATION = 8, 9

END_STREAM = ACK = 0x1
END_HEADERS = 0x4
PADDED = 0x8
PRIORITY_FLAG = 0x20

SETTINGS_HEADER_TABLE_SIZE = 0x1
SETTINGS_ENABLE_PUSH = 0x2
SETTINGS_MAX_CONCURRENT_STREAMS = 0x3
SETTINGS_INITIAL_WINDOW_SIZE = 0x4
SETTINGS_MAX_FRAME_SIZE = 0x5
SETTINGS_MAX_HEADER_LIST_SIZE = 0x6

NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR = 0x0, 0x1, 0x2, 0x3
STREAM_CLOSED, FRAME_SIZE_ERROR, REFUSED_STREAM, CANCEL = 0x5, 0x6, 0x7, 0x8
COMPRESSION_ERROR, ENHANCE_YOUR_CALM = 0x9, 0xB

DEFAULT_WINDOW = 65_535
DEFAULT_MAX_FRAME = 16_384
MAX_WINDOW = 2**31 - 1

HEADER = struct.Struct(">HBBBL")
"""Frame header: length (16 high bits, 8 low bits), type, flags, stream id (R bit masked)."""
_SETTING = struct.Struct(">HL")
_U32 = struct.Struct(">L")
_U32_PAIR = struct.Struct(">LL")
MESSAGE_PREFIX = struct.Struct(">BL")
"""gRPC length prefix: compressed flag, message length."""


def frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    size = len(payload)
    return HEADER.pack(size >> 8, size & 0xFF, kind, flags, stream_id) + payload


def frame_header(kind: int, flags: int, stream_id: int, size: int) -> bytes:
    return HEADER.pack(size >> 8, size & 0xFF, kind, flags, stream_id)


def settings(values: dict[int, int]) -> bytes:
    return frame(SETTINGS, 0, 0, b"".join(_SETTING.pack(k, v) for k, v in values.items()))


def parse_settings(payload: bytes | memoryview) -> list[tuple[int, int]]:
    return [_SETTING.unpack_from(payload, i) for i in range(0, len(payload) - 5, 6)]


def window_update(stream_id: int, increment: int) -> bytes:
    return frame(WINDOW_UPDATE, 0, stream_id, _U32.pack(increment))


def goaway(last_stream_id: int, code: int) -> bytes:
    return frame(GOAWAY, 0, 0, _U32_PAIR.pack(last_stream_id, code))


def rst_stream(stream_id: int, code: int) -> bytes:
    return frame(RST_STREAM, 0, stream_id, _U32.pack(code))


def u32(payload: bytes | memoryview, offset: int = 0) -> int:
    return int(_U32.unpack_from(payload, offset)[0])


# --- HPACK (RFC 7541), encode side only ---------------------------------------------------
def _integer(value: int, prefix_bits: int, first: int) -> bytes:
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = bytearray([first | limit])
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _string(data: bytes) -> bytes:
    return _integer(len(data), 7, 0) + data


def literal(name: bytes | int, value: bytes) -> bytes:
    """A header field "without indexing": a static-table name index or a literal name."""
    if isinstance(name, int):
        return _integer(name, 4, 0) + _string(value)
    return b"\x00" + _string(name) + _string(value)


TABLE_SIZE_ZERO = b"\x20"
"""A dynamic table size update to 0 (RFC 7541 section 6.3)."""
_STATUS_200 = b"\x88"  # static table entry 8, ":status: 200"
_CONTENT_TYPE = 31
RESPONSE_HEADERS = _STATUS_200 + literal(_CONTENT_TYPE, b"application/grpc")


def trailers(status: int, message: str = "") -> bytes:
    block = literal(b"grpc-status", str(status).encode())
    if message:
        block += literal(b"grpc-message", percent_encode(message))
    return block


def trailers_only(status: int, message: str = "") -> bytes:
    """Headers and trailers in one block: a call that fails before any message."""
    return RESPONSE_HEADERS + trailers(status, message)


OK_TRAILERS = trailers(0)


def percent_encode(message: str) -> bytes:
    """gRPC's ``grpc-message`` encoding: printable ASCII but ``%`` as is, the rest %XX."""
    out = bytearray()
    for byte in message.encode("utf-8"):
        if 0x20 <= byte <= 0x7E and byte != 0x25:
            out.append(byte)
        else:
            out += b"%%%02X" % byte
    return bytes(out)
