"""Each attack of issue 13 against a real EPP process, on both ext_proc transports.

Every test asserts the same bound (``assert_bounded``): the EPP's peak RSS grows by less than
64 MB, its loop never runs 100 ms of CPU without a break, and a grpcio client on another
connection completes a real ext_proc exchange during the attack (with the attacking
connection still open) and after it; plus the attack's own outcome: the connection is closed
with the right GOAWAY code, or the peer is throttled (the server stops reading it, or stops
granting it window). Where grpcio does not hold a bound, the test is an ``xfail(strict=True)``
naming the gap (README, "Security").
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import pytest

from tests.hostile.harness import (
    CONTINUATION,
    DATA,
    END_HEADERS,
    END_STREAM,
    ENHANCE_YOUR_CALM,
    FLOW_CONTROL_ERROR,
    HEADERS,
    HEADERS_MESSAGE,
    PING,
    PREFACE,
    REFUSED_STREAM,
    REQUEST_BLOCK,
    RST_STREAM,
    Attacker,
    Hold,
    Seen,
    assert_bounded,
    frame,
    grpc_message,
    open_stream,
    request,
    settings,
    under_attack,
)

pytestmark = pytest.mark.timeout(90)

INLINE = pytest.param("inline", id="inline")


@dataclass
class Flood:
    """What a flooding attacker did: bytes sent (each counted against its window), whether
    it ended for want of window, and whether every byte left it before the measurement."""

    sent: int = 0
    windowless: bool = False
    delivered: bool = False


def grpcio(gap: str | None = None, *, strict: bool = True) -> object:
    """The grpcio transport, expected to fail where it has a ``gap`` (``strict``: and a
    pass fails the run, so that a fixed gap is noticed)."""
    marks = [pytest.mark.xfail(strict=strict, reason=f"grpcio: {gap}")] if gap else []
    return pytest.param("grpcio", id="grpcio", marks=marks)


HELLO = PREFACE + settings()
MB = 1024 * 1024


@pytest.mark.parametrize("transport", [INLINE, grpcio()])
async def test_zero_window_streams_with_queued_answers(transport: str) -> None:
    """3,000 routed requests whose answers wait at a zero window, then 2,000 SETTINGS:
    the streams past the limit are refused (and a peer that keeps opening them is told to
    calm down), and the bookkeeping visits only streams that can move."""

    async def attack(port: int, hold: Hold) -> Seen:
        async with Attacker.connect(port) as peer:
            peer.reading()
            await peer.send(PREFACE + settings(INITIAL_WINDOW_SIZE=0))
            for batch in range(15):
                if not await peer.send(
                    b"".join(request(2 * (batch * 200 + i) + 1) for i in range(200))
                ):
                    break
            await peer.send(settings(INITIAL_WINDOW_SIZE=0) * 2000)
            await hold()
            return await peer.read_for(3, until=lambda s: bool(s.resets) or s.goaway is not None)

    outcome = await under_attack(transport, attack)
    seen = outcome.seen
    refused = {REFUSED_STREAM, ENHANCE_YOUR_CALM} & set(seen.resets.values())
    assert refused or seen.goaway == ENHANCE_YOUR_CALM
    assert_bounded(outcome)


@pytest.mark.parametrize("transport", [INLINE, grpcio()])
async def test_ping_and_settings_flood_from_a_peer_that_does_not_read(transport: str) -> None:
    async def attack(port: int, hold: Hold) -> Seen:
        async with Attacker.connect(port, small_buffers=True) as peer:
            await peer.send(HELLO)
            flood = frame(PING, 0, 0, b"12345678") * 1000 + settings() * 100
            for _ in range(1000):  # up to 18 MB
                if not await peer.send(flood):
                    break
            await hold()
            await peer.read_for(3, until=lambda s: s.goaway is not None)
            return peer.seen

    seen = (outcome := await under_attack(transport, attack)).seen
    if transport == "inline":  # past 1,000 acknowledgements queued, as nghttp2, it closes
        assert seen.goaway == ENHANCE_YOUR_CALM or seen.eof, seen  # (a GOAWAY unread: eof)
    else:  # grpc core reads on, slowly, and closes the connection
        assert seen.goaway == ENHANCE_YOUR_CALM or seen.throttled or seen.eof
    assert_bounded(outcome)


@pytest.mark.parametrize("transport", [INLINE, grpcio()])
async def test_one_byte_headers_to_an_unknown_path_from_a_peer_that_does_not_read(
    transport: str,
) -> None:
    async def attack(port: int, hold: Hold) -> Seen:
        async with Attacker.connect(port, small_buffers=True) as peer:
            await peer.send(HELLO)
            sid = 1
            for _ in range(200):  # up to 2M streams, 20 MB
                batch = b"".join(
                    frame(HEADERS, END_HEADERS | END_STREAM, sid + 2 * i, b"\x84")
                    for i in range(10_000)
                )
                sid += 20_000
                if not await peer.send(batch):
                    break
            await hold()
            return peer.seen

    seen = (outcome := await under_attack(transport, attack)).seen
    assert seen.throttled or seen.eof
    assert_bounded(outcome)


@pytest.mark.parametrize("transport", [INLINE, grpcio()])
async def test_data_beyond_the_window_is_a_flow_control_error(transport: str) -> None:
    """40 streams each send 1 MiB of a 2 MiB message, paying no attention to windows: the
    server holds every byte (no message completes), so the peer overruns its window."""

    async def attack(port: int, hold: Hold) -> Seen:
        async with Attacker.connect(port) as peer:
            peer.reading()
            await peer.send(HELLO)
            for sid in range(1, 81, 2):
                first = frame(DATA, 0, sid, grpc_message(b"", 2 * MB) + bytes(16 * 1024 - 5))
                rest = frame(DATA, 0, sid, bytes(16 * 1024)) * 63
                data = open_stream(sid) + first + rest
                if not await peer.send(data) or peer.seen.goaway is not None:
                    break
            await hold()
            await peer.read_for(2, until=lambda s: s.goaway is not None or bool(s.resets))
            return peer.seen

    seen = (outcome := await under_attack(transport, attack)).seen
    if transport == "inline":
        assert seen.goaway == FLOW_CONTROL_ERROR
    else:  # grpc core resets each overrunning stream (PROTOCOL_ERROR), keeping the connection
        assert seen.goaway is not None or len(seen.resets) >= 10
    assert_bounded(outcome)


@pytest.mark.parametrize(
    "transport",
    [
        INLINE,
        # Not strict: grpcio's hold is a race, 49-172 MB in five runs (under 64 MB in one).
        grpcio(
            "holds up to ~170 MB: it grants each stream window for the message announced, "
            "until it resets a varying share of the streams",
            strict=False,
        ),
    ],
)
async def test_many_streams_with_partial_messages_run_out_of_window(transport: str) -> None:
    """Messages of 15 MiB declared, never finished, on 200 streams, within every window
    the server grants (streams it resets are left alone): what it holds is bounded by the
    windows it stops granting.

    Every byte counted as sent has left the attacker before the server is measured. A
    write that had not drained once stayed in the attacker's own buffer, uncounted by the
    server's RSS."""
    budget, flood = 256 * MB, Flood()

    async def attack(port: int, hold: Hold) -> Seen:
        async with Attacker.connect(port) as peer:
            peer.reading()
            await peer.send(HELLO)
            await peer.read_for(1, until=lambda s: s.conn_window > 65_535)
            streams = list(range(1, 401, 2))
            for sid in streams:
                await peer.send(open_stream(sid) + frame(DATA, 0, sid, grpc_message(b"", 15 * MB)))
                peer.seen.spend(sid, 5)
            loop = asyncio.get_running_loop()
            idle_since = loop.time()

            def room(sid: int) -> int:
                if sid in peer.seen.resets:
                    return 0
                return min(peer.seen.conn_window, peer.seen.window(sid), 16 * 1024)

            while flood.sent < budget:
                progressed = False
                for sid in streams:
                    if (size := room(sid)) <= 0:
                        continue
                    peer.write(frame(DATA, 0, sid, bytes(size)))
                    peer.seen.spend(sid, size)
                    flood.sent += size
                    progressed = True
                    if peer.buffered() > MB and not await peer.flush(10.0):
                        break
                if peer.buffered() > MB:  # the server stopped reading: not this attack's bound
                    break
                if progressed:
                    idle_since = loop.time()
                elif loop.time() - idle_since >= 10.0:
                    flood.windowless = True  # 10 s without window: it stopped granting any
                    break
                else:  # wait for a WINDOW_UPDATE, if one comes
                    await peer.read_for(0.2, until=lambda s: any(room(i) > 0 for i in streams))
            flood.delivered = await peer.flush(30.0)
            await hold()
            return peer.seen

    seen = (outcome := await under_attack(transport, attack)).seen
    assert flood.delivered, f"{flood.sent >> 20} MiB written, not all taken by the server"
    if transport == "inline":  # it stops granting window; grpc core resets streams instead
        assert flood.windowless and flood.sent < budget and not seen.resets, flood
    assert_bounded(outcome)


