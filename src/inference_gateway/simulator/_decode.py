"""The decoding sequences as aggregates, so that a decode step costs O(1), not O(sequences).

A decoding sequence's token count is ``gstep - anchor`` (``gstep`` counts engine steps), so
nothing is updated per token. KV-block growth is counted per residue class of the sequence
length modulo ``block_size`` (``cnt``), context length is a running sum (``ssum``), and
finishes wait in a heap keyed by the step they happen at. Separate from the scheduler
because these invariants are the engine's speed trick and hold whatever the scheduling
policy; the scheduler and the engine join and leave the batch and read its counters (``d``,
``ssum``, ``cnt``) directly, as those reads sit on the per-step path.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

from inference_gateway.simulator._blocks import BlockPool
from inference_gateway.simulator._seq import DECODE, Seq

_NONE: tuple[Seq, ...] = ()


class DecodeBatch:
    __slots__ = ("alloc_upto", "bs", "cnt", "d", "finish", "ssum")

    def __init__(self, block_size: int) -> None:
        self.bs = block_size
        self.d = 0
        """Sequences decoding."""
        self.ssum = 0
        self.cnt = [0] * block_size
        self.finish: list[tuple[int, int, int, Seq]] = []
        """(step it finishes at, key, ver, seq); entries with an old ``ver`` are stale."""
        self.alloc_upto = 0
        """Decode growth has taken its blocks for every step before this one."""

    def join(self, seq: Seq) -> None:
        seq.state = DECODE
        seq.ver += 1
        c = seq.n - seq.anchor - 1
        seq.cls = c % self.bs
        self.cnt[seq.cls] += 1
        self.ssum += c
        self.d += 1
        heapq.heappush(self.finish, (seq.anchor + seq.m, seq.key, seq.ver, seq))

    def leave(self, seq: Seq, gstep: int) -> int:
        """Remove a decoding sequence from the aggregates; return its private blocks."""
        self.cnt[seq.cls] -= 1
        self.ssum -= seq.n - seq.anchor - 1
        self.d -= 1
        seq.ver += 1
        kv = seq.n + gstep - seq.anchor - 1
        if self.alloc_upto > gstep and (gstep + seq.cls) % self.bs == 0:
            kv += 1  # it already took a block for the step in progress
        return -(-kv // self.bs) - seq.held

    def due(self, gstep: int) -> Sequence[Seq]:
        """The decoding sequences whose last token is out by ``gstep``, in finish order."""
        heap = self.finish
        if not heap or heap[0][0] > gstep:
            return _NONE
        out: list[Seq] = []
        while heap and heap[0][0] <= gstep:
            _, _, ver, seq = heapq.heappop(heap)
            if seq.state == DECODE and seq.ver == ver:
                out.append(seq)
        return out

    def kv_steps(self, free: int, gstep: int) -> int:
        """Steps (the current one included) before decode growth needs more than ``free``."""
        g, bs, d, cnt = gstep + 1, self.bs, self.d, self.cnt
        cycles = free // d
        g += cycles * bs
        free -= cycles * d
        k = 1 + cycles * bs
        while free >= cnt[-g % bs]:
            free -= cnt[-g % bs]
            g += 1
            k += 1
        return k

    def alloc(self, pool: BlockPool, upto: int) -> None:
        """Take the blocks decode growth needs for the steps before ``upto``."""
        lo = self.alloc_upto
        if upto <= lo:
            return
        cnt, bs = self.cnt, self.bs
        span = upto - lo
        blocks = (span // bs) * self.d
        for g in range(lo + (span // bs) * bs, upto):
            blocks += cnt[-g % bs]
        if blocks:
            pool.take(blocks)
        self.alloc_upto = upto
