"""The extension points a scheduling plugin implements, and what the framework hands it.

Every method is a plain ``def`` over ``(request, endpoints, cycle_state)``: no I/O, no
``await``, no clock reads. Scores are positional (``scores[i]`` belongs to
``endpoints[i]``) rather than keyed by endpoint, because ``Endpoint`` carries a mapping of
labels and so is not hashable, and because lists are what the hot path wants anyway.
A plugin class has ``TYPE`` (its registry name), a pydantic ``Params`` model, and a
constructor ``(name, params, handle)``; multi-point plugins implement several protocols.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from inference_gateway.datastore.types import Endpoint
from inference_gateway.scheduling.types import LLMRequest

CycleState = dict[str, Any]
"""Scratch space shared by the plugins of one scheduling cycle; discarded afterwards."""

TRACE_KEY = "filter_trace"
"""Cycle-state key of the list of ``(filter name, endpoints in, endpoints out)`` steps."""

NOW_KEY = "now"
"""Cycle-state key of the scheduling clock's ``now`` (plugins never read a clock)."""

NOTES_KEY = "endpoint_notes"
"""Cycle-state key of ``{plugin name: callable(endpoint) -> {label: seconds}}``: what a
plugin wants an explanation to show per endpoint (the latency predictor's TTFT and TPOT).
Called only when an explanation is read, for its top endpoints, so a pick pays one dict
entry for it; read it right after the pick (it reflects the plugin's state when read)."""

Observer = Callable[[str, str, str, float], None]
"""Receives ``(extension point, plugin type, plugin name, seconds)`` after each plugin call."""


class Params(BaseModel):
    """Base of every plugin's parameters: frozen, and unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoParams(Params):
    """For plugins without parameters."""


@runtime_checkable
class Filter(Protocol):
    name: str

    def filter(
        self, request: LLMRequest, endpoints: Sequence[Endpoint], cycle_state: CycleState
    ) -> list[Endpoint]: ...


@runtime_checkable
class Scorer(Protocol):
    name: str

    def score(
        self, request: LLMRequest, endpoints: Sequence[Endpoint], cycle_state: CycleState
    ) -> Sequence[float]:
        """One score per endpoint, in order; the framework clamps each to [0, 1]."""
        ...


@runtime_checkable
class Picker(Protocol):
    name: str

    def pick(
        self,
        request: LLMRequest,
        endpoints: Sequence[Endpoint],
        scores: Sequence[float],
        cycle_state: CycleState,
    ) -> list[Endpoint]:
        """Endpoints in preference order (non-empty when ``endpoints`` is non-empty)."""
        ...


@dataclass(frozen=True, slots=True)
class ProfileResult:
    endpoints: tuple[Endpoint, ...]


@runtime_checkable
class ProfileHandler(Protocol):
    name: str

    def pick_profiles(
        self,
        request: LLMRequest,
        profiles: Sequence[str],
        results: Mapping[str, ProfileResult | None],
        cycle_state: CycleState,
    ) -> list[str]:
        """Profiles to run next; an empty list ends the cycle."""
        ...

    def process_results(
        self, request: LLMRequest, results: Mapping[str, ProfileResult | None]
    ) -> str:
        """The name of the primary profile among ``results``."""
        ...


@runtime_checkable
class Producer(Protocol):
    """Computes per-endpoint data other plugins read (upstream's data producers, such as
    ``predicted-latency-producer``). Consumers also ask for it on demand, so a producer
    need not be in a profile; one that is runs before the profile's filters, as upstream
    runs PrepareData before scheduling. Results are kept in ``cycle_state``."""

    name: str

    def produce(
        self, request: LLMRequest, endpoints: Sequence[Endpoint], cycle_state: CycleState
    ) -> None: ...


@runtime_checkable
class Admitter(Protocol):
    """Refuses a request before any profile runs (upstream's AdmitRequest plugins, such as
    ``latency-slo-admitter``); every configured admitter runs, listed in a profile or not."""

    name: str

    def refuse(
        self, request: LLMRequest, endpoints: Sequence[Endpoint], cycle_state: CycleState
    ) -> str | None:
        """Why the request is refused (the client reads it), or None to admit it."""
        ...


@runtime_checkable
class PostPick(Protocol):
    """Called by the framework with the primary endpoint once a cycle has picked."""

    name: str

    def on_picked(
        self, request: LLMRequest, endpoint: Endpoint, cycle_state: CycleState
    ) -> None: ...


EXTENSION_POINTS: Mapping[str, str] = {
    "filter": "filter",
    "score": "scorer",
    "pick": "picker",
    "pick_profiles": "profile-handler",
    "produce": "producer",
    "refuse": "admitter",
}


def kinds_of(cls: type[Any]) -> frozenset[str]:
    """Which extension points a plugin class implements, judged by its methods."""
    return frozenset(
        kind for meth, kind in EXTENSION_POINTS.items() if callable(getattr(cls, meth, None))
    )


@dataclass(slots=True)
class PluginHandle:
    """What a plugin constructor may use: the injected RNG and other plugins by name."""

    rng: random.Random
    lookup: Callable[[str], object] = field(default=lambda name: None)
    types: Mapping[str, str] = field(default_factory=dict)
    """Configured plugin name -> its type, in declaration order."""

    def plugin(self, name: str) -> object:
        return self.lookup(name)

    def name_of_type(self, types: Sequence[str]) -> str | None:
        """The name of the first configured plugin whose type is one of ``types``: how a
        consumer finds the producer of what it reads, as upstream matches them by the data
        they produce and consume rather than by name."""
        return next((name for name, t in self.types.items() if t in types), None)

    def plugin_of_type(self, types: Sequence[str]) -> object | None:
        """The plugin ``name_of_type`` names (None if none is configured)."""
        name = self.name_of_type(types)
        return None if name is None else self.lookup(name)


class Plugin:
    """Convenience base: stores the instance name and exposes ``TYPE`` as ``type``."""

    TYPE: ClassVar[str]
    Params: ClassVar[type[BaseModel]] = NoParams
    NEEDS: ClassVar[tuple[tuple[tuple[str, ...], str], ...]] = ()
    """(types that provide what this plugin reads, the type to add with defaults when the
    config declares none of them): upstream adds a missing data producer the same way."""

    def __init__(self, name: str, params: BaseModel, handle: PluginHandle) -> None:
        self.name = name

    @property
    def type(self) -> str:
        return self.TYPE
