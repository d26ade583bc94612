"""The ``safety-policy`` plugin: refuse prompts that break configured policies, with 403.

An admission plugin, so it runs before scheduling and a refused request never reaches a
model server. Local checks come first and cost microseconds: ``maxPromptTokens`` (tokens
estimated as 4 characters each, the same stand-in the simulator and upstream's prefix
scorer use; no tokenizer of the target model is at hand) and ``denyPatterns`` (Python
regular expressions, case-insensitive, searched in the prompt text: a completion's prompt,
or chat messages as ``role: content`` lines). Then, if configured, an external service.

External service contract: ``POST <url>`` with JSON ``{"model": <requested model>,
"prompt": <prompt text>}``; it answers 200 with ``{"allowed": <bool>, "reason": <str>}``
(``reason`` optional, shown to the client on refusal). Any other status, a body that does
not fit, a connection error or ``service.timeout`` elapsing is a service failure, handled by
``service.failureMode``: ``closed`` (default) refuses with 503
``safety_service_unavailable``, ``open`` logs and admits (the local checks still applied).
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator

from inference_gateway.requestcontrol.extensions.base import (
    ExtensionFailureMode,
    ExtensionParams,
    ExtensionPlugin,
    RequestContext,
)
from inference_gateway.requestcontrol.types import GatewayError
from inference_gateway.scheduling.framework import PluginHandle
from inference_gateway.scheduling.saturation import Seconds

log = logging.getLogger(__name__)

CHARS_PER_TOKEN = 4


class SafetyServiceParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: HttpUrl
    timeout: Seconds = Field(default=1.0, gt=0.0)
    failureMode: ExtensionFailureMode = "closed"


class SafetyPolicyParams(ExtensionParams):
    denyPatterns: list[str] = []
    maxPromptTokens: int | None = Field(default=None, ge=1)
    service: SafetyServiceParams | None = None
    timeout: Seconds = Field(default=2.0, gt=0.0)
    """The whole check; keep it above ``service.timeout`` so the service's own failure mode
    decides what a slow service means."""
    failureMode: ExtensionFailureMode = "closed"

    @field_validator("denyPatterns")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for i, pattern in enumerate(patterns):
            try:
                re.compile(pattern)
            except re.error as e:
                raise ValueError(f"denyPatterns[{i}] is not a valid regular expression: {e}") from e
        return patterns


def policy_violation(message: str, code: str = "content_policy_violation") -> GatewayError:
    return GatewayError(
        403, message, code=code, reason="Forbidden", error_type="invalid_request_error"
    )


def estimate_tokens(text: str) -> int:
    return -(-len(text) // CHARS_PER_TOKEN)


class _ServiceFailure(Exception):
    pass


class SafetyPolicy(ExtensionPlugin):
    TYPE = "safety-policy"
    Params = SafetyPolicyParams

    def __init__(self, name: str, params: BaseModel, handle: PluginHandle | None = None) -> None:
        super().__init__(name, params, handle)
        assert isinstance(params, SafetyPolicyParams)
        self.params = params
        self._patterns = [re.compile(p, re.IGNORECASE) for p in params.denyPatterns]
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def admit(self, ctx: RequestContext) -> None:
        text = ctx.prompt
        limit = self.params.maxPromptTokens
        if limit is not None and (tokens := estimate_tokens(text)) > limit:
            raise policy_violation(
                f"the prompt has about {tokens} tokens, more than the {limit} allowed",
                code="prompt_too_long",
            )
        for i, pattern in enumerate(self._patterns):
            if pattern.search(text):
                raise policy_violation(
                    f"the prompt was refused by the content policy ({self.name} rule {i})"
                )
        if self.params.service is not None:
            await self._ask(self.params.service, ctx)

    async def _ask(self, service: SafetyServiceParams, ctx: RequestContext) -> None:
        try:
            async with asyncio.timeout(service.timeout):
                verdict = await self._post(str(service.url), ctx)
        except (TimeoutError, aiohttp.ClientError, _ServiceFailure) as e:
            why = "timed out" if isinstance(e, TimeoutError) else str(e) or type(e).__name__
            if service.failureMode == "open":
                log.warning("%s: safety service failed (%s); admitting", self.name, why)
                return
            log.warning("%s: safety service failed (%s); refusing", self.name, why)
            raise GatewayError(
                503,
                "the safety service is unavailable",
                code="safety_service_unavailable",
                reason="ServiceUnavailable",
            ) from e
        allowed, reason = verdict
        if not allowed:
            raise policy_violation(reason or "the prompt was refused by the safety service")

    async def _post(self, url: str, ctx: RequestContext) -> tuple[bool, str]:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        payload = {"model": ctx.model, "prompt": ctx.prompt}
        async with self._session.post(url, json=payload) as resp:
            if resp.status != 200:
                raise _ServiceFailure(f"status {resp.status}")
            try:
                data: Any = await resp.json(content_type=None)
            except ValueError as e:
                raise _ServiceFailure("answer is not JSON") from e
        if not isinstance(data, dict) or not isinstance(data.get("allowed"), bool):
            raise _ServiceFailure("answer has no boolean 'allowed'")
        reason = data.get("reason")
        return data["allowed"], reason if isinstance(reason, str) else ""
