"""What every hostile-peer test uses: the EPP child, a well-behaved probe, raw HTTP/2 frames.

The attacker writes frames by hand (nothing in ``h2`` would send most of them), on its own
TCP connection; the probe is grpcio's client on another connection, doing a real ext_proc
exchange (request headers in, the routing answer out) before, during and after the attack.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import struct
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import grpc
import hpack
from envoy.service.ext_proc.v3 import external_processor_pb2 as pb
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc as pb_grpc

from tests.unit.extproc.test_server import headers

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY = range(8)
WINDOW_UPDATE, CONTINUATION = 8, 9
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1
PROTOCOL_ERROR, FLOW_CONTROL_ERROR, REFUSED_STREAM = 0x1, 0x3, 0x7
COMPRESSION_ERROR, ENHANCE_YOUR_CALM, NO_ERROR = 0x9, 0xB, 0x0
INITIAL_WINDOW_SIZE = 0x4
PROCESS = b"/envoy.service.ext_proc.v3.ExternalProcessor/Process"

RSS_BUDGET = 64 * 1024 * 1024
STALL_BUDGET_MS = 100.0
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    return (
        struct.pack(">I", len(payload))[1:]
        + bytes([kind, flags])
        + struct.pack(">I", stream_id)
        + payload
    )


def settings(**values: int) -> bytes:
    codes = {"INITIAL_WINDOW_SIZE": 0x4, "MAX_FRAME_SIZE": 0x5, "HEADER_TABLE_SIZE": 0x1}
    body = b"".join(struct.pack(">HI", codes[k], v) for k, v in values.items())
    return frame(SETTINGS, 0, 0, body)


def _literal(name: bytes, value: bytes) -> bytes:
    """A header field "without indexing", literal name (lengths under 127, no Huffman)."""
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value


REQUEST_BLOCK = b"".join(
    _literal(k, v)
    for k, v in (
        (b":method", b"POST"),
        (b":scheme", b"http"),
        (b":path", PROCESS),
        (b":authority", b"epp"),
        (b"content-type", b"application/grpc"),
        (b"te", b"trailers"),
    )
)
"""The request headers of a Process call, touching no HPACK table (so it can be resent)."""
HEADERS_MESSAGE = headers(eos=True).SerializeToString()


def grpc_message(message: bytes, declared: int | None = None) -> bytes:
    size = len(message) if declared is None else declared
    return b"\x00" + struct.pack(">I", size) + message


def open_stream(stream_id: int, *, end_stream: bool = False) -> bytes:
    return frame(HEADERS, END_HEADERS | (END_STREAM if end_stream else 0), stream_id, REQUEST_BLOCK)


def request(stream_id: int) -> bytes:
    """A whole bodiless ext_proc request on a new stream: the server routes and answers it."""
    return open_stream(stream_id) + frame(
        DATA, END_STREAM, stream_id, grpc_message(HEADERS_MESSAGE)
    )


@dataclass
class Seen:
    """Frames read back from the server, as far as an attack cares."""

    goaway: int | None = None
    resets: dict[int, int] = field(default_factory=dict)
    headers: dict[int, dict[bytes, bytes]] = field(default_factory=dict)
    eof: bool = False
    throttled: bool = False
    """A write of the attacker's did not drain: the server stopped reading."""
    initial_window: int = 65_535
    conn_window: int = 65_535
    stream_windows: dict[int, int] = field(default_factory=dict)
    """Granted by WINDOW_UPDATE beyond the initial window, per stream."""
    _buf: bytearray = field(default_factory=bytearray)
    _hpack: hpack.Decoder = field(default_factory=hpack.Decoder)

    def window(self, stream_id: int) -> int:
        return self.initial_window + self.stream_windows.get(stream_id, 0)

    def spend(self, stream_id: int, size: int) -> None:
        self.conn_window -= size
        self.stream_windows[stream_id] = self.stream_windows.get(stream_id, 0) - size

    def status(self, stream_id: int) -> bytes | None:
        return self.headers.get(stream_id, {}).get(b"grpc-status")

    def feed(self, chunk: bytes) -> None:
        buf = self._buf
        buf += chunk
        pos = 0
        while len(buf) - pos >= 9:
            size = int.from_bytes(buf[pos : pos + 3], "big")
            if len(buf) - pos < 9 + size:
                break
            kind, sid = buf[pos + 3], int.from_bytes(buf[pos + 5 : pos + 9], "big") & 0x7FFFFFFF
            body = bytes(buf[pos + 9 : pos + 9 + size])
            flags = buf[pos + 4]
            if kind == GOAWAY and self.goaway is None:
                self.goaway = int.from_bytes(body[4:8], "big")
            elif kind == RST_STREAM:
                self.resets[sid] = int.from_bytes(body[:4], "big")
            elif kind == WINDOW_UPDATE:
                increment = int.from_bytes(body[:4], "big")
                if sid == 0:
                    self.conn_window += increment
                else:
                    self.stream_windows[sid] = self.stream_windows.get(sid, 0) + increment
            elif kind == SETTINGS and not flags & ACK:
                for i in range(0, len(body), 6):
                    key, value = struct.unpack_from(">HI", body, i)
                    if key == INITIAL_WINDOW_SIZE:
                        self.initial_window = value
            elif kind == HEADERS and flags & END_HEADERS:  # no attack makes it CONTINUE
                fields = self._hpack.decode(body, raw=True)
                self.headers.setdefault(sid, {}).update((bytes(k), bytes(v)) for k, v in fields)
            pos += 9 + size
        del buf[:pos]


