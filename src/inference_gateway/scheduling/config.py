"""Loading and validating the upstream ``EndpointPickerConfig`` YAML.

Everything is checked before serving, and each error names its key path, e.g.
``schedulingProfiles[0].plugins[1].pluginRef: unknown plugin 'foo'``. Defaults follow
upstream v1.5: a plugin's name defaults to its type; no profiles means one ``default``
profile with every filter, scorer and picker; one profile without a handler gets a
``single-profile-handler``; a profile without a picker gets a ``max-score-picker``; a
scorer without a weight weighs 1.0; a producer a declared plugin reads (``Plugin.NEEDS``)
is added when none is declared, and a producer listed in a profile runs before its filters
and never scores. ``featureGates`` and ``flowControl`` are kept raw for
``requestcontrol.flowcontrol`` to read (``prepareDataPlugins``, which upstream v1.3-v1.4
needed for its latency predictor, is accepted: producers always run here); ``dataLayer``
is accepted and ignored; ``parser`` must name a declared parser plugin, or
``openai-parser``, which upstream adds when undeclared (the only parser registered: what
the gateway does anyway). llm-d's ``llm-d.ai/v1alpha1`` documents are read like
upstream's. ``load_config`` also builds every plugin once with a throwaway RNG so that
errors only construction can find (a decision tree pointing at a scorer, a reference
cycle) surface here too.
"""

from __future__ import annotations

import builtins
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from inference_gateway.scheduling.framework import PluginHandle, kinds_of
from inference_gateway.scheduling.registry import Registry, RegistryError, default_registry

API_VERSION = "inference.networking.x-k8s.io/v1alpha1"
BUILTIN_CONFIGS = (
    "default",
    "scorer-mix",
    "round-robin",
    "random",
    "least-request",
    "predicted",
)


