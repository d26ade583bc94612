"""HPACK decoding that remembers header blocks which left the dynamic table unchanged.

Envoy opens every ext_proc stream with the same header block, its ``:path`` a Huffman
literal that it never adds to the table, so the pure-Python decoder would redo the same
work for each request. A block that neither added an entry nor resized the table decodes
the same way as long as the table does not change; any block that changes it empties the
cache. The table's identity is read from ``hpack``'s ``HeaderTable``: a new entry always
goes to the front as a new tuple, so length, first entry (by identity) and size limit
together show a change.
"""

from __future__ import annotations

import hpack

_MAX_ENTRIES = 64

Headers = list[tuple[bytes, bytes]]


class CachingDecoder:
    def __init__(self) -> None:
        self._decoder = hpack.Decoder()
        self._table = self._decoder.header_table
        self._cache: dict[bytes, Headers] = {}

    def decode(self, block: bytes) -> Headers:
        """Decode ``block``; raises ``hpack.HPACKError`` as hpack does. Do not mutate the result."""
        found = self._cache.get(block)
        if found is not None:
            return found
        before = self._state()
        headers: Headers = [(bytes(k), bytes(v)) for k, v in self._decoder.decode(block, raw=True)]
        after = self._state()
        if after[0] != before[0] or after[1] is not before[1] or after[2] != before[2]:
            self._cache.clear()
            return headers
        if len(self._cache) >= _MAX_ENTRIES:
            self._cache.clear()
        self._cache[block] = headers
        return headers

    def _state(self) -> tuple[int, object, int]:
        # The first entry itself, not its id(): held here, it cannot be freed during the
        # decode and its address handed to an entry the block adds.
        entries = self._table.dynamic_entries
        return len(entries), entries[0] if entries else None, self._table.maxsize
