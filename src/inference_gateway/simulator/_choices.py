"""What each choice of a simulated generation will say, decided before the engine runs.

The engine only needs a token count per request; everything a client sees is derived from
that count here, deterministically:

* length: ``max_tokens`` with ``ignore_eos``, else a simulated EOS at
  ``1 + xxh64(prompt[#choice], seed) % cap`` (choice 0 hashes the bare prompt, so a single
  choice is what it always was); ending before the cap is ``finish_reason: "stop"``;
* ``stop_token_ids``: output token ``i`` has id ``synthetic_token_id(i)``; the first listed
  id ends the choice there (counted, its text left out), ``stop_reason`` = that id;
* ``stop`` strings: the first occurrence in the synthetic text ends the choice at the token
  that completes it, the text cut before the string, ``stop_reason`` = the string;
* logprobs: synthetic but well-formed, the sampled token first among ``k`` alternatives.

``n`` choices are ``n`` engine requests sharing the prompt (vLLM runs ``n`` sequences too;
the later ones hit the prefix cache), each with its own token count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import xxhash

from inference_gateway.simulator._request import Sampling
from inference_gateway.simulator.tokens import _WORDS, synthetic_token, synthetic_token_id

DEFAULT_MAX_TOKENS = 128


@dataclass(frozen=True, slots=True)
class Plan:
    tokens: int
    """Tokens the engine generates (what ``completion_tokens`` counts)."""
    text: str
    """The visible text (stop strings and stop tokens cut out)."""
    finish_reason: str
    stop_reason: str | int | None = None


def cap_for(sampling: Sampling, room: int) -> int:
    return sampling.max_tokens if sampling.max_tokens is not None else min(DEFAULT_MAX_TOKENS, room)


def plan(text: str, index: int, cap: int, sampling: Sampling, seed: int) -> Plan:
    key = text if index == 0 else f"{text}#{index}"
    out = cap if sampling.ignore_eos else 1 + xxhash.xxh64_intdigest(key.encode(), seed) % cap
    best = Plan(out, synthetic_text(0, out), "length" if out >= cap else "stop")
    if sampling.stop_token_ids:
        wanted = set(sampling.stop_token_ids)
        for i in range(out):
            token_id = synthetic_token_id(i)
            if token_id in wanted:
                best = Plan(i + 1, synthetic_text(0, i), "stop", token_id)
                break
    for stop in sampling.stop:
        at = best.text.find(stop)
        if at < 0:
            continue
        tokens = _tokens_covering(at + len(stop))
        if tokens <= best.tokens:
            best = Plan(tokens, best.text[:at], "stop", stop)
    return best


def _tokens_covering(chars: int) -> int:
    """How many synthetic tokens it takes for the text to reach ``chars`` characters."""
    total = i = 0
    while total < chars:
        total += len(synthetic_token(i))
        i += 1
    return i


def synthetic_text(start: int, stop: int) -> str:
    return "".join(synthetic_token(i) for i in range(start, stop))


def pieces(p: Plan, start: int, stop: int, offset: int) -> tuple[list[str], int]:
    """Visible text of tokens ``start..stop``, one piece per token, given ``offset`` chars
    already sent; returns the pieces and the new offset (text past a stop is held back)."""
    out: list[str] = []
    for i in range(start, stop):
        piece = synthetic_token(i)
        end = min(offset + len(piece), len(p.text))
        out.append(p.text[offset:end] if end > offset else "")
        offset = max(offset, end)
    return out, offset


def _logprob(i: int, rank: int = 0) -> float:
    return -round(0.05 + 0.1 * (i % 7) + 0.75 * rank, 4)


def _alternatives(i: int, k: int) -> list[tuple[str, float]]:
    chosen = synthetic_token(i)
    alts = [(chosen, _logprob(i))]
    j = 1
    while len(alts) < k:
        word = _WORDS[(i + j) % len(_WORDS)] + " "
        if word != chosen:
            alts.append((word, _logprob(i, len(alts))))
        j += 1
    return alts


def completion_logprobs(start: int, stop: int, k: int, offset: int) -> dict[str, Any]:
    """vLLM's completions ``logprobs`` object for tokens ``start..stop``."""
    tokens, lps, offsets, tops = [], [], [], []
    for i in range(start, stop):
        token = synthetic_token(i)
        tokens.append(token)
        lps.append(_logprob(i))
        offsets.append(offset)
        offset += len(token)
        tops.append(dict(_alternatives(i, max(k, 1))))
    return {"text_offset": offsets, "token_logprobs": lps, "tokens": tokens, "top_logprobs": tops}


def chat_logprobs(start: int, stop: int, k: int) -> dict[str, Any]:
    """vLLM's chat ``logprobs`` object (``content`` entries) for tokens ``start..stop``."""
    content = []
    for i in range(start, stop):
        token = synthetic_token(i)
        top = [
            {"token": t, "logprob": lp, "bytes": list(t.encode())} for t, lp in _alternatives(i, k)
        ]
        content.append(
            {
                "token": token,
                "logprob": _logprob(i),
                "bytes": list(token.encode()),
                "top_logprobs": top if k else [],
            }
        )
    return {"content": content}
