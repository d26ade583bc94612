"""Upstream's default EndpointPickerConfigs (v1.0.2, v1.5.0) load, and the data-layer plugins
feed the scrape settings; files under ``tests/upstream`` are upstream's, written verbatim."""

from __future__ import annotations

from pathlib import Path

import pytest

from inference_gateway.app import epp_registry
from inference_gateway.modelserver.datalayer import (
    ScrapeSettings,
    register_data_layer,
    scrape_settings,
)
from inference_gateway.modelserver.spec import EngineConfig
from inference_gateway.requestcontrol.extensions import register_extensions
from inference_gateway.scheduling.config import ConfigError, load_config
from inference_gateway.scheduling.registry import Registry, default_registry

UPSTREAM = Path(__file__).parents[2] / "upstream"
HEADER = "apiVersion: inference.networking.x-k8s.io/v1alpha1\nkind: EndpointPickerConfig\n"


def registry() -> Registry:
    r = default_registry()
    register_extensions(r)
    register_data_layer(r)
    return r


@pytest.mark.parametrize(
    ("name", "weights"),
    [
        ("default_plugins_v1.0.2.yaml", {"queue-scorer": 1.0, "kv-cache-utilization-scorer": 1.0,
                                         "prefix-cache-scorer": 1.0}),
        ("default_plugins_v1.5.0.yaml", {"queue-scorer": 2.0, "kv-cache-utilization-scorer": 2.0,
                                         "prefix-cache-scorer": 3.0}),
        ("default_plugins_v1.5.0_sglang.yaml", {"queue-scorer": 2.0,
                                                "kv-cache-utilization-scorer": 2.0,
                                                "prefix-cache-scorer": 3.0}),
    ],
)  # fmt: skip
def test_upstream_default_configs_load(name: str, weights: dict[str, float]) -> None:
    config = load_config(UPSTREAM / name, registry())
    (profile,) = config.profiles
    assert dict(profile.scorers) == weights
    assert profile.picker == "max-score-picker"
    assert config.profile_handler == "single-profile-handler"


def test_v150_default_config_scrapes_as_upstream() -> None:
    got = scrape_settings(str(UPSTREAM / "default_plugins_v1.5.0.yaml"), ScrapeSettings())
    assert (got.scheme, got.path, got.insecure_skip_verify) == ("http", "/metrics", True)
    assert got.mappings().resolve(None).name == "vllm"


def test_default_engine_from_the_extractor() -> None:
    got = scrape_settings(str(UPSTREAM / "default_plugins_v1.5.0_sglang.yaml"), ScrapeSettings())
    assert got.mappings().resolve(None).name == "sglang"


def test_config_parameters_override_flags() -> None:
    flags = ScrapeSettings(scheme="https", path="/flag", port=9400, insecure_skip_verify=False)
    text = HEADER + (
        "plugins:\n- type: metrics-data-source\n  parameters: {path: /prometheus/metrics}\n"
        "- type: core-metrics-extractor\n  parameters:\n    engineLabelKey: engine\n"
        "    engineConfigs:\n    - name: mine\n      queuedRequestsSpec: q_total\n"
        "    defaultEngine: mine\n"
    )
    got = scrape_settings(text, flags)
    assert (got.scheme, got.path, got.port) == ("https", "/prometheus/metrics", 9400)
    assert got.insecure_skip_verify is False
    assert got.engine_label_key == "engine"
    mapping = got.mappings().resolve(None)
    assert mapping.name == "mine" and mapping.queued[0].family == "q_total"


def test_config_engines_replace_the_flag_engine_of_the_same_name() -> None:
    flags = ScrapeSettings(
        engines=(EngineConfig.model_validate({"name": "vllm", "queuedRequestsSpec": "from_flag"}),)
    )
    text = HEADER + (
        "plugins:\n- type: core-metrics-extractor\n  parameters:\n    engineConfigs:\n"
        "    - name: vllm\n      queuedRequestsSpec: from_config\n"
    )
    assert scrape_settings(text, flags).mappings().resolve("vllm").queued[0].family == (
        "from_config"
    )


@pytest.mark.parametrize(
    ("plugin", "key"),
    [
        ("- type: metrics-data-source\n  parameters: {scheme: ftp}",
         "plugins[0].parameters.scheme"),
        ("- type: metrics-data-source\n  parameters: {insecureSkipVerify: 'yes'}",
         "plugins[0].parameters.insecureSkipVerify"),
        ("- type: core-metrics-extractor\n  parameters: {bogus: 1}", "plugins[0].parameters.bogus"),
    ],
)  # fmt: skip
def test_bad_data_layer_parameters_name_the_key(plugin: str, key: str) -> None:
    text = HEADER + "plugins:\n" + plugin + "\n"
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        scrape_settings(text, ScrapeSettings())
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        load_config(text, registry())


def test_a_bad_engine_selector_is_refused_at_load() -> None:
    text = HEADER + (
        "plugins:\n- type: core-metrics-extractor\n  parameters:\n    engineConfigs:\n"
        "    - name: x\n      kvUsageSpec: 'a{b'\n"
    )
    with pytest.raises(ConfigError, match=r"plugins\[0\]\.parameters: engineConfigs"):
        load_config(text, registry())


def test_chart_with_the_openai_parser_loads_and_other_parsers_do_not() -> None:
    """``inferencePool.parser: openai-parser`` (upstream's chart, rendered in
    ``tests/upstream``) declares what the gateway does anyway; a parser it does not have,
    or a ``parser`` that names no parser, is refused, not served as OpenAI."""
    reg = epp_registry()
    config = load_config(UPSTREAM / "default_plugins_v1.5_openai_parser.yaml", reg)
    assert config.plugins["openai-parser"].type == "openai-parser"
    (profile,) = config.profiles
    assert dict(profile.scorers) == {
        "queue-scorer": 2.0, "kv-cache-utilization-scorer": 2.0, "prefix-cache-scorer": 3.0
    }  # fmt: skip
    for plugins, parser, error in (
        ("- type: passthrough-parser\n", "passthrough-parser", "unknown plugin type"),
        ("- type: queue-scorer\n", "queue-scorer", "is not a parser"),
        ("- type: openai-parser\n", "other", "unknown plugin 'other'"),
    ):
        text = f"{HEADER}plugins:\n{plugins}parser:\n  pluginRef: {parser}\n"
        with pytest.raises(ConfigError, match=error):
            load_config(text, reg)
