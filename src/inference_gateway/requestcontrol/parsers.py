"""``openai-parser``: upstream's name for the request parsing this gateway always does.

Since v1.5 upstream's EPP reads request bodies through a configured parser plugin, and its
chart declares one (``- type: <parser>`` and ``parser: {pluginRef: <parser>}``) when
``inferencePool.parser`` is set. ``openai-parser`` parses the OpenAI API bodies, which is
what ``requestcontrol.body`` does for every request, so a config naming it loads and means
what it says. The other parsers upstream has (``passthrough-parser``, which routes any body
unread, and ``vllmgrpc-parser``, for gRPC model servers) are not registered, so a config
naming one fails to load instead of being served as OpenAI.
"""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel

from inference_gateway.scheduling.config import DEFAULT_PARSER
from inference_gateway.scheduling.framework import NoParams


class _Registry(Protocol):
    def register(self, cls: type[Any], type_name: str | None = None) -> None: ...


class OpenAIParser:
    """Declared only: no scheduling or request-control role of its own."""

    TYPE = DEFAULT_PARSER
    Params = NoParams
    PARSER = True
    """What the config's ``parser.pluginRef`` may name."""

    def __init__(self, name: str, params: BaseModel, handle: object) -> None:
        self.name = name


def register_parsers(registry: _Registry) -> None:
    registry.register(OpenAIParser)