class Attacker:
    """One raw TCP connection; ``small_buffers`` so a peer that does not read shows soon."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.seen = Seen()
        self._background: asyncio.Task[Seen] | None = None
        self._fed = asyncio.Event()

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(cls, port: int, *, small_buffers: bool = False) -> AsyncIterator[Attacker]:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if small_buffers:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 * 1024)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=sock)
        attacker = cls(reader, writer)
        try:
            yield attacker
        finally:
            if attacker._background is not None:
                attacker._background.cancel()
                await asyncio.gather(attacker._background, return_exceptions=True)
            writer.transport.abort()

    async def send(self, data: bytes, *, within: float = 5.0) -> bool:
        """Write; False when the server stopped reading (the write did not drain in time:
        ``seen.throttled``) or closed the connection (``seen.eof``). Five seconds, not
        one: a server that reads slowly on a busy box must not pass for one that stopped,
        or the attack ends before a server that never stops has shown its memory."""
        if self.writer.transport.is_closing() or self.seen.eof:
            return False
        self.writer.write(data)
        try:
            await asyncio.wait_for(self.writer.drain(), within)
        except TimeoutError:
            self.seen.throttled = True
            return False
        except ConnectionError:
            self.seen.eof = True
            return False
        return True

    def write(self, data: bytes) -> None:
        """Queue ``data`` without waiting: ``flush`` waits for it to leave."""
        self.writer.write(data)

    def buffered(self) -> int:
        """Bytes written that have not yet left this process."""
        return self.writer.transport.get_write_buffer_size()

    async def flush(self, within: float) -> bool:
        """Wait until every byte written has left this process (the kernel took it, so the
        server has it or holds it in socket buffers of a few MB at most): False when it
        did not within ``within`` seconds, or the connection closed."""
        transport = self.writer.transport
        if not self.buffered():
            return True
        if transport.is_closing() or self.seen.eof:
            return False
        transport.set_write_buffer_limits(high=0)  # drain() now waits for an empty buffer
        try:
            await asyncio.wait_for(self.writer.drain(), within)
        except TimeoutError:
            return False
        except ConnectionError:
            self.seen.eof = True
            return False
        finally:
            transport.set_write_buffer_limits()
        return not self.buffered()

    def reading(self) -> None:
        """Read in the background until EOF or the end of the ``connect`` block."""
        self._background = asyncio.create_task(self._read(3600), name="hostile-attacker-read")

    async def read_for(self, seconds: float, until: Callable[[Seen], bool] | None = None) -> Seen:
        """Read what comes for up to ``seconds`` (or until ``until`` holds, or EOF)."""
        if self._background is None:
            return await self._read(seconds, until)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not self.seen.eof and (until is None or not until(self.seen)):
            self._fed.clear()
            if self._background.done() or loop.time() >= deadline:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._fed.wait(), deadline - loop.time())
        return self.seen

    async def _read(self, seconds: float, until: Callable[[Seen], bool] | None = None) -> Seen:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not self.seen.eof and (until is None or not until(self.seen)):
            left = deadline - loop.time()
            if left <= 0:
                break
            try:
                chunk = await asyncio.wait_for(self.reader.read(1 << 20), left)
            except TimeoutError:
                break
            except (ConnectionError, OSError):
                chunk = b""
            if not chunk:
                self.seen.eof = True
                break
            self.seen.feed(chunk)
            self._fed.set()
        self._fed.set()
        return self.seen


class Epp:
    """The child EPP process (``tests.hostile.child``)."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int) -> None:
        self.proc, self.port = proc, port

    @classmethod
    @contextlib.asynccontextmanager
    async def run(cls, transport: str, **limits: float) -> AsyncIterator[Epp]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.hostile.child",
            transport,
            json.dumps(limits),
            cwd=_ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            assert proc.stdout is not None
            async with asyncio.timeout(30):
                line = await proc.stdout.readline()
            assert line.startswith(b"PORT "), line
            yield cls(proc, int(line.split()[1]))
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

    def _status(self, key: str) -> int:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
        raise AssertionError(key)

    def rss(self) -> int:
        return self._status("VmRSS")

    def peak_rss(self) -> int:
        """The most the process ever held (``VmHWM``): read after the attack, it bounds the
        attack's peak from above, whenever in between it came."""
        return self._status("VmHWM")

    async def stop(self) -> float:
        """End the child; the longest loop stall it saw, in milliseconds."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        try:
            async with asyncio.timeout(5):  # under a second when all is well
                await self.proc.wait()
        except TimeoutError:  # seen with grpcio after a PING flood: not a bound we assert
            self.proc.kill()
            await self.proc.wait()
        out = await self.proc.stdout.read()
        lines = [ln for ln in out.decode().splitlines() if ln.startswith("STALL ")]
        assert lines, out
        return float(lines[-1].split()[1])


class Probe:
    """grpcio's client on its own connection: one real ext_proc exchange per ``exchange``."""

    def __init__(self, port: int) -> None:
        self._channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        self._stub = pb_grpc.ExternalProcessorStub(self._channel)
        self.done = 0

    async def exchange(self, within: float = 5.0) -> None:
        async with asyncio.timeout(within):
            call = self._stub.Process()
            await call.write(headers(eos=True))
            answer: pb.ProcessingResponse = await call.read()
            assert answer.HasField("request_headers"), answer
            await call.done_writing()
            while await call.read() != grpc.aio.EOF:
                pass
            assert await call.code() == grpc.StatusCode.OK
        self.done += 1

    async def close(self) -> None:
        await self._channel.close()


