"""A deterministic stand-in for a tokenizer, so the simulator needs no model files.

One token is 4 characters (rounded up, at least 1): the usual English average, and the
figure the upstream approximate prefix scorer assumes (64 characters per 16-token block).
A chat prompt is the messages' text contents joined with newlines. A full block of
``block_size`` tokens is the matching ``4*block_size``-character slice of that text, and its
content key is its xxh64 hash; the engine chains the keys into block hashes, so prompts share
cached blocks exactly as far as their texts share leading 64-character slices.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import xxhash

CHARS_PER_TOKEN = 4
_WORDS = (
    "the", "model", "answers", "with", "synthetic", "text", "of", "a", "fixed", "length",
    "so", "that", "clients", "can", "count", "tokens", "and", "measure", "latency", "here",
)  # fmt: skip


def count_tokens(text: str) -> int:
    return max(1, -(-len(text) // CHARS_PER_TOKEN))


def block_keys(text: str, block_size: int) -> tuple[int, ...]:
    """Content keys of the full token blocks of ``text``."""
    width = block_size * CHARS_PER_TOKEN
    full = count_tokens(text) // block_size
    return tuple(
        xxhash.xxh64_intdigest(text[i * width : (i + 1) * width].encode()) for i in range(full)
    )


def chat_text(messages: Iterable[Mapping[str, Any]]) -> str:
    """The text of a chat prompt: each message's content (string or text parts)."""
    parts: list[str] = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(
                str(p.get("text", "")) for p in content if isinstance(p, dict) and "text" in p
            )
    return "\n".join(parts)


def synthetic_token(index: int) -> str:
    """The ``index``-th output token: a word and a space (any text will do)."""
    return _WORDS[index % len(_WORDS)] + " "


CHAT_TEMPLATE_TOKENS_PER_MESSAGE = 5
"""Llama-3's chat template around each message: ``<|start_header_id|>``, the role,
``<|end_header_id|>``, ``\\n\\n`` before the content and ``<|eot_id|>`` after it."""
CHAT_TEMPLATE_TOKENS_FIXED = 5
"""``<|begin_of_text|>`` plus the generation prompt (the assistant header, 4 tokens)."""


def chat_prompt_tokens(messages: Sequence[Mapping[str, Any]], text: str | None = None) -> int:
    """Prompt tokens of a chat request as vLLM counts them: content plus the chat template."""
    count = len(messages)
    content = count_tokens(text if text is not None else chat_text(messages))
    return content + CHAT_TEMPLATE_TOKENS_FIXED + CHAT_TEMPLATE_TOKENS_PER_MESSAGE * count


TOKEN_ID_BASE = 1000


def synthetic_token_id(index: int) -> int:
    """The id of the ``index``-th output token (what ``stop_token_ids`` match)."""
    return TOKEN_ID_BASE + index % len(_WORDS)
