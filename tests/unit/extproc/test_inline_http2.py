"""The inline server's HTTP/2 edges, driven by an ``h2`` client over loopback TCP.

``h2`` checks everything the server sends (flow-control windows, stream states, HPACK);
the raw log keeps each frame as it came off the socket, for assertions about order and
about header-block bytes that ``h2`` does not expose.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import pytest
from envoy.service.ext_proc.v3 import external_processor_pb2 as pb
from grpc_health.v1 import health_pb2
from hyperframe.frame import ContinuationFrame, Frame, HeadersFrame

from inference_gateway.extproc.server import ExtProcServer, ExtProcSettings
from inference_gateway.extproc.tls import TlsSettings
from tests.unit.extproc.test_server import ScriptedDirector, body, headers, response_headers

PROCESS = b"/envoy.service.ext_proc.v3.ExternalProcessor/Process"
CHECK = b"/grpc.health.v1.Health/Check"
DATA, HEADERS, RST_STREAM, GOAWAY, WINDOW_UPDATE = 0x0, 0x1, 0x3, 0x7, 0x8


def request_headers(path: bytes = PROCESS) -> list[tuple[bytes, bytes]]:
    return [
        (b":method", b"POST"),
        (b":scheme", b"http"),
        (b":path", path),
        (b":authority", b"127.0.0.1"),
        (b"content-type", b"application/grpc"),
        (b"te", b"trailers"),
    ]


def grpc(message: bytes, compressed: int = 0) -> bytes:
    return bytes([compressed]) + len(message).to_bytes(4, "big") + message


def ungrpc(data: bytes) -> list[bytes]:
    """Split a stream's DATA into gRPC messages; every byte must belong to a whole message."""
    out, pos = [], 0
    while pos < len(data):
        assert data[pos] == 0
        size = int.from_bytes(data[pos + 1 : pos + 5], "big")
        out.append(data[pos + 5 : pos + 5 + size])
        pos += 5 + size
        assert pos <= len(data)
    return out


def answers(data: bytes) -> list[pb.ProcessingResponse]:
    return [pb.ProcessingResponse.FromString(m) for m in ungrpc(data)]


def raw_frame(kind: int, flags: int, stream_id: int, payload: bytes) -> bytes:
    return (
        len(payload).to_bytes(3, "big")
        + bytes([kind, flags])
        + stream_id.to_bytes(4, "big")
        + payload
    )


@dataclass
class RawFrame:
    kind: int
    flags: int
    stream_id: int
    payload: bytes