Hold = Callable[[], Coroutine[Any, Any, None]]
"""An attack awaits it with its damage done and its connection still open: it returns once
the probe has completed one more exchange."""


@dataclass
class Outcome:
    seen: Seen
    peak_growth: int
    stall_ms: float
    probes_during: int


async def under_attack(
    transport: str,
    attack: Callable[[int, Hold], Coroutine[Any, Any, Seen]],
    **limits: float,
) -> Outcome:
    """Run ``attack(port)`` against a fresh EPP while the probe exchanges every 0.2 s; then
    probe once more and measure. Every probe must succeed."""
    async with Epp.run(transport, **limits) as epp:
        probe = Probe(epp.port)
        try:
            await probe.exchange()
            base = epp.rss()
            stop, exchanged = asyncio.Event(), asyncio.Event()

            async def probing() -> None:
                while not stop.is_set():
                    await probe.exchange()
                    exchanged.set()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), 0.2)

            async def hold() -> None:
                exchanged.clear()
                async with asyncio.timeout(10):
                    await exchanged.wait()

            prober = asyncio.create_task(probing(), name="hostile-probe")
            try:
                seen = await attack(epp.port, hold)
            finally:
                stop.set()
                await prober  # a failed probe fails the test here
            during = probe.done - 1
            await probe.exchange()
        finally:
            await probe.close()
        growth = epp.peak_rss() - base
        stall = await epp.stop()
    return Outcome(seen, growth, stall, during)


def assert_bounded(outcome: Outcome) -> None:
    assert outcome.peak_growth < RSS_BUDGET, f"RSS grew {outcome.peak_growth >> 20} MiB"
    assert outcome.stall_ms < STALL_BUDGET_MS, f"loop stalled {outcome.stall_ms:.0f} ms"
    assert outcome.probes_during >= 1
