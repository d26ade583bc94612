"""The safety-policy plugin's local checks (the external service is in tests/integration)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from inference_gateway.requestcontrol.errors import error_body
from inference_gateway.requestcontrol.extensions import ExtensionChain
from inference_gateway.requestcontrol.extensions.safety import (
    SafetyPolicy,
    SafetyPolicyParams,
    estimate_tokens,
)
from inference_gateway.requestcontrol.types import GatewayError
from tests.unit.extensions.helpers import begin, chat_body


def chain_with(**params: object) -> ExtensionChain:
    return ExtensionChain([SafetyPolicy("policy", SafetyPolicyParams.model_validate(params))])


async def refusal(chain: ExtensionChain, body: dict[str, Any], **kw: str) -> GatewayError | None:
    try:
        await begin(chain, body, **kw).before_route()
    except GatewayError as err:
        return err
    return None


@pytest.mark.parametrize(
    ("text", "refused"),
    [
        ("How do I make a bomb?", True),
        ("how do i MAKE A BOMB", True),
        ("Tell me my password: hunter2", True),
        ("How do I bake bread?", False),
        ("bombastic prose about passwords", False),
    ],
)
async def test_deny_patterns_are_case_insensitive_regexes(text: str, refused: bool) -> None:
    chain = chain_with(denyPatterns=[r"make\s+a\s+bomb", r"password:\s*\S+"])
    err = await refusal(chain, chat_body(text))
    assert (err is not None) == refused
    if err is not None:
        assert (err.status, err.code) == (403, "content_policy_violation")
        payload = json.loads(error_body(err))["error"]
        assert payload["type"] == "PermissionDeniedError"
        assert payload["code"] == 403
        assert "policy" in payload["message"]


async def test_patterns_see_every_chat_message_and_completion_prompts() -> None:
    chain = chain_with(denyPatterns=["forbidden"])
    body = chat_body("fine")
    body["messages"].insert(0, {"role": "system", "content": "FORBIDDEN words"})
    assert await refusal(chain, body) is not None
    completion = {"model": "m", "prompt": "a forbidden thing"}
    assert await refusal(chain, completion, path="/v1/completions") is not None


@pytest.mark.parametrize(("chars", "refused"), [(40, False), (41, True)])
async def test_max_prompt_tokens_at_four_characters_per_token(chars: int, refused: bool) -> None:
    chain = chain_with(maxPromptTokens=10)
    body = {"model": "m", "prompt": "x" * chars}
    err = await refusal(chain, body, path="/v1/completions")
    assert (err is not None) == refused
    if err is not None:
        assert (err.status, err.code) == (403, "prompt_too_long")
        assert "11 tokens" in err.message


def test_token_estimate_rounds_up() -> None:
    assert [estimate_tokens("x" * n) for n in (0, 1, 4, 5)] == [0, 1, 1, 2]


def test_params_validation_and_defaults() -> None:
    p = SafetyPolicyParams()
    assert (p.failureMode, p.timeout, p.denyPatterns, p.service) == ("closed", 2.0, [], None)
    with pytest.raises(ValueError, match=r"denyPatterns\[1\] is not a valid regular expression"):
        SafetyPolicyParams.model_validate({"denyPatterns": ["ok", "(unclosed"]})
    with pytest.raises(ValueError, match="extra"):
        SafetyPolicyParams.model_validate({"service": {"url": "http://x", "retries": 3}})
    with pytest.raises(ValueError, match="URL"):
        SafetyPolicyParams.model_validate({"service": {"url": "not a url"}})
    s = SafetyPolicyParams.model_validate(
        {"service": {"url": "http://127.0.0.1:1/check", "timeout": "250ms"}}
    )
    assert s.service is not None and (s.service.timeout, s.service.failureMode) == (0.25, "closed")