class ConfigError(ValueError):
    """An invalid scheduler configuration; the message starts with the offending key path."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _PluginSpec(_Model):
    name: str | None = Field(default=None, min_length=1)
    type: str = Field(min_length=1)
    parameters: dict[str, Any] | None = None


DEFAULT_PARSER = "openai-parser"
"""The parser upstream adds when ``parser.pluginRef`` names an undeclared plugin of that name."""


class _ProfileRef(_Model):
    pluginRef: str
    weight: float | None = Field(default=None, ge=0.0)


class _Profile(_Model):
    name: str = Field(min_length=1)
    plugins: list[_ProfileRef]


class _Ref(_Model):
    pluginRef: str


class _Document(_Model):
    apiVersion: Literal["inference.networking.x-k8s.io/v1alpha1", "llm-d.ai/v1alpha1"]
    kind: Literal["EndpointPickerConfig"]
    featureGates: list[str] | None = None
    plugins: list[_PluginSpec] = []
    schedulingProfiles: list[_Profile] = []
    saturationDetector: _Ref | None = None
    dataLayer: Any = None
    flowControl: Any = None
    parser: _Ref | None = None


@dataclass(frozen=True, slots=True)
class PluginConfig:
    name: str
    type: str
    cls: builtins.type[Any]
    params: BaseModel
    index: int
    """Position in ``plugins:`` (-1 for plugins added by defaulting), for error paths."""


@dataclass(frozen=True, slots=True)
class ProfileConfig:
    name: str
    filters: tuple[str, ...]
    scorers: tuple[tuple[str, float], ...]
    picker: str
    producers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    plugins: Mapping[str, PluginConfig]
    profiles: tuple[ProfileConfig, ...]
    profile_handler: str
    saturation_detector: str | None = None
    feature_gates: tuple[str, ...] = ()
    flow_control: Mapping[str, Any] | None = None
    """The raw ``flowControl`` section, parsed by ``requestcontrol.flowcontrol.config``."""


def _path(prefix: str, loc: Sequence[int | str]) -> str:
    out = prefix
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<root>"


def _from_validation(prefix: str, err: ValidationError) -> ConfigError:
    first = err.errors()[0]
    msg = first["msg"]
    return ConfigError(f"{_path(prefix, first['loc'])}: {msg}")


def _read(source: str | Path) -> str:
    if isinstance(source, Path):
        return source.read_text(encoding="utf-8")
    if "\n" in source:
        return source
    if source in BUILTIN_CONFIGS:
        ref = resources.files("inference_gateway.scheduling") / "configs" / f"{source}.yaml"
        return ref.read_text(encoding="utf-8")
    path = Path(source)
    if not path.is_file():
        raise ConfigError(f"<root>: no built-in config or file named {source!r}")
    return path.read_text(encoding="utf-8")


def load_config(source: str | Path, registry: Registry | None = None) -> SchedulerConfig:
    """Parse YAML text, a file path, or a built-in name (``BUILTIN_CONFIGS``)."""
    try:
        data = yaml.safe_load(_read(source))
    except yaml.YAMLError as e:
        raise ConfigError(f"<root>: not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError("<root>: expected a mapping (an EndpointPickerConfig document)")
    config = parse_config(data, registry or default_registry())
    instantiate(config, random.Random(0))
    return config


def parse_config(data: Mapping[str, Any], registry: Registry) -> SchedulerConfig:
    try:
        doc = _Document.model_validate(data)
    except ValidationError as e:
        raise _from_validation("", e) from e
    plugins = _plugins(doc, registry)
    _add_needed(plugins, registry)
    profiles = _profiles(doc, plugins, registry)
    handler = _handler(doc, plugins, registry)
    detector = None
    if doc.saturationDetector is not None:
        detector = doc.saturationDetector.pluginRef
        found = plugins.get(detector)
        if found is None:
            raise ConfigError(f"saturationDetector.pluginRef: unknown plugin {detector!r}")
        if not callable(getattr(found.cls, "is_saturated", None)):
            raise ConfigError(f"saturationDetector.pluginRef: {detector!r} is not a detector")
    if doc.parser is not None:
        ref = doc.parser.pluginRef
        parser = plugins.get(ref)
        if parser is None and ref != DEFAULT_PARSER:
            raise ConfigError(f"parser.pluginRef: unknown plugin {ref!r}")
        if parser is not None and not getattr(parser.cls, "PARSER", False):
            raise ConfigError(f"parser.pluginRef: {ref!r} is not a parser")
    flow = doc.flowControl if isinstance(doc.flowControl, Mapping) else None
    if doc.flowControl is not None and flow is None:
        raise ConfigError("flowControl: must be a mapping")
    gates = tuple(doc.featureGates or ())
    return SchedulerConfig(plugins, profiles, handler, detector, gates, flow)


def _plugins(doc: _Document, registry: Registry) -> dict[str, PluginConfig]:
    plugins: dict[str, PluginConfig] = {}
    for i, spec in enumerate(doc.plugins):
        try:
            cls = registry.resolve(spec.type)
        except RegistryError as e:
            raise ConfigError(f"plugins[{i}].type: {e}") from e
        name = spec.name or spec.type
        if name in plugins:
            raise ConfigError(f"plugins[{i}].name: duplicate plugin name {name!r}")
        try:
            params = cls.Params.model_validate(spec.parameters or {})
        except ValidationError as e:
            raise _from_validation(f"plugins[{i}].parameters", e) from e
        plugins[name] = PluginConfig(name, spec.type, cls, params, i)
    for p in plugins.values():
        refs = getattr(p.params, "plugin_refs", None)
        for rel, ref in refs() if callable(refs) else ():
            if ref not in plugins:
                raise ConfigError(f"plugins[{p.index}].parameters.{rel}: unknown plugin {ref!r}")
    return plugins


def _add_needed(plugins: dict[str, PluginConfig], registry: Registry) -> None:
    """Add, with defaults, each producer a declared plugin reads and no declared plugin
    provides (``Plugin.NEEDS``), as upstream adds missing data producers: a config that
    lists only ``latency-scorer`` gets ``predicted-latency-producer`` and, through it,
    ``approx-prefix-cache-producer``."""
    todo = list(plugins.values())
    while todo:
        spec = todo.pop()
        for provides, default in getattr(spec.cls, "NEEDS", ()):
            if not any(p.type in provides for p in plugins.values()):
                todo.append(plugins[_auto(plugins, default, registry)])


def _auto(plugins: dict[str, PluginConfig], type_name: str, registry: Registry) -> str:
    existing = plugins.get(type_name)
    if existing is None:
        cls = registry.resolve(type_name)
        plugins[type_name] = PluginConfig(type_name, type_name, cls, cls.Params(), -1)
    return type_name


def _profiles(
    doc: _Document, plugins: dict[str, PluginConfig], registry: Registry
) -> tuple[ProfileConfig, ...]:
    raw = doc.schedulingProfiles
    if not raw:
        usable = [p for p in plugins.values() if kinds_of(p.cls) & {"filter", "scorer", "picker"}]
        raw = [_Profile(name="default", plugins=[_ProfileRef(pluginRef=p.name) for p in usable])]
    out: list[ProfileConfig] = []
    seen: set[str] = set()
    for i, prof in enumerate(raw):
        where = f"schedulingProfiles[{i}]"
        if prof.name in seen:
            raise ConfigError(f"{where}.name: duplicate profile name {prof.name!r}")
        seen.add(prof.name)
        filters: list[str] = []
        scorers: list[tuple[str, float]] = []
        pickers: list[str] = []
        producers: list[str] = []
        for j, ref in enumerate(prof.plugins):
            key = f"{where}.plugins[{j}].pluginRef"
            found = plugins.get(ref.pluginRef)
            if found is None:
                raise ConfigError(f"{key}: unknown plugin {ref.pluginRef!r}")
            kinds = kinds_of(found.cls)
            if "producer" in kinds:
                producers.append(found.name)  # runs first; never scores (upstream ignores it)
                continue
            if not kinds & {"filter", "scorer", "picker"}:
                raise ConfigError(
                    f"{key}: {ref.pluginRef!r} ({found.type}) is not a filter, scorer,"
                    " picker or producer"
                )
            if "filter" in kinds:
                filters.append(found.name)
            if "scorer" in kinds:
                scorers.append((found.name, 1.0 if ref.weight is None else ref.weight))
            if "picker" in kinds:
                if pickers:
                    raise ConfigError(
                        f"{key}: second picker {ref.pluginRef!r} (already {pickers[0]!r})"
                    )
                pickers.append(found.name)
        picker = pickers[0] if pickers else _auto(plugins, "max-score-picker", registry)
        if "picker" not in kinds_of(plugins[picker].cls):
            raise ConfigError(f"{where}.plugins: plugin 'max-score-picker' is not a picker")
        out.append(
            ProfileConfig(prof.name, tuple(filters), tuple(scorers), picker, tuple(producers))
        )
    return tuple(out)


def _handler(doc: _Document, plugins: dict[str, PluginConfig], registry: Registry) -> str:
    handlers = [p for p in plugins.values() if "profile-handler" in kinds_of(p.cls)]
    if len(handlers) > 1:
        raise ConfigError(
            f"plugins[{handlers[1].index}].type: second profile handler "
            f"{handlers[1].name!r} (already {handlers[0].name!r})"
        )
    if handlers:
        return handlers[0].name
    if len(doc.schedulingProfiles) > 1:
        raise ConfigError("plugins: several schedulingProfiles need a profile handler plugin")
    return _auto(plugins, "single-profile-handler", registry)


def instantiate(config: SchedulerConfig, rng: random.Random) -> dict[str, object]:
    """One instance per configured plugin, built in dependency order with a shared RNG."""
    built: dict[str, object] = {}
    building: list[str] = []

    def get(name: str) -> object:
        if name in built:
            return built[name]
        spec = config.plugins.get(name)
        where = f"plugins[{spec.index}]" if spec is not None else "plugins"
        if spec is None:
            raise ConfigError(f"{where}: unknown plugin {name!r}")
        if name in building:
            raise ConfigError(
                f"{where}.parameters: reference cycle {' -> '.join([*building, name])}"
            )
        building.append(name)
        try:
            built[name] = spec.cls(name, spec.params, handle)
        except (TypeError, ValueError) as e:
            if isinstance(e, ConfigError):
                raise
            raise ConfigError(f"{where}.parameters: {e}") from e
        finally:
            building.pop()
        return built[name]

    handle = PluginHandle(
        rng=rng, lookup=get, types={name: spec.type for name, spec in config.plugins.items()}
    )
    for name in config.plugins:
        get(name)
    return built
