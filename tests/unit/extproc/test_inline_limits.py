"""The inline server's HTTP/2 limits, one RFC 9113 rule or cap per test (h2 client, raw frames).

The attacks these limits stop are replayed against a real EPP process in ``tests/hostile``;
here each rule is checked on its own, fast, in-process.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import h2.events
import h2.settings
import pytest

from inference_gateway.extproc._inline.limits import Limits, RejectLog
from inference_gateway.extproc._inline.outbound import Outbound
from inference_gateway.extproc.server import ExtProcServer, ExtProcSettings
from tests.unit.extproc.test_inline_http2 import (
    DATA,
    GOAWAY,
    RST_STREAM,
    WINDOW_UPDATE,
    Peer,
    answers,
    connect,
    grpc,
    raw_frame,
    route,
)
from tests.unit.extproc.test_server import ScriptedDirector, headers

PROTOCOL_ERROR, FLOW_CONTROL_ERROR, REFUSED_STREAM = 0x1, 0x3, 0x7
ENHANCE_YOUR_CALM, SETTINGS_MAX_CONCURRENT_STREAMS = 0xB, 0x3
INITIAL_WINDOW_SIZE = h2.settings.SettingCodes.INITIAL_WINDOW_SIZE


@pytest.fixture
def limits() -> Limits:
    return Limits(max_concurrent_streams=2, receive_window=100_000, max_message=90_000)


@pytest.fixture
async def server(limits: Limits) -> AsyncIterator[ExtProcServer]:
    settings = ExtProcSettings(port=0, transport="inline", grace_seconds=0, limits=limits)
    async with ExtProcServer(ScriptedDirector(), settings) as running:
        yield running


def goaway_code(peer: Peer) -> int | None:
    found = peer.of_kind(GOAWAY)
    return int.from_bytes(found[0].payload[4:8], "big") if found else None


def reset_code(peer: Peer, stream_id: int) -> int | None:
    found = [fr for fr in peer.of_kind(RST_STREAM) if fr.stream_id == stream_id]
    return int.from_bytes(found[0].payload, "big") if found else None


async def test_the_stream_limit_is_advertised_and_a_stream_past_it_refused(
    server: ExtProcServer,
) -> None:
    async with connect(server.port) as peer:
        assert peer.conn.remote_settings[SETTINGS_MAX_CONCURRENT_STREAMS] == 2
        peer.send_headers(1)
        peer.send_headers(3)
        peer.flush()
        # h2 would not open a third stream itself: the raw one is what a hostile peer sends.
        peer.write_raw(raw_frame(0x1, 0x4, 5, peer.conn.encoder.encode([(b":path", b"/x")])))
        await peer.until(lambda: reset_code(peer, 5) is not None)
        assert reset_code(peer, 5) == REFUSED_STREAM


@pytest.mark.parametrize(
    ("stream_id", "increment", "code"),
    [(1, 0, PROTOCOL_ERROR), (1, 2**31 - 1, FLOW_CONTROL_ERROR)],
)
async def test_a_bad_stream_window_update_resets_only_that_stream(
    server: ExtProcServer, stream_id: int, increment: int, code: int
) -> None:
    async with connect(server.port) as peer:
        peer.send_headers(1)
        peer.write_raw(raw_frame(WINDOW_UPDATE, 0, stream_id, increment.to_bytes(4, "big")))
        await peer.until(lambda: reset_code(peer, 1) is not None)
        assert reset_code(peer, 1) == code
        await route(peer, 3)  # the connection still serves
        assert goaway_code(peer) is None


@pytest.mark.parametrize(
    ("increment", "code"), [(0, PROTOCOL_ERROR), (2**31 - 1, FLOW_CONTROL_ERROR)]
)
async def test_a_bad_connection_window_update_is_a_connection_error(
    server: ExtProcServer, increment: int, code: int
) -> None:
    async with connect(server.port) as peer:
        peer.write_raw(raw_frame(WINDOW_UPDATE, 0, 0, increment.to_bytes(4, "big")))
        await peer.read_to_eof()
        assert goaway_code(peer) == code


async def test_headers_on_a_closed_stream_is_a_connection_error(server: ExtProcServer) -> None:
    async with connect(server.port) as peer:
        peer.send_headers(1, b"/no/such/method", end_stream=True)
        peer.flush()
        await peer.until(lambda: 1 in peer.ended)  # answered and forgotten: closed
        block = peer.conn.encoder.encode([(b":path", b"/again")])
        peer.write_raw(raw_frame(0x1, 0x4, 1, block))  # stream 1 again, not trailers
        await peer.read_to_eof()
        assert goaway_code(peer) == PROTOCOL_ERROR


async def test_a_second_request_head_on_an_open_stream_resets_it(server: ExtProcServer) -> None:
    async with connect(server.port) as peer:
        await route(peer, 1)
        block = peer.conn.encoder.encode([(b":path", b"/again")])
        peer.write_raw(raw_frame(0x1, 0x4, 1, block))
        await peer.until(lambda: reset_code(peer, 1) is not None)
        assert reset_code(peer, 1) == PROTOCOL_ERROR
        await route(peer, 3)


async def test_data_past_the_window_is_a_flow_control_error() -> None:
    limits = Limits(receive_window=100_000, max_message=200_000)
    settings = ExtProcSettings(port=0, transport="inline", grace_seconds=0, limits=limits)
    async with ExtProcServer(ScriptedDirector(), settings) as server, connect(server.port) as peer:
        peer.send_headers(1)
        peer.flush()
        # A message longer than the window never completes, so no byte is given back.
        head = b"\x00" + (150_000).to_bytes(4, "big")
        for offset in range(0, 110_000, 10_000):
            chunk = head + bytes(9_995) if offset == 0 else bytes(10_000)
            peer.write_raw(raw_frame(DATA, 0, 1, chunk))
        await peer.read_to_eof()
        # The connection window is as large as the stream's: the overrun shows there first.
        assert goaway_code(peer) == FLOW_CONTROL_ERROR


async def test_window_is_given_back_for_consumed_bytes_only(server: ExtProcServer) -> None:
    async with connect(server.port) as peer:
        given = len(peer.of_kind(WINDOW_UPDATE))  # the connection's, sent with SETTINGS
        peer.send_headers(1)
        peer.flush()
        message = b"\x00" + (80_000).to_bytes(4, "big") + bytes(80_000)
        peer.write_raw(raw_frame(DATA, 0, 1, message[:60_000]))
        peer.write_raw(raw_frame(0x6, 0, 0, b"12345678"))  # PING: its ACK marks the point
        await peer.until(lambda: peer.count(h2.events.PingAckReceived) >= 1)
        assert len(peer.of_kind(WINDOW_UPDATE)) == given  # 60,000 held: nothing given back
        peer.write_raw(raw_frame(DATA, 0, 1, message[60_000:]))
        await peer.until(
            lambda: any(fr.stream_id == 0 for fr in peer.of_kind(WINDOW_UPDATE)[given:])
        )


async def test_rapid_resets_end_with_enhance_your_calm() -> None:
    settings = ExtProcSettings(
        port=0, transport="inline", grace_seconds=0, limits=Limits(reset_burst=20, reset_rate=1)
    )
    async with ExtProcServer(ScriptedDirector(), settings) as server:
        async with connect(server.port) as peer:
            for sid in range(1, 200, 2):
                peer.send_headers(sid)
                peer.conn.reset_stream(sid)
            peer.flush()
            await peer.read_to_eof()
        assert goaway_code(peer) == ENHANCE_YOUR_CALM


async def test_an_idle_connection_gets_goaway_and_is_closed() -> None:
    settings = ExtProcSettings(
        port=0, transport="inline", grace_seconds=0, limits=Limits(idle_timeout=0.2)
    )
    async with ExtProcServer(ScriptedDirector(), settings) as server:
        async with connect(server.port) as peer:
            peer.send_headers(1, b"/no/such/method", end_stream=True)
            peer.flush()
            await peer.read_to_eof()
        assert goaway_code(peer) == 0 and 1 in peer.ended


def test_rejections_are_logged_one_line_each_and_rate_limited(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = RejectLog(per_second=5)
    with caplog.at_level(logging.WARNING, "inference_gateway.extproc.peer"):
        for i in range(100):
            log.reject(("127.0.0.1", 4000 + i), "garbage")
    lines = [r for r in caplog.records if r.name == "inference_gateway.extproc.peer"]
    assert 1 <= len(lines) <= 6
    assert all(r.exc_info is None and "127.0.0.1" in r.getMessage() for r in lines)


def test_streams_at_a_shut_window_are_never_visited_again() -> None:
    """10,000 streams wait at a zero window: sending on any other stream, or opening the
    connection window, leaves them parked; a SETTINGS increase opens exactly those it can."""
    out = Outbound()
    out.window = 10**9
    out.peer_initial_window(0)
    states = [out.new_stream() for _ in range(10_000)]
    for i, state in enumerate(states):
        out.message(2 * i + 1, state, b"answer")
    out.drain(lambda sid: None)
    assert not out._ready and len(out._stalled) == 10_000
    out.stream_window_update(1, states[0], 100)
    out.drain(lambda sid: None)
    assert states[0].queued is None and len(out._stalled) == 9_999
    out.frames.clear()
    out.peer_initial_window(0)  # no change: nobody moves
    assert not out._ready
    out.peer_initial_window(11)
    assert len(out._ready) == 9_999
    out.drain(lambda sid: None)
    assert not out._ready and not out._stalled and out.queued_bytes == 0


async def test_a_truncated_last_message_ends_the_call_with_an_error(
    server: ExtProcServer,
) -> None:
    async with connect(server.port) as peer:
        peer.send_headers(1)
        message = grpc(headers(eos=True).SerializeToString())
        peer.conn.send_data(1, message[: len(message) // 2], end_stream=True)
        peer.flush()
        await peer.until(lambda: 1 in peer.ended)
        assert peer.status(1) == 13


async def test_streams_reset_after_their_messages_do_not_count_as_rapid_reset() -> None:
    """Envoy ends each ext_proc stream it is done with by RST_STREAM: never a flood."""
    settings = ExtProcSettings(
        port=0, transport="inline", grace_seconds=0, limits=Limits(reset_burst=20, reset_rate=1)
    )
    async with ExtProcServer(ScriptedDirector(), settings) as server:
        async with connect(server.port) as peer:
            for sid in range(1, 121, 2):
                await route(peer, sid)
                peer.conn.reset_stream(sid)
            await route(peer, 121)
        assert goaway_code(peer) is None


async def test_messages_wait_while_answers_pile_up_for_a_peer_that_grants_no_window() -> None:
    """Past ``max_queued_bytes`` of unsent answers, later messages stay with the connection
    (their window not given back) until the peer opens its windows; then all are answered."""
    director = ScriptedDirector()
    settings = ExtProcSettings(
        port=0, transport="inline", grace_seconds=0, limits=Limits(max_queued_bytes=300)
    )
    async with ExtProcServer(director, settings) as server:
        async with connect(server.port, {INITIAL_WINDOW_SIZE: 0}, auto_grant=False) as peer:
            streams = list(range(1, 21, 2))
            for sid in streams:
                peer.send_headers(sid)
                peer.send_message(sid, headers(eos=True).SerializeToString())
            peer.write_raw(raw_frame(0x6, 0, 0, b"12345678"))
            await peer.until(lambda: peer.count(h2.events.PingAckReceived) >= 1)
            held = len(streams) - len(director.requests)
            assert 0 < len(director.requests) < len(streams)
            peer.conn.update_settings({INITIAL_WINDOW_SIZE: 65_535})
            peer.flush()
            await peer.until(
                lambda: all(len(answers(bytes(peer.data.get(s, b"")))) for s in streams)
            )
        assert held and len(director.requests) == len(streams)


async def test_a_settings_frame_of_thousands_of_entries_is_refused(server: ExtProcServer) -> None:
    async with connect(server.port) as peer:
        entry = (0x4).to_bytes(2, "big") + (65_535).to_bytes(4, "big")
        peer.write_raw(raw_frame(0x4, 0, 0, entry * 5_000))
        await peer.read_to_eof()
        assert goaway_code(peer) == ENHANCE_YOUR_CALM
