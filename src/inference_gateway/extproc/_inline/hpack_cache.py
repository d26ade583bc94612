"""HPACK decoding that remembers header blocks which leave the dynamic table unchanged.

Envoy opens every ext_proc stream with the same header block, its ``:path`` a Huffman
literal that it never adds to the table, so the pure-Python decoder would redo the same
work for each request. Whether a block changes the table is read off its own bytes (RFC 7541
section 6): only a literal "with incremental indexing" (``01`` prefix) or a dynamic table
size update (``001``) does. A block with neither decodes the same way for as long as no
other block changes the table, so it is cached until one does. ``hpack`` is used only
through its public ``Decoder.decode``.

The same walk counts the table size updates that open a block: RFC 7541 section 4.2 allows
two, and a block of thousands (each a table resize in ``hpack``) is an old denial of service.
"""

from __future__ import annotations

import hpack

_MAX_ENTRIES = 64
_MAX_CACHED_BLOCK = 2048
"""Longer blocks are decoded every time: with 64 entries, a cache holds at most 128 KiB of
keys per connection (Envoy's ext_proc block is about 150 bytes)."""

Headers = list[tuple[bytes, bytes]]


class TooManyTableUpdates(hpack.HPACKDecodingError):
    """A block opens with more dynamic table size updates than RFC 7541 allows."""


class CachingDecoder:
    def __init__(self, max_table_updates: int = 2, max_header_list: int = 64 * 1024) -> None:
        self._decoder = hpack.Decoder(max_header_list_size=max_header_list)
        self._max_updates = max_table_updates
        self._cache: dict[bytes, Headers] = {}

    def decode(self, block: bytes) -> Headers:
        """Decode ``block``; raises ``hpack.HPACKError`` as hpack does. Do not mutate the result."""
        found = self._cache.get(block)
        if found is not None:
            return found
        changes = _changes_table(block, self._max_updates)
        headers: Headers = [(bytes(k), bytes(v)) for k, v in self._decoder.decode(block, raw=True)]
        if changes:
            self._cache.clear()
        elif len(block) <= _MAX_CACHED_BLOCK:
            if len(self._cache) >= _MAX_ENTRIES:
                self._cache.clear()
            self._cache[block] = headers
        return headers


def _changes_table(block: bytes, max_updates: int) -> bool:
    """Whether decoding ``block`` may change the dynamic table (a malformed block: True,
    so it is never cached; ``hpack`` then rejects it). Raises ``TooManyTableUpdates``."""
    pos, size, updates = 0, len(block), 0
    try:
        while pos < size and block[pos] & 0xE0 == 0x20:
            updates += 1
            if updates > max_updates:
                raise TooManyTableUpdates(f"{updates} table size updates in one block")
            pos = _skip_integer(block, pos, 5)
        if updates:
            return True
        while pos < size:
            first = block[pos]
            if first & 0x80:  # indexed field
                pos = _skip_integer(block, pos, 7)
                continue
            if first & 0xC0 == 0x40 or first & 0xE0 == 0x20:
                return True  # incremental indexing, or an update out of place
            has_name = (first & 0x0F) == 0
            pos = _skip_integer(block, pos, 4)
            if has_name:
                pos = _skip_string(block, pos)
            pos = _skip_string(block, pos)
    except IndexError:
        return True
    return False


def _skip_integer(block: bytes, pos: int, prefix_bits: int) -> int:
    limit = (1 << prefix_bits) - 1
    if block[pos] & limit != limit:
        return pos + 1
    pos += 1
    while block[pos] & 0x80:
        pos += 1
    return pos + 1


def _skip_string(block: bytes, pos: int) -> int:
    limit, length, shift = 0x7F, block[pos] & 0x7F, 0
    pos += 1
    if length == limit:
        while True:
            byte = block[pos]
            pos += 1
            length += (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
    if pos + length > len(block):
        raise IndexError
    return pos + length