@dataclass
class Peer:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    conn: h2.connection.H2Connection
    auto_grant: bool = True
    """Give back every received DATA byte at once (stream and connection)."""
    events: list[h2.events.Event] = field(default_factory=list)
    frames: list[RawFrame] = field(default_factory=list)
    data: dict[int, bytearray] = field(default_factory=dict)
    headers: dict[int, dict[bytes, bytes]] = field(default_factory=dict)
    trailers: dict[int, dict[bytes, bytes]] = field(default_factory=dict)
    ended: set[int] = field(default_factory=set)
    eof: bool = False
    _raw: bytearray = field(default_factory=bytearray)

    def flush(self) -> None:
        out = self.conn.data_to_send()
        if out:
            self.writer.write(out)

    def write_raw(self, data: bytes) -> None:
        self.flush()
        self.writer.write(data)

    def send_headers(
        self, stream_id: int, path: bytes = PROCESS, *, end_stream: bool = False
    ) -> None:
        self.flush()
        self.conn.send_headers(stream_id, request_headers(path), end_stream=end_stream)

    def send_headers_reframed(self, stream_id: int, *, pad: int, pieces: int) -> None:
        """Send request headers as a padded HEADERS frame and ``pieces - 1`` CONTINUATIONs."""
        self.flush()
        self.conn.send_headers(stream_id, request_headers())
        wire = self.conn.data_to_send()
        frame, length = Frame.parse_frame_header(memoryview(wire[:9]))
        frame.parse_body(memoryview(wire[9 : 9 + length]))
        assert isinstance(frame, HeadersFrame) and len(wire) == 9 + length
        block = frame.data
        step = -(-len(block) // pieces)
        parts = [block[i : i + step] for i in range(0, len(block), step)]
        first = HeadersFrame(stream_id, data=parts[0], flags=("PADDED",), pad_length=pad)
        out = first.serialize()
        for i, part in enumerate(parts[1:], start=2):
            flags = ("END_HEADERS",) if i == len(parts) else ()
            out += ContinuationFrame(stream_id, data=part, flags=flags).serialize()
        self.writer.write(out)

    def send_message(self, stream_id: int, message: bytes, *, end_stream: bool = False) -> None:
        self.conn.send_data(stream_id, grpc(message), end_stream=end_stream)
        self.flush()

    async def pump(self) -> None:
        """Read once from the socket and process what came."""
        chunk = await self.reader.read(1 << 20)
        if not chunk:
            self.eof = True
            return
        self._log_frames(chunk)
        for event in self.conn.receive_data(chunk):
            self.events.append(event)
            self._event(event)
        self.flush()

    async def until(self, done: Callable[[], bool]) -> None:
        async with asyncio.timeout(2.0):
            while not done():
                if self.eof:
                    raise EOFError("server closed the connection")
                await self.pump()

    async def read_to_eof(self) -> None:
        async with asyncio.timeout(2.0):
            while not self.eof:
                chunk = await self.reader.read(1 << 20)
                if not chunk:
                    self.eof = True
                    break
                self._log_frames(chunk)
                with contextlib.suppress(h2.exceptions.ProtocolError):
                    for event in self.conn.receive_data(chunk):
                        self.events.append(event)
                        self._event(event)

    def _event(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.DataReceived):
            sid = event.stream_id
            self.data.setdefault(sid, bytearray()).extend(event.data)
            if self.auto_grant and event.flow_controlled_length:
                self.conn.increment_flow_control_window(event.flow_controlled_length)
                with contextlib.suppress(h2.exceptions.StreamClosedError):
                    self.conn.increment_flow_control_window(event.flow_controlled_length, sid)
        elif isinstance(event, h2.events.ResponseReceived):
            self.headers[event.stream_id] = dict(event.headers)
        elif isinstance(event, h2.events.TrailersReceived):
            self.trailers[event.stream_id] = dict(event.headers)
        elif isinstance(event, h2.events.StreamEnded):
            self.ended.add(event.stream_id)

    def _log_frames(self, chunk: bytes) -> None:
        raw = self._raw
        raw += chunk
        while len(raw) >= 9:
            size = int.from_bytes(raw[:3], "big")
            if len(raw) < 9 + size:
                break
            sid = int.from_bytes(raw[5:9], "big") & 0x7FFFFFFF
            self.frames.append(RawFrame(raw[3], raw[4], sid, bytes(raw[9 : 9 + size])))
            del raw[: 9 + size]

    def status(self, stream_id: int) -> int:
        """grpc-status of an ended stream (from its trailers or a trailers-only answer)."""
        block = self.trailers.get(stream_id) or self.headers[stream_id]
        return int(block[b"grpc-status"])

    def count(self, kind: type[h2.events.Event]) -> int:
        return sum(isinstance(e, kind) for e in self.events)

    def of_kind(self, kind: int) -> list[RawFrame]:
        return [fr for fr in self.frames if fr.kind == kind]


@contextlib.asynccontextmanager
async def connect(
    port: int,
    settings: dict[int, int] | None = None,
    *,
    auto_grant: bool = True,
    preface: bool = True,
) -> AsyncIterator[Peer]:
    """Connect, send the preface with ``settings`` and read until the server's SETTINGS ACK."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    config = h2.config.H2Configuration(client_side=True, header_encoding=None)
    conn = h2.connection.H2Connection(config=config)
    conn.initiate_connection()
    if settings:
        conn.update_settings(settings)
    peer = Peer(reader, writer, conn, auto_grant=auto_grant)
    try:
        if preface:
            peer.flush()
            acks = 2 if settings else 1
            await peer.until(lambda: peer.count(h2.events.SettingsAcknowledged) >= acks)
        else:
            conn.data_to_send()
        yield peer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


# --- the tests -------------------------------------------------------------------------------
@pytest.fixture
def director() -> ScriptedDirector:
    return ScriptedDirector()


INITIAL_WINDOW_SIZE = h2.settings.SettingCodes.INITIAL_WINDOW_SIZE
GOAWAY_NO_ERROR, GOAWAY_PROTOCOL_ERROR, GOAWAY_FRAME_SIZE_ERROR = 0, 1, 6


@pytest.fixture
async def server(director: ScriptedDirector) -> AsyncIterator[ExtProcServer]:
    settings = ExtProcSettings(
        port=0, transport="inline", max_body_bytes=1_000_000, grace_seconds=0
    )
    async with ExtProcServer(director, settings) as running:
        yield running


def request_messages(payload: bytes, chunk: int = 50_000) -> bytes:
    """A whole request as gRPC-framed ext_proc messages: headers, then the body in chunks."""
    out = [grpc(headers().SerializeToString())]
    for i in range(0, len(payload), chunk):
        last = i + chunk >= len(payload)
        out.append(grpc(body(payload[i : i + chunk], eos=last).SerializeToString()))
    return b"".join(out)


def forwarded_body(found: list[pb.ProcessingResponse]) -> bytes:
    """The request body the answers tell Envoy to forward (inlined or streamed)."""
    first = found[0].request_headers.response
    if first.status == pb.CommonResponse.CONTINUE_AND_REPLACE:
        return bytes(first.body_mutation.body)
    parts = [a.request_body.response.body_mutation.streamed_response for a in found[1:]]
    assert parts[-1].end_of_stream
    return b"".join(p.body for p in parts)


async def route(peer: Peer, stream_id: int) -> None:
    """Open a Process stream and have it routed (a bodiless request) and answered."""
    peer.send_headers(stream_id)
    peer.send_message(stream_id, headers(eos=True).SerializeToString())
    await peer.until(lambda: len(answers(bytes(peer.data.get(stream_id, b"")))) == 1)


async def push(peer: Peer, stream_id: int, data: bytes, *, end_stream: bool = False) -> None:
    """Send ``data`` on a stream as fast as the server's windows allow."""
    conn, pos = peer.conn, 0
    while pos < len(data):
        room = min(conn.local_flow_control_window(stream_id), conn.max_outbound_frame_size)
        if room <= 0:
            await peer.pump()
            continue
        conn.send_data(stream_id, data[pos : pos + room])
        pos += room
        peer.flush()
    if end_stream:
        conn.end_stream(stream_id)
        peer.flush()


async def test_a_large_answer_is_sent_only_as_the_client_opens_its_windows(
    server: ExtProcServer,
) -> None:
    payload = b'{"model": "MODEL", "prompt": "' + bytes(range(256)) * 1200 + b'"}'
    async with connect(server.port, {INITIAL_WINDOW_SIZE: 1000}, auto_grant=False) as peer:
        peer.send_headers(1)
        await push(peer, 1, request_messages(payload), end_stream=True)
        stream_granted, conn_granted, updates = 1000, 65_535, 0
        async with asyncio.timeout(2):
            while 1 not in peer.ended:
                await peer.pump()
                assert not peer.eof
                got = len(peer.data.get(1, b""))
                assert got <= stream_granted and got <= conn_granted
                if got == stream_granted and 1 not in peer.ended:
                    peer.conn.increment_flow_control_window(7_000, 1)
                    stream_granted += 7_000
                    updates += 1
                if got == conn_granted:
                    peer.conn.increment_flow_control_window(20_000)
                    conn_granted += 20_000
                    updates += 1
                peer.flush()
        assert updates > 40
        assert peer.status(1) == 0
        assert forwarded_body(answers(bytes(peer.data[1]))) == payload.replace(b"MODEL", b"TARGET")
        own = [fr for fr in peer.frames if fr.stream_id == 1]
        assert own[0].kind == HEADERS and own[-1].kind == HEADERS
        assert own[-1].flags & 0x1 and all(fr.kind == DATA for fr in own[1:-1])
        assert max(len(fr.payload) for fr in own if fr.kind == DATA) <= 16_384


async def test_split_padded_and_continued_frames_make_up_one_request(
    server: ExtProcServer, director: ScriptedDirector
) -> None:
    payload = b'{"model": "MODEL", "prompt": "' + b"y" * 150_000 + b'"}'
    wire = request_messages(payload)
    sizes, pads = [1, 3, 4, 9, 700, 16_000, 2], [None, 0, 7, 255]
    async with connect(server.port) as peer:
        peer.send_headers_reframed(1, pad=17, pieces=3)
        pos = i = 0
        while pos < len(wire):
            step = sizes[i % len(sizes)]
            peer.conn.send_data(1, wire[pos : pos + step], pad_length=pads[i % len(pads)])
            pos, i = pos + step, i + 1
        peer.conn.end_stream(1)
        peer.flush()
        await peer.until(lambda: 1 in peer.ended)
        assert i > 60
        assert director.requests[0].body == payload
        assert peer.status(1) == 0
        found = answers(bytes(peer.data[1]))
        assert forwarded_body(found) == payload.replace(b"MODEL", b"TARGET")


async def test_the_server_reopens_its_windows_past_16_mib_on_a_stream(
    server: ExtProcServer,
) -> None:
    chunk = bytes(range(256)) * 4096  # 1 MiB, no b"TARGET": answered without a copy
    async with connect(server.port) as peer:
        await route(peer, 1)
        peer.send_message(1, response_headers("200").SerializeToString())
        for i in range(17):
            message = pb.ProcessingRequest(
                response_body=pb.HttpBody(body=chunk, end_of_stream=i == 16)
            )
            await push(peer, 1, grpc(message.SerializeToString()))
        await peer.until(lambda: 1 in peer.ended)
        found = answers(bytes(peer.data[1]))
        assert len(found) == 2 + 17
        assert all(a.WhichOneof("response") == "response_body" for a in found[2:])
        updates = {fr.stream_id for fr in peer.of_kind(WINDOW_UPDATE)}
        assert {0, 1} <= updates


async def test_the_connection_window_is_reopened_for_several_streams(
    server: ExtProcServer,
) -> None:
    chunk = b"z" * (1024 * 1024)
    streams = (1, 3, 5)
    async with connect(server.port) as peer:
        for sid in streams:
            await route(peer, sid)
            peer.send_message(sid, response_headers("200").SerializeToString())
        for i in range(6):
            for sid in streams:
                message = pb.ProcessingRequest(
                    response_body=pb.HttpBody(body=chunk, end_of_stream=i == 5)
                )
                await push(peer, sid, grpc(message.SerializeToString()))
        await peer.until(lambda: set(streams) <= peer.ended)
        for sid in streams:
            assert len(answers(bytes(peer.data[sid]))) == 2 + 6
            assert peer.status(sid) == 0
        connection_updates = [fr for fr in peer.of_kind(WINDOW_UPDATE) if fr.stream_id == 0]
        assert len(connection_updates) >= 2  # the initial grant and at least one refill


async def test_ping_and_settings_are_acknowledged(server: ExtProcServer) -> None:
    async with connect(server.port) as peer:
        peer.conn.ping(b"8 bytes!")
        peer.conn.update_settings({h2.settings.SettingCodes.MAX_FRAME_SIZE: 20_000})
        peer.flush()
        await peer.until(
            lambda: (
                peer.count(h2.events.PingAckReceived) == 1
                and peer.count(h2.events.SettingsAcknowledged) == 2
            )
        )
        ack = next(e for e in peer.events if isinstance(e, h2.events.PingAckReceived))
        assert ack.ping_data == b"8 bytes!"


async def test_an_unknown_method_is_answered_trailers_only_with_unimplemented(
    server: ExtProcServer,
) -> None:
    async with connect(server.port) as peer:
        peer.send_headers(1, b"/no.such.Service/Method")
        peer.send_message(1, b"anything")
        await peer.until(lambda: 1 in peer.ended)
        assert peer.headers[1][b":status"] == b"200"
        assert peer.headers[1][b"grpc-status"] == b"12"
        assert 1 not in peer.trailers
        peer.write_raw(raw_frame(DATA, 0x1, 1, grpc(b"late")))  # ignored: the stream is over
        await route(peer, 3)


@pytest.mark.parametrize(
    ("prefix", "status"),
    [
        (b"\x01" + (10).to_bytes(4, "big") + b"0123456789", 12),
        (b"\x00" + (2**31).to_bytes(4, "big") + b"xyz", 8),
    ],
    ids=["compressed", "too-long"],
)
@pytest.mark.parametrize("split", [0, 3], ids=["whole", "split-prefix"])
async def test_a_rejected_message_fails_the_call_and_closes_its_stream(
    server: ExtProcServer,
    director: ScriptedDirector,
    prefix: bytes,
    status: int,
    split: int,
) -> None:
    async with connect(server.port) as peer:
        await route(peer, 1)
        if split:
            peer.conn.send_data(1, prefix[:split])
            peer.flush()
            await route(peer, 3)  # a round trip: the first part is in before the rest
        peer.conn.send_data(1, prefix[split:])
        peer.flush()
        await peer.until(lambda: 1 in peer.ended)
        assert peer.status(1) == status
        assert director.finished[0] == "cancelled"


async def test_a_reset_stream_is_cancelled_and_its_late_frames_ignored(
    server: ExtProcServer, director: ScriptedDirector
) -> None:
    async with connect(server.port) as peer:
        await route(peer, 1)
        peer.conn.reset_stream(1)
        peer.flush()
        async with asyncio.timeout(2):
            await director.done.wait()
        assert director.finished == ["cancelled"]
        mark = len(peer.frames)
        late = grpc(response_headers("200").SerializeToString())
        peer.write_raw(raw_frame(DATA, 0, 1, late) + raw_frame(DATA, 0x1, 1, late[:3]))
        await route(peer, 3)
        assert all(fr.stream_id != 1 for fr in peer.frames[mark:])
        assert not peer.of_kind(GOAWAY)


@pytest.mark.parametrize(
    "garbage", [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"HELLO\r\n"], ids=["http1", "short"]
)
async def test_a_bad_preface_gets_goaway_protocol_error(
    server: ExtProcServer, garbage: bytes
) -> None:
    async with connect(server.port, preface=False) as peer:
        peer.write_raw(garbage)
        await peer.read_to_eof()
        last = peer.frames[-1]
        assert last.kind == GOAWAY
        assert int.from_bytes(last.payload[4:8], "big") == GOAWAY_PROTOCOL_ERROR


async def test_a_frame_over_the_announced_size_gets_goaway_frame_size_error(
    server: ExtProcServer,
) -> None:
    async with connect(server.port) as peer:
        peer.write_raw((65_537).to_bytes(3, "big") + bytes([DATA, 0]) + (1).to_bytes(4, "big"))
        await peer.read_to_eof()
        last = peer.frames[-1]
        assert last.kind == GOAWAY
        assert int.from_bytes(last.payload[4:8], "big") == GOAWAY_FRAME_SIZE_ERROR


async def test_stop_says_goaway_cancels_open_calls_and_closes(
    director: ScriptedDirector,
) -> None:
    settings = ExtProcSettings(port=0, transport="inline")
    server = ExtProcServer(director, settings)
    await server.start()
    try:
        # No window updates: data the server has not read would turn its close into a reset.
        async with connect(server.port, auto_grant=False) as peer:
            await route(peer, 1)
            await route(peer, 3)
            async with asyncio.timeout(2):
                await server.stop(0)
            await peer.read_to_eof()
            goaway = peer.frames[-1]
            assert goaway.kind == GOAWAY
            assert int.from_bytes(goaway.payload[:4], "big") == 3
            assert int.from_bytes(goaway.payload[4:8], "big") == GOAWAY_NO_ERROR
            assert director.finished == ["cancelled", "cancelled"]
    finally:
        await server.stop(0)


async def test_interleaved_streams_are_answered_independently(
    server: ExtProcServer, director: ScriptedDirector
) -> None:
    bodies = {1: b'{"model": "MODEL", "n": "one"}', 3: b'{"model": "MODEL", "n": "three"}'}
    wires = {sid: request_messages(b, chunk=7) for sid, b in bodies.items()}
    async with connect(server.port) as peer:
        peer.send_headers(1)
        peer.send_headers(3)
        pos = 0
        while pos < max(len(w) for w in wires.values()):
            for sid in (3, 1):
                if pos < len(wires[sid]):
                    peer.conn.send_data(sid, wires[sid][pos : pos + 11])
            pos += 11
        peer.conn.end_stream(1)
        peer.conn.end_stream(3)
        peer.flush()
        await peer.until(lambda: {1, 3} <= peer.ended)
        for sid, sent in bodies.items():
            assert forwarded_body(answers(bytes(peer.data[sid]))) == sent.replace(
                b"MODEL", b"TARGET"
            )
            assert peer.status(sid) == 0
        assert sorted(r.body for r in director.requests) == sorted(bodies.values())


async def test_a_half_close_while_the_answer_waits_for_window_ends_the_stream_once(
    server: ExtProcServer,
) -> None:
    check = grpc(health_pb2.HealthCheckRequest(service="").SerializeToString())
    async with connect(server.port, {INITIAL_WINDOW_SIZE: 0}, auto_grant=False) as peer:
        peer.send_headers(1, CHECK)
        peer.conn.send_data(1, check)
        peer.flush()
        await peer.until(lambda: 1 in peer.headers)  # answered; its message waits for window
        peer.conn.end_stream(1)
        peer.conn.increment_flow_control_window(100, 1)
        peer.conn.increment_flow_control_window(100)  # a second drain of the send queue
        peer.conn.ping(b"ping-ack")
        peer.flush()
        await peer.until(lambda: peer.count(h2.events.PingAckReceived) == 1)
        assert 1 in peer.ended and peer.status(1) == 0
        reply = health_pb2.HealthCheckResponse.FromString(ungrpc(bytes(peer.data[1]))[0])
        assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING
        ends = [fr for fr in peer.frames if fr.stream_id == 1 and fr.flags & 0x1]
        assert len(ends) == 1


async def test_stop_closes_a_connection_whose_peer_stopped_reading(
    director: ScriptedDirector,
) -> None:
    settings = ExtProcSettings(port=0, transport="inline", max_body_bytes=8_000_000)
    server = ExtProcServer(director, settings)
    await server.start()
    payload = b'{"model": "MODEL", "p": "' + b"q" * 6_000_000 + b'"}'
    try:
        big = {int(INITIAL_WINDOW_SIZE): 2**31 - 1}
        async with connect(server.port, big, auto_grant=False) as peer:
            peer.conn.increment_flow_control_window(2**30)
            peer.send_headers(1)
            await push(peer, 1, request_messages(payload, chunk=60_000), end_stream=True)
            async with asyncio.timeout(2):
                while not director.requests:
                    await peer.pump()  # a 6 MB answer now fills the socket buffers
                await server.stop(0)
            assert not server._backend._connections  # type: ignore[attr-defined]
            with contextlib.suppress(ConnectionResetError):
                await peer.read_to_eof()
            assert len(peer.data.get(1, b"")) < len(payload)  # aborted: the rest was dropped
    finally:
        await server.stop(0)


async def test_a_failed_tls_handshake_leaves_no_connection_behind(
    director: ScriptedDirector,
) -> None:
    settings = ExtProcSettings(port=0, transport="inline", tls=TlsSettings(), grace_seconds=0)
    async with ExtProcServer(director, settings) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00" * 64)  # plaintext on TLS
        async with asyncio.timeout(2):
            while await reader.read(4096):
                pass  # the server's TLS alert, then its close
        writer.close()
        await writer.wait_closed()
        assert not server._backend._connections  # type: ignore[attr-defined]


async def test_a_lowered_initial_window_leaves_a_deficit_to_make_up_first(
    server: ExtProcServer,
) -> None:
    payload = b'{"model": "MODEL", "prompt": "' + b"d" * 100_000 + b'"}'
    async with connect(server.port, {INITIAL_WINDOW_SIZE: 1000}, auto_grant=False) as peer:
        peer.send_headers(1)
        await push(peer, 1, request_messages(payload), end_stream=True)
        await peer.until(lambda: len(peer.data.get(1, b"")) == 1000)
        peer.conn.update_settings({INITIAL_WINDOW_SIZE: 0})  # the stream's window: -1000
        peer.flush()
        await peer.until(lambda: peer.count(h2.events.SettingsAcknowledged) == 3)
        peer.conn.increment_flow_control_window(1500, 1)  # h2 fails on a byte past +500
        peer.conn.increment_flow_control_window(200_000)
        peer.flush()
        await peer.until(lambda: len(peer.data[1]) == 1500)
        peer.conn.increment_flow_control_window(200_000, 1)
        peer.flush()
        await peer.until(lambda: 1 in peer.ended)
        assert forwarded_body(answers(bytes(peer.data[1]))) == payload.replace(b"MODEL", b"TARGET")
