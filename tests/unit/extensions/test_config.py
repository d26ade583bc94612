"""Extensions are configured in the same EndpointPickerConfig as the scheduling plugins."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from inference_gateway.requestcontrol.extensions import build_chain, register_extensions
from inference_gateway.requestcontrol.extensions.safety import SafetyPolicy
from inference_gateway.requestcontrol.extensions.semantic_cache.plugin import SemanticCache
from inference_gateway.scheduling.config import (
    ConfigError,
    SchedulerConfig,
    instantiate,
    load_config,
)
from inference_gateway.scheduling.registry import Registry, default_registry

CONFIG = """
apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: queue-scorer
- type: max-score-picker
- name: guard
  type: safety-policy
  parameters:
    denyPatterns: ["secret"]
    maxPromptTokens: 100
    timeout: 500ms
    failureMode: open
- type: semantic-cache
  parameters: {threshold: 0.9, ttl: 10m, maxEntries: 50}
schedulingProfiles:
- name: default
  plugins:
  - pluginRef: queue-scorer
  - pluginRef: max-score-picker
"""


def built(config: SchedulerConfig) -> list[object]:
    return list(instantiate(config, random.Random(0)).values())


def registry() -> Registry:
    reg = default_registry()
    register_extensions(reg)
    return reg


def test_yaml_configures_both_extensions_beside_the_scheduler() -> None:
    config = load_config(CONFIG, registry())
    chain = build_chain(instantiate(config, random.Random(0)).values())
    guard, cache = chain.plugins
    assert isinstance(guard, SafetyPolicy) and isinstance(cache, SemanticCache)
    assert (guard.name, guard.timeout, guard.failure_mode) == ("guard", 0.5, "open")
    assert guard.params.maxPromptTokens == 100
    assert (cache.name, cache.params.threshold, cache.params.ttl) == ("semantic-cache", 0.9, 600.0)
    assert chain.admission == [guard]
    assert chain.prepare == [cache] and chain.pre_request == [cache]
    assert config.profiles[0].scorers == (("queue-scorer", 1.0),)


def test_default_profile_ignores_extensions() -> None:
    text = CONFIG.split("schedulingProfiles:")[0]
    config = load_config(text, registry())
    assert config.profiles[0].scorers == (("queue-scorer", 1.0),)
    assert len(build_chain(instantiate(config, random.Random(0)).values()).plugins) == 2


def test_no_extensions_configured_gives_an_empty_chain() -> None:
    assert not build_chain(built(load_config("default", registry())))


def test_a_profile_cannot_reference_an_extension() -> None:
    text = CONFIG + "  - pluginRef: guard\n"
    with pytest.raises(ConfigError, match=r"schedulingProfiles\[0\].plugins\[2\].pluginRef"):
        load_config(text, registry())


def test_bad_parameters_name_their_key() -> None:
    text = CONFIG.replace("maxPromptTokens: 100", "maxPromptTokens: 0")
    with pytest.raises(ConfigError, match=r"plugins\[2\].parameters.maxPromptTokens"):
        load_config(text, registry())


def test_unregistered_types_are_unknown() -> None:
    with pytest.raises(ConfigError, match="unknown plugin type 'safety-policy'"):
        load_config(CONFIG, default_registry())


def test_examples_load(tmp_path: Path) -> None:
    import yaml

    root = Path(__file__).resolve().parents[3] / "examples"
    for name, cls in (("safety.yaml", SafetyPolicy), ("semantic-cache.yaml", SemanticCache)):
        docs = list(yaml.safe_load_all((root / name).read_text()))
        picker_docs = [d for d in docs if d and d.get("kind") == "EndpointPickerConfig"]
        assert len(picker_docs) == 1, name
        target = tmp_path / name
        target.write_text(yaml.safe_dump(picker_docs[0]))
        chain = build_chain(built(load_config(target, registry())))
        assert any(isinstance(p, cls) for p in chain.plugins), name
