"""Model-server metrics: per-engine Prometheus parsing and the per-endpoint scrape loops."""

from __future__ import annotations

from inference_gateway.modelserver.collector import ScraperCollector
from inference_gateway.modelserver.parser import MetricsParseError, parse
from inference_gateway.modelserver.scraper import MetricsScraper, MetricsSink, Transport
from inference_gateway.modelserver.spec import (
    BUILTIN_ENGINES,
    DEFAULT_ENGINE,
    EngineConfig,
    EngineMapping,
    EngineMappings,
    MetricSpec,
)
from inference_gateway.modelserver.stats import ScrapeStats

__all__ = [
    "BUILTIN_ENGINES",
    "DEFAULT_ENGINE",
    "EngineConfig",
    "EngineMapping",
    "EngineMappings",
    "MetricSpec",
    "MetricsParseError",
    "MetricsScraper",
    "MetricsSink",
    "ScrapeStats",
    "ScraperCollector",
    "Transport",
    "parse",
]
