"""The simulator's request validation and choice plans (pure parts of the OpenAI front)."""

from __future__ import annotations

from typing import Any

import pytest

from inference_gateway.simulator._choices import chat_logprobs, pieces, plan, synthetic_text
from inference_gateway.simulator._request import BadRequest, Sampling, parse
from inference_gateway.simulator.tokens import (
    chat_prompt_tokens,
    synthetic_token,
    synthetic_token_id,
)

MSG = [{"role": "user", "content": "hello"}]


def test_batch_prompts_and_token_ids() -> None:
    parsed = parse("completion", {"model": "m", "prompt": ["abcd", "abcdefgh"]})
    assert [p.tokens for p in parsed.prompts] == [1, 2] and parsed.prompt_tokens == 3
    ids = parse("completion", {"model": "m", "prompt": [[1, 2, 3], [4]]})
    assert [p.tokens for p in ids.prompts] == [3, 1]
    assert parse("completion", {"model": "m", "prompt": [7, 8]}).prompt_tokens == 2


def test_chat_prompt_counts_the_template() -> None:
    two = [{"role": "system", "content": "abcd"}, {"role": "user", "content": "efgh"}]
    assert chat_prompt_tokens(two) == 3 + 5 + 2 * 5  # "abcd\nefgh" is 9 chars: 3 tokens
    assert parse("chat", {"model": "m", "messages": two}).prompt_tokens == 18


@pytest.mark.parametrize(
    ("kind", "extra", "param", "error_type"),
    [
        ("chat", {"temperature": "hot"}, "temperature", "Bad Request"),
        ("chat", {"temperature": True}, "temperature", "Bad Request"),
        ("chat", {"temperature": -0.5}, "temperature", "BadRequestError"),
        ("chat", {"top_p": 0}, "top_p", "BadRequestError"),
        ("chat", {"stream_options": {"include_usage": True}}, "stream_options", "Bad Request"),
        ("chat", {"stream": False, "stream_options": {}}, "stream_options", "Bad Request"),
        ("chat", {"top_logprobs": 1}, "top_logprobs", "Bad Request"),
        ("chat", {"logprobs": True, "top_logprobs": 21}, "logprobs", "BadRequestError"),
        ("completion", {"logprobs": 21}, "logprobs", "BadRequestError"),
        ("completion", {"n": 0}, "n", "BadRequestError"),
        ("completion", {"max_tokens": "5"}, "max_tokens", "Bad Request"),
        ("completion", {"stop": 3}, "stop", "Bad Request"),
        ("completion", {"stop_token_ids": ["a"]}, "stop_token_ids", "Bad Request"),
        ("completion", {"prompt": [["a"]]}, "prompt", "Bad Request"),
    ],
)
def test_400s_where_vllm_refuses(
    kind: str, extra: dict[str, Any], param: str, error_type: str
) -> None:
    body: dict[str, Any] = {"model": "m", "messages": MSG, "prompt": "p", **extra}
    with pytest.raises(BadRequest) as caught:
        parse(kind, body)  # type: ignore[arg-type]
    assert (caught.value.param, caught.value.kind) == (param, error_type)


def test_stream_options_flags() -> None:
    body = {"model": "m", "messages": MSG, "stream": True}
    opts = {"include_usage": True, "continuous_usage_stats": True}
    parsed = parse("chat", {**body, "stream_options": opts})
    assert (parsed.include_usage, parsed.continuous_usage) == (True, True)
    parsed = parse("chat", {**body, "stream_options": {"continuous_usage_stats": True}})
    assert parsed.include_usage  # vLLM's default include_usage is True once options are given


def test_plan_length_eos_and_choices_differ() -> None:
    fixed = plan("p", 0, 5, Sampling(ignore_eos=True), seed=0)
    assert (fixed.tokens, fixed.finish_reason, fixed.stop_reason) == (5, "length", None)
    assert fixed.text == synthetic_text(0, 5)
    lengths = {plan("prompt", i, 100, Sampling(), seed=0).tokens for i in range(8)}
    assert len(lengths) > 1
    for i in range(8):
        p = plan("prompt", i, 100, Sampling(), seed=0)
        assert p.finish_reason == ("length" if p.tokens == 100 else "stop")


def test_stop_token_and_stop_string_earliest_wins() -> None:
    ids = Sampling(ignore_eos=True, stop_token_ids=(synthetic_token_id(4),))
    by_id = plan("p", 0, 10, ids, seed=0)
    assert (by_id.tokens, by_id.text, by_id.stop_reason) == (5, synthetic_text(0, 4), 1004)
    word = synthetic_token(2).strip()
    both = Sampling(ignore_eos=True, stop=(word,), stop_token_ids=(synthetic_token_id(4),))
    first = plan("p", 0, 10, both, seed=0)
    assert (first.tokens, first.text, first.stop_reason) == (3, synthetic_text(0, 2), word)


def test_streamed_pieces_hold_back_text_after_a_stop() -> None:
    word = synthetic_token(1).strip()
    p = plan("p", 0, 10, Sampling(ignore_eos=True, stop=(word,)), seed=0)
    out, offset = pieces(p, 0, p.tokens, 0)
    assert "".join(out) == p.text and offset == len(p.text) and len(out) == p.tokens


def test_chat_logprobs_are_well_formed() -> None:
    content = chat_logprobs(0, 3, 2)["content"]
    assert [c["token"] for c in content] == [synthetic_token(i) for i in range(3)]
    for entry in content:
        assert entry["logprob"] < 0 and entry["bytes"] == list(entry["token"].encode())
        tops = entry["top_logprobs"]
        assert tops[0]["token"] == entry["token"] and len({t["token"] for t in tops}) == 2
        assert tops[0]["logprob"] > tops[1]["logprob"]
