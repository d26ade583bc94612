"""Plugin types by name, in an explicit ``Registry`` built by the composition root.

``default_registry()`` returns a fresh registry holding every built-in type; nothing is
registered at import time and there is no module-level registry. A type name containing
``:`` that is not registered is imported as ``"package.module:ClassName"``, so out-of-tree
plugins need no registration at all.
"""

from __future__ import annotations

import importlib
from typing import Any

from pydantic import BaseModel

from inference_gateway.scheduling.concurrency import ConcurrencyDetector
from inference_gateway.scheduling.plugins.conformance import HeaderBasedTestingFilter
from inference_gateway.scheduling.plugins.decision_tree import DecisionTreeFilter
from inference_gateway.scheduling.plugins.filters import (
    CriticalityFilter,
    LeastKVCacheFilter,
    LeastQueueFilter,
    LowQueueFilter,
    SheddableCapacityFilter,
)
from inference_gateway.scheduling.plugins.health import HealthyEndpointFilter
from inference_gateway.scheduling.plugins.latency import LatencyPredictor
from inference_gateway.scheduling.plugins.latency_scorer import LatencyScorer
from inference_gateway.scheduling.plugins.latency_slo import (
    LatencySloAdmitter,
    PrefixCacheAffinityFilter,
    SloHeadroomTierFilter,
)
from inference_gateway.scheduling.plugins.lora import LoraAffinityFilter, LoraAffinityScorer
from inference_gateway.scheduling.plugins.pickers import (
    MaxScorePicker,
    RandomPicker,
    RoundRobinPicker,
    WeightedRandomPicker,
)
from inference_gateway.scheduling.plugins.predicted_latency import (
    ApproxPrefixCacheProducer,
    PredictedLatencyProducer,
    PredictedLatencyScorer,
)
from inference_gateway.scheduling.plugins.prefix import PrefixCacheScorer
from inference_gateway.scheduling.plugins.profiles import SingleProfileHandler
from inference_gateway.scheduling.plugins.sample import CandidateSampleFilter
from inference_gateway.scheduling.plugins.scorers import (
    InflightLoadScorer,
    KVCacheUtilizationScorer,
    QueueScorer,
    RunningRequestsSizeScorer,
)
from inference_gateway.scheduling.plugins.token_load import InFlightLoadProducer, TokenLoadScorer
from inference_gateway.scheduling.saturation import SaturationDetector
from inference_gateway.scheduling.utilization import UtilizationDetector

PluginClass = type[Any]
"""A class with ``TYPE``, a pydantic ``Params`` and ``__init__(name, params, handle)``."""

BUILTIN_PLUGINS: tuple[PluginClass, ...] = (
    LowQueueFilter,
    SheddableCapacityFilter,
    LeastQueueFilter,
    LeastKVCacheFilter,
    CriticalityFilter,
    LoraAffinityFilter,
    DecisionTreeFilter,
    HealthyEndpointFilter,
    CandidateSampleFilter,
    HeaderBasedTestingFilter,
    QueueScorer,
    KVCacheUtilizationScorer,
    RunningRequestsSizeScorer,
    InflightLoadScorer,
    LoraAffinityScorer,
    PrefixCacheScorer,
    LatencyPredictor,
    PredictedLatencyProducer,
    ApproxPrefixCacheProducer,
    LatencyScorer,
    SloHeadroomTierFilter,
    PrefixCacheAffinityFilter,
    LatencySloAdmitter,
    PredictedLatencyScorer,
    InFlightLoadProducer,
    TokenLoadScorer,
    MaxScorePicker,
    RandomPicker,
    WeightedRandomPicker,
    RoundRobinPicker,
    SingleProfileHandler,
    SaturationDetector,
    ConcurrencyDetector,
    UtilizationDetector,
)


ALIASES: tuple[tuple[str, PluginClass], ...] = (
    ("latency-predictor-producer", PredictedLatencyProducer),
    ("slo-aware-routing", PredictedLatencyScorer),
)
"""Earlier upstream names of the same plugins (see ``plugins.predicted_latency``)."""


class RegistryError(LookupError):
    pass


def _check(cls: object, where: str) -> PluginClass:
    if not isinstance(cls, type):
        raise RegistryError(f"{where} is not a class")
    type_name = getattr(cls, "TYPE", None)
    params = getattr(cls, "Params", None)
    if not isinstance(type_name, str) or not type_name:
        raise RegistryError(f"{where} has no TYPE string")
    if not (isinstance(params, type) and issubclass(params, BaseModel)):
        raise RegistryError(f"{where} has no pydantic Params model")
    return cls


class Registry:
    def __init__(self) -> None:
        self._types: dict[str, PluginClass] = {}

    def register(self, cls: PluginClass, type_name: str | None = None) -> None:
        """Add ``cls`` under ``type_name`` (default ``cls.TYPE``); a taken name is an error."""
        _check(cls, repr(cls))
        name = type_name or cls.TYPE
        if name in self._types:
            raise RegistryError(f"plugin type {name!r} is already registered")
        self._types[name] = cls

    def resolve(self, type_name: str) -> PluginClass:
        found = self._types.get(type_name)
        if found is not None:
            return found
        if ":" not in type_name:
            raise RegistryError(f"unknown plugin type {type_name!r}")
        module_name, _, attr = type_name.partition(":")
        try:
            obj: object = importlib.import_module(module_name)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as e:
            raise RegistryError(f"cannot import plugin type {type_name!r}: {e}") from e
        return _check(obj, repr(type_name))

    def __contains__(self, type_name: object) -> bool:
        return type_name in self._types

    def types(self) -> list[str]:
        return sorted(self._types)


def default_registry() -> Registry:
    registry = Registry()
    for cls in BUILTIN_PLUGINS:
        registry.register(cls)
    for alias, cls in ALIASES:
        registry.register(cls, alias)
    return registry