def _table_size_updates(size: int) -> bytes:
    pair = b"\x20" + b"\x3f\xe1\x1f"  # size update to 0, then to 4,096
    return (pair * (size // len(pair) + 1))[:size]


@pytest.mark.parametrize("transport", [INLINE, grpcio()])
async def test_hpack_table_size_update_bomb(transport: str) -> None:
    """64 KiB header blocks made only of table size updates, one per connection."""

    async def attack(port: int, hold: Hold) -> Seen:
        outcomes: list[Seen] = []
        for _ in range(10):
            async with Attacker.connect(port) as peer:
                block = _table_size_updates(16 * 1024)
                data = HELLO + frame(HEADERS, 0, 1, block)
                data += frame(CONTINUATION, 0, 1, block) * 2
                data += frame(CONTINUATION, END_HEADERS, 1, block)
                await peer.send(data)
                outcomes.append(await peer.read_for(2, until=lambda s: s.goaway is not None))
        await hold()
        return outcomes[-1]

    seen = (outcome := await under_attack(transport, attack)).seen
    assert seen.goaway is not None or seen.eof
    assert_bounded(outcome)


@pytest.mark.parametrize("transport", [INLINE, grpcio()])
async def test_empty_continuation_flood(transport: str) -> None:
    async def attack(port: int, hold: Hold) -> Seen:
        async with Attacker.connect(port) as peer:
            peer.reading()
            await peer.send(HELLO + frame(HEADERS, 0, 1, REQUEST_BLOCK[:10]))
            empty = frame(CONTINUATION, 0, 1) * 10_000
            for _ in range(200):  # up to 2M frames, 18 MB
                if not await peer.send(empty) or peer.seen.goaway is not None:
                    break
            await hold()
            await peer.read_for(2, until=lambda s: s.goaway is not None)
            return peer.seen

    seen = (outcome := await under_attack(transport, attack)).seen
    assert seen.goaway is not None or seen.eof
    assert_bounded(outcome)


@pytest.mark.parametrize(
    "transport", [INLINE, grpcio("rapid reset: no GOAWAY, no limit on streams reset per second")]
)
async def test_rapid_reset_is_told_to_calm_down(transport: str) -> None:
    async def attack(port: int, hold: Hold) -> Seen:
        async with Attacker.connect(port) as peer:
            peer.reading()
            await peer.send(HELLO)
            cancel = (8).to_bytes(4, "big")
            sid = 1
            for _ in range(50):  # up to 50,000 streams
                batch = b"".join(
                    open_stream(sid + 2 * i) + frame(RST_STREAM, 0, sid + 2 * i, cancel)
                    for i in range(1000)
                )
                sid += 2000
                if not await peer.send(batch) or peer.seen.goaway is not None:
                    break
            await hold()
            await peer.read_for(2, until=lambda s: s.goaway is not None)
            return peer.seen

    seen = (outcome := await under_attack(transport, attack)).seen
    assert seen.goaway == ENHANCE_YOUR_CALM
    assert_bounded(outcome)


@pytest.mark.parametrize("transport", [INLINE, grpcio("no timeout for a missing preface")])
async def test_a_connection_without_a_preface_is_closed_in_time(transport: str) -> None:
    async def attack(port: int, hold: Hold) -> Seen:
        async with Attacker.connect(port) as peer:
            await hold()
            return await peer.read_for(5)

    seen = (outcome := await under_attack(transport, attack, preface_timeout=0.5)).seen
    assert seen.eof
    assert_bounded(outcome)


@pytest.mark.parametrize("transport", [INLINE, grpcio()])
async def test_an_idle_connection_is_closed_with_goaway(transport: str) -> None:
    async def attack(port: int, hold: Hold) -> Seen:
        async with Attacker.connect(port) as peer:
            await peer.send(HELLO)
            await hold()
            return await peer.read_for(5, until=lambda s: s.goaway is not None)

    seen = (outcome := await under_attack(transport, attack, idle_timeout=1.0)).seen
    assert seen.goaway is not None
    assert_bounded(outcome)


@pytest.mark.parametrize("transport", [INLINE, grpcio("no cap on connections")])
async def test_connections_past_the_cap_are_closed(transport: str) -> None:
    """20 idle connections against a cap of 8: idle ones make room for new ones (so they
    cannot lock Envoy out), and no more than 8 are ever open; the probe's, which has opened
    streams, is kept."""

    async def attack(port: int, hold: Hold) -> Seen:
        async with contextlib.AsyncExitStack() as stack:
            peers = []
            for _ in range(20):
                peer = await stack.enter_async_context(Attacker.connect(port))
                peer.reading()
                await peer.send(HELLO)
                peers.append(peer)
            await hold()
            await asyncio.gather(*(p.read_for(1, until=lambda s: s.eof) for p in peers))
            result = Seen()
            result.eof = sum(p.seen.eof for p in peers) >= 13  # the probe holds one of 8
            return result

    seen = (outcome := await under_attack(transport, attack, max_connections=8)).seen
    assert seen.eof
    assert_bounded(outcome)


@pytest.mark.parametrize("transport", [INLINE, grpcio("a truncated final message ends with OK")])
async def test_a_truncated_final_message_does_not_end_with_ok(transport: str) -> None:
    async def attack(port: int, hold: Hold) -> Seen:
        async with Attacker.connect(port) as peer:
            message = grpc_message(HEADERS_MESSAGE)
            cut = message[: len(message) // 2]
            await peer.send(HELLO + open_stream(1) + frame(DATA, END_STREAM, 1, cut))
            await peer.read_for(3, until=lambda s: s.status(1) is not None or 1 in s.resets)
            await hold()
            return peer.seen

    seen = (outcome := await under_attack(transport, attack)).seen
    assert 1 in seen.resets or seen.status(1) not in (None, b"0")
    assert_bounded(outcome)
