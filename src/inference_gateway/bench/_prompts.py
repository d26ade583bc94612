"""Deterministic synthetic prompt text that the router and the engine both see as shared.

A prompt is a sequence of named segments (a system prompt, a question). Each token is four
base64 characters drawn from a generator seeded by the segment's key, so two prompts that
start with the same segment share their first characters exactly. Four characters per
token makes a 64-character block of the prefix-cache scorer exactly the 16 tokens of one
KV block of the simulated engine, which tokenises text at four characters per token, so
the approximate index of the router and the real cache of the engine agree on what is
shared. Segments carry a whole number of tokens, so segment boundaries never split a token.
"""

from __future__ import annotations

import base64
import random
from functools import lru_cache

CHARS_PER_TOKEN = 4
"""Base64 turns 3 random bytes into exactly 4 characters: one token."""


@lru_cache(maxsize=2048)
def segment_text(key: str, tokens: int) -> str:
    """The text of ``tokens`` tokens of segment ``key``; shared segments are cached."""
    rng = random.Random(key)
    return base64.b64encode(rng.randbytes(3 * tokens)).decode("ascii")


def prompt_text(segments: tuple[tuple[str, int], ...]) -> str:
    return "".join(segment_text(key, tokens) for key, tokens in segments)
