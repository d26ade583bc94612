"""Upstream's data-layer plugins in the EndpointPickerConfig, and where scrapes go.

Upstream v1.5 configures model-server scraping in the same ``plugins:`` list as the scheduler:
``metrics-data-source`` (``scheme``, ``path``, ``insecureSkipVerify``) says how to GET the
metrics page and ``core-metrics-extractor`` (``engineLabelKey``, ``defaultEngine``,
``engineConfigs``) says which series mean what. Both types are registered here so that the
scheduler's loader accepts them (they take part in no profile), and ``scrape_settings`` reads
their parameters into a ``ScrapeSettings`` the EPP hands to ``MetricsScraper``.

Precedence is upstream's: built-in defaults, then the deprecated flags
(``--model-server-metrics-*``, ``--total-queued-requests-metric`` and friends, held in the
``ScrapeSettings`` passed in), then the config's plugin parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from inference_gateway.datastore.objects import ENGINE_TYPE_LABEL
from inference_gateway.modelserver.spec import DEFAULT_ENGINE, EngineConfig, EngineMappings
from inference_gateway.scheduling.config import BUILTIN_CONFIGS, ConfigError
from inference_gateway.scheduling.registry import Registry

METRICS_DATA_SOURCE = "metrics-data-source"
CORE_METRICS_EXTRACTOR = "core-metrics-extractor"

_P = TypeVar("_P", bound=BaseModel)


class ScrapeSettings(BaseModel):
    """Where and how the EPP reads each model server's ``/metrics``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scheme: Literal["http", "https"] = "http"
    path: str = "/metrics"
    port: int | None = Field(default=None, ge=1, le=65535)
    """Scrape this port instead of the endpoint's own (upstream's deprecated
    ``--model-server-metrics-port``; None or 0 there: the target port)."""
    insecure_skip_verify: bool = True
    """With https, do not verify the model server's certificate (upstream's default)."""
    engine_label_key: str = ENGINE_TYPE_LABEL
    default_engine: str = DEFAULT_ENGINE
    engines: tuple[EngineConfig, ...] = ()
    """Entries over the built-ins, later ones replacing earlier ones of the same name."""

    def mappings(self) -> EngineMappings:
        """The engine table; raises ``ValueError`` for a bad selector or default engine."""
        return EngineMappings(self.engines, default_engine=self.default_engine)


class _Params(BaseModel):
    # Strict, as Go's json.Unmarshal: "yes" is not a bool and "1" is not a number.
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, strict=True)


class MetricsDataSource:
    """``metrics-data-source``: how the metrics page is fetched (no scheduling role)."""

    TYPE = METRICS_DATA_SOURCE

    class Params(_Params):
        scheme: Literal["http", "https"] | None = None
        path: str | None = None
        insecure_skip_verify: bool | None = Field(default=None, alias="insecureSkipVerify")

    def __init__(self, name: str, params: Params, handle: object) -> None:
        self.name = name
        self.params = params


class CoreMetricsExtractor:
    """``core-metrics-extractor``: which series mean what, per engine (no scheduling role)."""

    TYPE = CORE_METRICS_EXTRACTOR

    class Params(_Params):
        engine_label_key: str | None = Field(default=None, alias="engineLabelKey")
        default_engine: str | None = Field(default=None, alias="defaultEngine")
        engine_configs: list[EngineConfig] = Field(default_factory=list, alias="engineConfigs")

    def __init__(self, name: str, params: Params, handle: object) -> None:
        self.name = name
        self.params = params
        # Built now so that load_config reports a bad selector or engine name before serving.
        try:
            EngineMappings(
                params.engine_configs, default_engine=params.default_engine or DEFAULT_ENGINE
            )
        except ValueError as e:
            raise ValueError(f"engineConfigs: {e}") from e


def register_data_layer(registry: Registry) -> None:
    """Add the two data-layer plugin types to a scheduler plugin registry."""
    registry.register(MetricsDataSource)
    registry.register(CoreMetricsExtractor)


def scrape_settings(source: str, base: ScrapeSettings) -> ScrapeSettings:
    """``base`` (defaults and flags) overlaid with the data-layer plugins of an
    EndpointPickerConfig (YAML text, a file, or a built-in name as ``load_config`` takes);
    a bad parameter raises ``ConfigError`` naming it."""
    if source in BUILTIN_CONFIGS:
        return base  # the built-in configs have no data-layer plugins
    try:
        text = source if "\n" in source else Path(source).read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"<root>: cannot read {source!r}: {e}") from e
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"<root>: not valid YAML: {e}") from e
    plugins = data.get("plugins") if isinstance(data, Mapping) else None
    if not isinstance(plugins, list):
        return base
    update: dict[str, Any] = {}
    for i, spec in enumerate(plugins):
        if not isinstance(spec, Mapping):
            continue
        plugin_type = spec.get("type")
        if plugin_type == METRICS_DATA_SOURCE:
            fetch = _params(MetricsDataSource.Params, spec, i)
            update |= _set(
                scheme=fetch.scheme,
                path=fetch.path,
                insecure_skip_verify=fetch.insecure_skip_verify,
            )
        elif plugin_type == CORE_METRICS_EXTRACTOR:
            extractor = _params(CoreMetricsExtractor.Params, spec, i)
            update |= _set(
                engine_label_key=extractor.engine_label_key or None,
                default_engine=extractor.default_engine or None,
            )
            update["engines"] = (*base.engines, *extractor.engine_configs)
    return base.model_copy(update=update) if update else base


def _params(model: type[_P], spec: Mapping[str, Any], index: int) -> _P:
    try:
        return model.model_validate(spec.get("parameters") or {})
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"plugins[{index}].parameters.{where}: {first['msg']}") from e


def _set(**values: object) -> dict[str, object]:
    return {k: v for k, v in values.items() if v is not None}


__all__ = [
    "CORE_METRICS_EXTRACTOR",
    "METRICS_DATA_SOURCE",
    "CoreMetricsExtractor",
    "MetricsDataSource",
    "ScrapeSettings",
    "register_data_layer",
    "scrape_settings",
]
