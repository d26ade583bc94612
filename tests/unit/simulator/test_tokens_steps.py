"""The tokenizer stand-in and the closed-form step arithmetic."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from inference_gateway.simulator import _steps
from inference_gateway.simulator.tokens import block_keys, chat_text, count_tokens


def test_four_characters_per_token_rounded_up() -> None:
    assert [count_tokens(t) for t in ("", "a", "abcd", "abcde", "x" * 64)] == [1, 1, 1, 2, 16]


def test_block_keys_cover_full_64_character_blocks_and_follow_shared_prefixes() -> None:
    a = "s" * 128 + "tail-a" * 20
    b = "s" * 128 + "tail-b" * 20
    ka, kb = block_keys(a, 16), block_keys(b, 16)
    assert len(ka) == count_tokens(a) // 16 == 3
    assert ka[:2] == kb[:2] and ka[2] != kb[2]
    assert block_keys("x" * 60, 16) == () and len(block_keys("x" * 61, 16)) == 1


def test_chat_text_joins_string_and_part_contents() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image_url"}]},
    ]
    assert chat_text(messages) == "be brief\nhi"


@given(
    a=st.floats(1e-4, 1.0),
    b=st.floats(0.0, 1e-3),
    delta=st.floats(0.0, 100.0),
)
def test_within_and_reach_bracket_delta(a: float, b: float, delta: float) -> None:
    k = _steps.within(delta, a, b)
    assert _steps.span(k, a, b) <= delta + 1e-9 < _steps.span(k + 1, a, b)
    r = _steps.reach(delta, a, b)
    assert r >= 1 and _steps.span(r, a, b) >= delta - 1e-9
    assert r == 1 or _steps.span(r - 1, a, b) < delta
