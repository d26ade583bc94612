"""The KV block pool with prefix caching, counted the way vLLM v1 counts it.

Blocks are only counted, never materialised: ``used`` is the number of blocks referenced by
running sequences (a block shared through the prefix cache counts once). A full prompt block
is identified by its chained hash and stays cached after its last user leaves; such blocks
sit in an LRU list and count as free, like vLLM's free queue, until a fresh allocation evicts
the oldest. Freed blocks join the tail in reverse order (a sequence's last block first), so a
prompt's tail is evicted before its head, as in ``vllm/v1/core/block_pool.py``.

``PrefixHasher`` makes the chained hashes the pool is keyed by.
"""

from __future__ import annotations

import zlib
from collections import OrderedDict
from collections.abc import Sequence


class PrefixHasher:
    """Chained block hashes: a block's hash covers every block before it, as in vLLM.

    The chain starts from a seed per adapter (the CRC-32 of its name, or of the base model's),
    so two prompts share cached blocks exactly as far as their leading blocks and adapter agree.
    """

    __slots__ = ("_model", "_seeds")

    def __init__(self, model: str) -> None:
        self._model = model
        self._seeds: dict[str | None, int] = {}

    def chain(self, adapter: str | None, block_keys: Sequence[int]) -> tuple[int, ...]:
        seed = self._seeds.get(adapter)
        if seed is None:
            seed = zlib.crc32((adapter or self._model).encode())
            self._seeds[adapter] = seed
        h, out = seed, []
        for key in block_keys:
            h = hash((h, key))
            out.append(h)
        return tuple(out)


class BlockPool:
    """Reference-counted KV blocks with an LRU of cached, unreferenced blocks."""

    __slots__ = ("_evictable", "_ref", "num_blocks", "used")

    def __init__(self, num_blocks: int) -> None:
        self.num_blocks = num_blocks
        self.used = 0
        self._ref: dict[int, int] = {}
        self._evictable: OrderedDict[int, None] = OrderedDict()

    @property
    def free(self) -> int:
        """Blocks a new allocation may take (truly free plus evictable cached ones)."""
        return self.num_blocks - self.used

    @property
    def cached_blocks(self) -> int:
        return len(self._ref)

    def lookup(self, hashes: Sequence[int], limit: int) -> int:
        """How many leading blocks of ``hashes`` (at most ``limit``) are cached."""
        ref = self._ref
        n = 0
        for h in hashes:
            if n >= limit or h not in ref:
                break
            n += 1
        return n

    def cost(self, hashes: Sequence[int], start: int, stop: int, private: int) -> int:
        """Blocks that acquiring ``hashes[start:stop]`` plus ``private`` would take."""
        ref = self._ref
        taken = private
        for i in range(start, stop):
            if ref.get(hashes[i], 0) == 0:
                taken += 1
        return taken

    def acquire(self, hashes: Sequence[int], start: int, stop: int, private: int) -> None:
        """Reference ``hashes[start:stop]`` (hits first, then fresh) and take ``private``.

        ``private`` is negative when a sequence's partial block fills up and becomes a
        hashed one; that block is handed back first so the count never overshoots.
        """
        if private < 0:
            self.used += private
        ref = self._ref
        missing = 0
        for i in range(start, stop):
            h = hashes[i]
            r = ref.get(h)
            if r is None:
                missing += 1
            elif r == 0:
                del self._evictable[h]
                self.used += 1
                ref[h] = 1
            else:
                ref[h] = r + 1
        if missing:
            self.take(missing)
            for i in range(start, stop):
                h = hashes[i]
                if h not in ref:
                    ref[h] = 1
        if private > 0:
            self.take(private)

    def take(self, n: int) -> None:
        """Allocate ``n`` uncached blocks, evicting least recently used cached blocks."""
        pure_free = self.num_blocks - self.used - len(self._evictable)
        if n > pure_free:
            evictable, ref = self._evictable, self._ref
            for _ in range(n - pure_free):
                h, _ = evictable.popitem(last=False)
                del ref[h]
        self.used += n

    def release(self, hashes: Sequence[int], held: int, private: int) -> None:
        """Drop one reference to ``hashes[:held]`` and free ``private`` blocks."""
        self.used -= private
        ref, evictable = self._ref, self._evictable
        for i in range(held - 1, -1, -1):
            h = hashes[i]
            r = ref[h] - 1
            ref[h] = r
            if r == 0:
                evictable[h] = None
                self.used -= 1
