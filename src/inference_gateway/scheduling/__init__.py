"""Pure endpoint picking: filters, scorers, pickers and profiles over endpoint snapshots.

The request path needs four calls: ``load_config`` (YAML text, path or a built-in name),
``build_scheduler`` (with the injected RNG), ``build_saturation_detector`` (for
``admit``), and ``format_explanation`` for the debug header.
"""

from inference_gateway.scheduling.config import (
    BUILTIN_CONFIGS,
    ConfigError,
    SchedulerConfig,
    load_config,
)
from inference_gateway.scheduling.explain import format_explanation
from inference_gateway.scheduling.registry import Registry, default_registry
from inference_gateway.scheduling.saturation import SaturationDetector
from inference_gateway.scheduling.scheduler import (
    PluginScheduler,
    build_saturation_detector,
    build_scheduler,
)

__all__ = [
    "BUILTIN_CONFIGS",
    "ConfigError",
    "PluginScheduler",
    "Registry",
    "SaturationDetector",
    "SchedulerConfig",
    "build_saturation_detector",
    "build_scheduler",
    "default_registry",
    "format_explanation",
    "load_config",
]
