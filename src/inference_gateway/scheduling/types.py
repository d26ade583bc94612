"""What the scheduler is asked and what it answers.

The scheduler is pure: ``schedule(request, endpoints, now)`` reads only its arguments and
its plugins' own in-memory state (the prefix index), draws randomness from an injected
``random.Random``, and never awaits. The same objects run inside the gRPC server and inside
the virtual-time benchmark harness.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol

from inference_gateway.datastore.objects import Criticality
from inference_gateway.datastore.types import Endpoint


@dataclass(frozen=True, slots=True)
class LLMRequest:
    request_id: str
    model: str
    """The name the client asked for."""
    target_model: str
    """The name the model server will see (after the weighted target draw or a rewrite)."""
    criticality: Criticality = Criticality.STANDARD
    prompt: str = ""
    """Text used for prefix-cache hashing: the prompt, or the JSON of chat messages."""
    headers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one scheduling cycle: endpoints in preference order, and why."""

    endpoints: tuple[Endpoint, ...]
    profile: str = "default"
    explanation: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def primary(self) -> Endpoint:
        return self.endpoints[0]


class NoCapacityError(Exception):
    """No endpoint may take this request now (the 429 path: sheddable and saturated).

    The message is what the client reads; ``reason`` says why for the operator's log (which
    pods were stale or full), and stays out of the response. It is a callable because a flood
    of refusals is logged once per period, and describing a 5,000-pod pool costs as much as
    the refusal itself."""

    def __init__(self, message: str = "", *, reason: Callable[[], str] | None = None) -> None:
        super().__init__(message)
        self.reason = reason


class NoEndpointsError(Exception):
    """The candidate set was empty before scheduling started (the 503 path)."""


class Scheduler(Protocol):
    """What the request path needs from scheduling; implemented in ``scheduling.scheduler``."""

    def schedule(
        self, request: LLMRequest, endpoints: Sequence[Endpoint], now: float
    ) -> Decision: ...


__all__ = [
    "Criticality",
    "Decision",
    "LLMRequest",
    "NoCapacityError",
    "NoEndpointsError",
    "Scheduler",
]
