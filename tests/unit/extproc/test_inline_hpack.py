"""HPACK on the inline server: the caching decoder agrees with ``hpack``; our table is 0."""

from __future__ import annotations

import h2.settings
import hpack
import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from inference_gateway.extproc._inline.hpack_cache import CachingDecoder, TooManyTableUpdates
from inference_gateway.extproc.server import ExtProcServer, ExtProcSettings
from tests.unit.extproc.test_inline_http2 import HEADERS, connect, route
from tests.unit.extproc.test_server import ScriptedDirector

# Few distinct names and values, so blocks repeat (cache hits) and entries get reused.
_names = st.sampled_from([b"a", b"x-long-name-" + b"n" * 40, b":path", b"content-type"])
_values = st.sampled_from([b"", b"1", b"v" * 30, b"/envoy.Process", b"application/grpc"])
_header_list = st.lists(st.tuples(_names, _values), min_size=0, max_size=4)
# A step encodes one header list (sensitive: never indexed) or resizes the encoder's table.
_step = st.one_of(
    st.tuples(st.just("block"), _header_list, st.booleans()),
    st.tuples(st.just("resize"), st.sampled_from([0, 48, 64, 100, 200, 4096]), st.just(False)),
)


@settings(max_examples=150)
@given(steps=st.lists(_step, min_size=1, max_size=20), repeat=st.booleans())
def test_caching_decoder_decodes_as_a_fresh_hpack_decoder_does(
    steps: list[tuple[str, object, bool]], repeat: bool
) -> None:
    encoder = hpack.Encoder()
    blocks: list[bytes] = []
    for kind, arg, sensitive in steps:
        if kind == "resize":
            assert isinstance(arg, int)
            encoder.header_table_size = arg  # the next block starts with a size update
            continue
        assert isinstance(arg, list)
        fields = [
            hpack.HeaderTuple(n, v) if not sensitive else hpack.NeverIndexedHeaderTuple(n, v)
            for n, v in arg
        ]
        blocks.append(encoder.encode(fields, huffman=True))
        if repeat and blocks[-1] and len(blocks) % 2:
            # The same bytes again: a cache hit, if the first decode left the table alone.
            blocks.append(encoder.encode(fields, huffman=True))
    cached, plain = CachingDecoder(), hpack.Decoder()
    for block in blocks:
        if _leading_updates(block) > 2:  # RFC 7541 section 4.2 allows two; hpack takes any
            with pytest.raises(TooManyTableUpdates):
                cached.decode(block)
            return
        try:
            expected = [(bytes(k), bytes(v)) for k, v in plain.decode(block, raw=True)]
        except hpack.HPACKError:
            # hpack's encoder can lose a size update (0 then 48 sends only 48): both fail.
            with pytest.raises(hpack.HPACKError):
                cached.decode(block)
            return
        assert cached.decode(block) == expected


def _leading_updates(block: bytes) -> int:
    """Table size updates opening ``block`` (sizes here fit one byte or two)."""
    count, pos = 0, 0
    while pos < len(block) and block[pos] & 0xE0 == 0x20:
        count += 1
        pos += 1 if block[pos] & 0x1F != 0x1F else 2 + _continued(block, pos + 1)
    return count


def _continued(block: bytes, pos: int) -> int:
    extra = 0
    while block[pos + extra] & 0x80:
        extra += 1
    return extra


def test_a_block_of_many_table_size_updates_is_refused_before_decoding() -> None:
    """The HPACK size-update bomb: thousands of resizes in one block cost one byte each."""
    with pytest.raises(TooManyTableUpdates):
        CachingDecoder().decode(b"\x20\x3f\xe1\x1f" * 1000)


def test_a_block_that_adds_entries_is_never_cached() -> None:
    """Each block evicts the last one's entries: the table changes, its length does not."""
    encoder = hpack.Encoder()
    encoder.header_table_size = 80
    first = encoder.encode([(b"name-one", b"v" * 30)])
    both = encoder.encode([(b"name-two", b"w" * 30), (b"name-three", b"u" * 30)])
    again = encoder.encode([(b"name-three", b"u" * 30)])  # now indexed from the table
    cached, plain = CachingDecoder(), hpack.Decoder()
    for block in (first, both, both, again):
        expected = [(bytes(k), bytes(v)) for k, v in plain.decode(block, raw=True)]
        assert cached.decode(block) == expected


async def test_the_first_header_block_sets_our_table_to_zero_for_a_small_setting() -> None:
    settings_ = ExtProcSettings(port=0, transport="inline", grace_seconds=0)
    async with ExtProcServer(ScriptedDirector(), settings_) as server:
        async with connect(server.port, {h2.settings.SettingCodes.HEADER_TABLE_SIZE: 0}) as peer:
            await route(peer, 1)
            await route(peer, 3)
        blocks = [fr.payload for fr in peer.frames if fr.kind == HEADERS]
        assert blocks[0][0] == 0x20  # dynamic table size update to 0, then the fields
        assert all(block[0] != 0x20 for block in blocks[1:])
