"""Response framing of the lean scrape client (the pure part; the wire is tested in integration)."""

from __future__ import annotations

import gzip

import pytest

from inference_gateway.modelserver._http import HTTPError, _parse

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"


def parse(raw: bytes, *, at_eof: bool = False) -> tuple[int, bytes, bool] | None:
    got = _parse(bytearray(raw), at_eof=at_eof)
    return None if got is None else (got.status, got.body, got.close)


def test_content_length_waits_for_the_whole_body() -> None:
    raw = HEAD + b"Content-Length: 5\r\n\r\nhello"
    assert parse(raw[:-1]) is None
    assert parse(raw) == (200, b"hello", False)


def test_chunked_body_is_joined_once_the_last_chunk_arrives() -> None:
    raw = HEAD + b"Transfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    assert parse(raw[:-4]) is None
    assert parse(raw) == (200, b"hello world", False)


def test_gzip_is_decoded_and_connection_close_reported() -> None:
    body = gzip.compress(b"vllm:num_requests_waiting 1\n")
    raw = HEAD + b"Content-Encoding: gzip\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % (
        len(body)
    )
    assert parse(raw + body) == (200, b"vllm:num_requests_waiting 1\n", True)


def test_read_to_close_body() -> None:
    raw = b"HTTP/1.0 500 Internal Server Error\r\n\r\noops"
    assert parse(raw) is None
    assert parse(raw, at_eof=True) == (500, b"oops", True)


@pytest.mark.parametrize(
    "raw",
    [
        b"<html>hello</html>\r\n\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        HEAD + b"Content-Length: x\r\n\r\n",
        HEAD + b"no colon here\r\n\r\n",
        HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
        HEAD + b"Content-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc",
    ],
)
def test_malformed_responses_raise(raw: bytes) -> None:
    with pytest.raises(HTTPError):
        _parse(bytearray(raw), at_eof=False)


def test_eof_inside_body_raises() -> None:
    with pytest.raises(HTTPError, match="inside the body"):
        _parse(bytearray(HEAD + b"Content-Length: 9\r\n\r\nabc"), at_eof=True)
