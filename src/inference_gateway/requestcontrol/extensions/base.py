"""Request-control extension points: what a plugin in the request path implements.

These mirror upstream's request-control plugins (``PrepareData`` -> ``Admission`` ->
schedule -> ``PreRequest`` -> ``ResponseHeader`` -> ``ResponseBody``) with two changes the
gateway needs. The request-side points may be ``async`` (a safety service is an HTTP call,
an embedding is CPU work pushed off the loop), and ``pre_request`` may answer the request
itself by returning an ``ImmediateAnswer`` (a semantic-cache hit). The response-side points
are plain ``def``s called once per Envoy message, so they must be cheap; they cannot
refuse anything because the response is already on its way.

A plugin is configured like a scheduling plugin: ``TYPE``, a pydantic ``Params`` (derived
from ``ExtensionParams``, so every instance has ``timeout`` and ``failureMode``) and a
constructor ``(name, params, handle)`` that does no I/O, because the scheduling config
loader also builds every configured plugin once just to validate it. Heavy set-up belongs
in ``async start()``, released in ``async close()``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from inference_gateway.requestcontrol.body import ApiKind
from inference_gateway.scheduling.framework import Params, PluginHandle
from inference_gateway.scheduling.saturation import Seconds

ExtensionFailureMode = Literal["open", "closed"]


class ExtensionParams(Params):
    """Parameters every request-control plugin has.

    ``timeout`` bounds each async call of the plugin; ``failureMode`` says what a timeout or
    an unexpected exception means: ``open`` logs it and lets the request through as if the
    plugin were absent, ``closed`` answers 503 (``extension_unavailable``).
    """

    timeout: Seconds = Field(default=1.0, gt=0.0)
    failureMode: ExtensionFailureMode = "open"


@dataclass(frozen=True, slots=True)
class ImmediateAnswer:
    """A complete response the gateway sends instead of forwarding the request."""

    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass(slots=True)
class RequestContext:
    """What request-control plugins know about one request; plugins keep notes in ``state``."""

    headers: Mapping[str, str]
    body: dict[str, Any]
    api: ApiKind
    model: str
    """The model name the client asked for."""
    streaming: bool
    prompt: str
    """Plain prompt text: the completion prompt, or the chat messages' text, one per line."""
    target_model: str = ""
    """Set once routed; empty before."""
    endpoint: str | None = None
    served_by: str | None = None
    """The endpoint the data plane says answered (set with the response headers; None
    when it did not say)."""
    status: int = 0
    capture_response: bool = False
    """Set by a plugin that must read the response body even if the director need not."""
    state: dict[str, object] = field(default_factory=dict)


def chat_text(messages: object) -> str:
    """The text of chat messages as ``role: content`` lines (text parts only)."""
    if not isinstance(messages, list):
        return ""
    lines: list[str] = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        role = message.get("role", "")
        lines.append(f"{role}: {content_text(message.get('content'))}")
    return "\n".join(lines)


def content_text(content: object) -> str:
    """A message's ``content``: a string, or the text of a list of typed parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict)]
        return "".join(p for p in parts if isinstance(p, str))
    return ""


def prompt_text(api: ApiKind, data: Mapping[str, Any]) -> str:
    """The text policies and embeddings look at; ``input`` for other APIs (embeddings)."""
    if api == "chat":
        return chat_text(data.get("messages"))
    prompt = data.get("prompt") if api == "completions" else data.get("input", data.get("prompt"))
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list) and all(isinstance(p, str) for p in prompt):
        return "".join(prompt)
    return json.dumps(prompt) if prompt is not None else ""


@runtime_checkable
class PrepareData(Protocol):
    name: str

    def prepare_data(self, ctx: RequestContext) -> Awaitable[None] | None:
        """Compute what later points need (and store it in ``ctx.state``)."""
        ...


@runtime_checkable
class Admission(Protocol):
    name: str

    def admit(self, ctx: RequestContext) -> Awaitable[None] | None:
        """Return to admit; raise ``GatewayError`` to refuse with that status and body."""
        ...


@runtime_checkable
class PreRequest(Protocol):
    name: str

    def pre_request(
        self, ctx: RequestContext, endpoint: str
    ) -> Awaitable[ImmediateAnswer | None] | ImmediateAnswer | None:
        """After scheduling: return an answer to send instead of forwarding, or None."""
        ...


@runtime_checkable
class ResponseHeader(Protocol):
    name: str

    def response_header(
        self, ctx: RequestContext, status: int, headers: Mapping[str, str]
    ) -> Mapping[str, str] | None:
        """The upstream status and headers arrived; return headers to add for the client."""
        ...


@runtime_checkable
class ResponseBody(Protocol):
    name: str

    def response_body(self, ctx: RequestContext, chunk: bytes, end_of_stream: bool) -> None:
        """One chunk of the response as the client receives it (model name restored)."""
        ...


EXTENSION_POINTS: Mapping[str, type[Any]] = {
    "prepare_data": PrepareData,
    "admit": Admission,
    "pre_request": PreRequest,
    "response_header": ResponseHeader,
    "response_body": ResponseBody,
}


def points_of(cls: type[Any]) -> frozenset[str]:
    """The request-control points a plugin class implements, judged by its methods.

    Only ``ExtensionPlugin`` subclasses count: method names alone are ambiguous (the
    scheduling saturation detector has an unrelated ``admit``).
    """
    if not (isinstance(cls, type) and issubclass(cls, ExtensionPlugin)):
        return frozenset()
    return frozenset(m for m in EXTENSION_POINTS if callable(getattr(cls, m, None)))


class ExtensionPlugin:
    """Convenience base: name, type, the common parameters, and no-op lifecycle hooks."""

    TYPE: ClassVar[str]
    Params: ClassVar[type[BaseModel]] = ExtensionParams

    def __init__(self, name: str, params: BaseModel, handle: PluginHandle | None = None) -> None:
        assert isinstance(params, ExtensionParams)
        self.name = name
        self.timeout: float = params.timeout
        self.failure_mode: ExtensionFailureMode = params.failureMode

    @property
    def type(self) -> str:
        return self.TYPE

    async def start(self) -> None:
        """Acquire resources (sessions, models); called once before serving."""

    async def close(self) -> None:
        """Release what ``start`` acquired; called once at shutdown."""
