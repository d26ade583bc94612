"""``prefix-cache-scorer``: route a prompt to the server most likely to hold its prefix.

The EPP cannot see a server's KV cache, so it keeps an approximate index of what it has
sent where. A prompt is cut into fixed 64-byte blocks of its UTF-8 text (upstream: 16
tokens x 4 chars; Go strings are bytes, so upstream blocks are bytes too). Hashes are
chained xxhash64: the seed is the hash of the target model and block i hashes its bytes
followed by the previous hash as 8 little-endian bytes, so equal hashes mean equal
prefixes. Only full blocks count, at most ``maxPrefixBlocksToMatch``. The score of a
server is the number of leading blocks it holds divided by the request's block count.
After each pick the framework calls ``on_picked`` and the request's blocks are recorded
for the chosen server in a per-server LRU (``lruCapacityPerServer``), whose evictions
also leave the reverse map hash -> servers.

The index is built so that the garbage collector need not walk it: with a set of servers
per block and an ``OrderedDict`` LRU per server, 100 servers with full LRUs (3.1 million
blocks) made every full collection stall the loop ~650 ms. A block held by one server (most
blocks: the prompts' own tails) maps to the server's name in a dict of strings, only the
blocks held by several keep a set, and the LRUs are ``_block_lru.BlockLru`` (ints only):
dicts and arrays of untracked values are not tracked, so the collection never enters them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import xxhash
from pydantic import BaseModel, Field

from inference_gateway.datastore.types import Endpoint
from inference_gateway.scheduling.framework import CycleState, Params, Plugin, PluginHandle
from inference_gateway.scheduling.plugins._block_lru import BlockLru
from inference_gateway.scheduling.types import LLMRequest

_HASHES_KEY = "prefix-cache-scorer/hashes"
# Matches kept for the metrics side between two reads (a scrape every 10 s at ~400 req/s).
_MAX_PENDING_MATCHES = 4096
_SHARES_KEY = "prefix-cache-scorer/shares"


class PrefixParams(Params):
    blockSize: int = Field(default=64, ge=1)
    """Characters (UTF-8 bytes) per block: upstream's 16 tokens x 4 chars per token."""
    maxPrefixBlocksToMatch: int = Field(default=256, ge=1)
    """256 blocks of 64 chars is about 4,096 tokens, the upstream default."""
    lruCapacityPerServer: int = Field(default=31250, ge=1)
    """Upstream sizing: (80 GB - 16 GB weights) / 128 KB per token = 500k tokens / 16."""


