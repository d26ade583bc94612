"""``BlockLru`` evicts exactly as an ``OrderedDict`` LRU would, across compactions."""

from __future__ import annotations

import gc
from collections import OrderedDict

from hypothesis import given, settings
from hypothesis import strategies as st

from inference_gateway.scheduling.plugins._block_lru import BlockLru

_BLOCKS = st.integers(0, 2**64 - 1) | st.integers(0, 12)  # full 64-bit hashes, and repeats


@settings(max_examples=200, deadline=None)
@given(
    ops=st.lists(
        st.tuples(st.lists(_BLOCKS, max_size=8), st.integers(0, 3)),  # use these, evict n
        max_size=60,
    ),
    slack=st.sampled_from([0, 1, 4, 1024]),
)
def test_it_keeps_and_evicts_what_an_ordered_dict_lru_would(
    ops: list[tuple[list[int], int]], slack: int
) -> None:
    lru, model = BlockLru(slack), OrderedDict[int, None]()
    for blocks, evictions in ops:
        assert lru.use(blocks) == [b for b in blocks if b not in model]
        for b in blocks:
            model[b] = None
            model.move_to_end(b)
        for _ in range(min(evictions, len(model))):
            assert lru.pop_oldest() == model.popitem(last=False)[0]
        assert len(lru) == len(model) and set(lru) == set(model)
        assert all(b in lru for b in model)


def test_a_full_lru_is_nothing_the_collector_walks() -> None:
    lru = BlockLru()
    lru.use(range(2**63, 2**63 + 50_000))
    for _ in range(10_000):
        lru.pop_oldest()
    assert len(lru) == 40_000
    assert not gc.is_tracked(lru._at)  # a dict of ints only
    assert gc.get_referents(lru._order) == [type(lru._order)]  # raw values: only its type
