"""Request-control plugins in the request path: safety checks, a semantic cache, and the
runner that applies them around the director (see ``runner`` for the handler's calls).

Registration is explicit: the composition root calls ``register_extensions(registry)`` on
the scheduling ``Registry`` so these types load from the same ``EndpointPickerConfig``, and
``build_chain(config.plugins.values())`` to get the ``ExtensionChain``. The semantic cache's
heavy imports (numpy, safetensors, tokenizers) happen only when it is started.
"""

from __future__ import annotations

from typing import Any, Protocol

from inference_gateway.requestcontrol.extensions.base import (
    ExtensionParams,
    ExtensionPlugin,
    ImmediateAnswer,
    RequestContext,
)
from inference_gateway.requestcontrol.extensions.conformance import (
    DestinationEndpointServedVerifier,
)
from inference_gateway.requestcontrol.extensions.runner import (
    ExtensionChain,
    RequestExtensions,
    build_chain,
)
from inference_gateway.requestcontrol.extensions.safety import SafetyPolicy


class _Registry(Protocol):
    def register(self, cls: type[Any], type_name: str | None = None) -> None: ...


def extension_types() -> tuple[type[Any], ...]:
    from inference_gateway.requestcontrol.extensions.semantic_cache.plugin import SemanticCache

    return (SafetyPolicy, SemanticCache, DestinationEndpointServedVerifier)


def register_extensions(registry: _Registry) -> None:
    """Add ``safety-policy``, ``semantic-cache`` and upstream's conformance verifier
    (``destination-endpoint-served-verifier``) to a scheduling ``Registry``."""
    for cls in extension_types():
        registry.register(cls)


__all__ = [
    "ExtensionChain",
    "ExtensionParams",
    "ExtensionPlugin",
    "ImmediateAnswer",
    "RequestContext",
    "RequestExtensions",
    "build_chain",
    "extension_types",
    "register_extensions",
]