def block_hashes(text: str, model: str, block_size: int, max_blocks: int) -> list[int]:
    # surrogatepass: a lone surrogate is legal in JSON (``\ud800``) but not in UTF-8.
    data = text.encode("utf-8", "surrogatepass")
    n = min(len(data) // block_size, max_blocks)
    prev = xxhash.xxh64_intdigest(model.encode("utf-8", "surrogatepass"))
    out: list[int] = []
    for i in range(n):
        start = i * block_size
        prev = xxhash.xxh64_intdigest(data[start : start + block_size] + prev.to_bytes(8, "little"))
        out.append(prev)
    return out


class PrefixCacheScorer(Plugin):
    TYPE = "prefix-cache-scorer"
    Params: ClassVar[type[BaseModel]] = PrefixParams

    def __init__(self, name: str, params: BaseModel, handle: PluginHandle) -> None:
        super().__init__(name, params, handle)
        assert isinstance(params, PrefixParams)
        self.params = params
        self._lru: dict[str, BlockLru] = {}
        self._single: dict[int, str] = {}
        """hash -> the one server holding it."""
        self._shared: dict[int, set[str]] = {}
        """hash -> the servers holding it, when two or more do."""
        self._matches: list[tuple[int, int]] = []

    def hashes(self, request: LLMRequest, cycle_state: CycleState) -> list[int]:
        cached: list[int] | None = cycle_state.get(_HASHES_KEY)
        if cached is None:
            p = self.params
            cached = block_hashes(
                request.prompt, request.target_model, p.blockSize, p.maxPrefixBlocksToMatch
            )
            cycle_state[_HASHES_KEY] = cached
        return cached

    def matches(self, hashes: Sequence[int]) -> dict[str, float]:
        """Share of the request's blocks each server holds as an unbroken prefix.

        Works level by level on sets: a server leaving the surviving set at block ``i``
        holds ``i`` leading blocks. Only set operations and ``dict.fromkeys`` touch every
        holder, so a prefix held by all of a large pool stays cheap.
        """
        total = len(hashes)
        single, shared = self._single, self._shared
        shares: dict[str, float] = {}
        alive: set[str] = set()
        depth = 0
        for h in hashes:
            one = single.get(h)
            if one is None:
                several = shared.get(h)
                if several is None:
                    break
                survivors = several if depth == 0 else alive & several
            elif one in alive:  # most often the one server still matching
                survivors = alive if len(alive) == 1 else {one}
            else:
                survivors = {one} if depth == 0 else set()
            if depth and len(survivors) < len(alive):
                shares.update(dict.fromkeys(alive - survivors, depth / total))
            alive, depth = survivors, depth + 1
            if not alive:
                break
        shares.update(dict.fromkeys(alive, depth / total))
        return shares

    def shares(self, request: LLMRequest, cycle_state: CycleState) -> dict[str, float]:
        """``matches`` for this cycle's request, computed once per cycle (the latency
        predictor reads it too, for its prefix-hit estimate)."""
        cached: dict[str, float] | None = cycle_state.get(_SHARES_KEY)
        if cached is None:
            hashes = self.hashes(request, cycle_state)
            cached = self.matches(hashes) if hashes else {}
            cycle_state[_SHARES_KEY] = cached
        return cached

    def score(
        self, request: LLMRequest, endpoints: Sequence[Endpoint], cycle_state: CycleState
    ) -> list[float]:
        shares = self.shares(request, cycle_state)
        if len(self._matches) < _MAX_PENDING_MATCHES:
            hashes = self.hashes(request, cycle_state)
            if hashes:
                longest = round(max(shares.values(), default=0.0) * len(hashes)) if shares else 0
                size = self.params.blockSize
                self._matches.append((longest * size, len(hashes) * size))
        if not shares:
            return [0.0] * len(endpoints)
        get = shares.get
        return [get(e.name, 0.0) for e in endpoints]

    def on_picked(self, request: LLMRequest, endpoint: Endpoint, cycle_state: CycleState) -> None:
        server = endpoint.name
        lru = self._lru.get(server)
        if lru is None:
            lru = self._lru[server] = BlockLru()
        single, shared = self._single, self._shared
        for h in lru.use(self.hashes(request, cycle_state)):
            if h in shared:
                shared[h].add(server)
            elif (one := single.setdefault(h, server)) is not server:
                shared[h] = {one, server}
                del single[h]
        capacity = self.params.lruCapacityPerServer
        while len(lru) > capacity:
            self._release(lru.pop_oldest(), server)

    def _release(self, h: int, server: str) -> None:
        """``server`` no longer holds block ``h``: a set left with one holder becomes its
        name again."""
        several = self._shared.get(h)
        if several is None:
            if self._single.get(h) == server:
                del self._single[h]
            return
        several.discard(server)
        if len(several) == 1:
            del self._shared[h]
            self._single[h] = several.pop()
        elif not several:
            del self._shared[h]

    def forget(self, server: str) -> None:
        """Drop a server that left the pool (upstream purges these every 2 minutes)."""
        for h in self._lru.pop(server, ()):
            self._release(h, server)

    def indexed_blocks(self, server: str) -> int:
        return len(self._lru.get(server, ()))

    # --- read by the metrics side (upstream's prefix_indexer_* metrics) -------------------
    def index_size(self) -> int:
        """Entries (block, server) in the index: upstream's ``prefix_indexer_size``."""
        return sum(map(len, self._lru.values()))

    def take_matches(self) -> list[tuple[int, int]]:
        """(longest matched bytes, prompt bytes looked up) of each request scored since the
        last call, oldest first; at most ``_MAX_PENDING_MATCHES`` are kept in between."""
        taken, self._matches = self._matches, []
        return taken
