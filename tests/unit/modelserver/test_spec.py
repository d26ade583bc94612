"""Selector syntax and engine resolution."""

from __future__ import annotations

import logging

import pytest
from pydantic import ValidationError

from inference_gateway.modelserver.spec import (
    SGLANG,
    VLLM,
    EngineConfig,
    EngineMapping,
    EngineMappings,
    MetricSpec,
)


@pytest.mark.parametrize(
    ("text", "family", "labels"),
    [
        ("vllm:num_requests_waiting", "vllm:num_requests_waiting", ()),
        ("m{}", "m", ()),
        ("m{a=b}", "m", (("a", "b"),)),
        ('m{ a = "x,y" , b="q\\"r" }', "m", (("a", "x,y"), ("b", 'q"r'))),
        (
            "nv_trt_llm_request_metrics{request_type=waiting}",
            "nv_trt_llm_request_metrics",
            (("request_type", "waiting"),),
        ),
    ],
)
def test_spec_parse(text: str, family: str, labels: tuple[tuple[str, str], ...]) -> None:
    spec = MetricSpec.parse(text)
    assert (spec.family, spec.labels) == (family, labels)
    assert MetricSpec.parse(str(spec)) == spec


@pytest.mark.parametrize("text", ["", "1abc", "m{a}", "m{=b}", "m{a=b", "m x", 'm{a="b}'])
def test_spec_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="metric spec"):
        MetricSpec.parse(text)


def test_spec_matches_requires_every_label() -> None:
    spec = MetricSpec.parse("m{a=1,b=2}")
    assert spec.matches({"a": "1", "b": "2", "c": "3"})
    assert not spec.matches({"a": "1"})


def test_engine_config_error_names_the_key() -> None:
    config = EngineConfig.model_validate({"name": "x", "kvUsageSpec": "bad{"})
    with pytest.raises(ValueError, match=r"engineConfigs\[x\]\.kvUsageSpec"):
        config.to_mapping()


def test_engine_config_rejects_unknown_keys() -> None:
    with pytest.raises(ValidationError):
        EngineConfig.model_validate({"name": "x", "queueSpec": "q"})


def test_mapping_families_cover_all_fields() -> None:
    assert VLLM.families == {
        "vllm:num_requests_waiting",
        "vllm:num_requests_running",
        "vllm:kv_cache_usage_perc",
        "vllm:gpu_cache_usage_perc",
        "vllm:lora_requests_info",
        "vllm:cache_config_info",
    }


def test_resolve_builtin_user_override_and_default(caplog: pytest.LogCaptureFixture) -> None:
    custom = EngineMapping(name="sglang", queued=(MetricSpec("q"),))
    engines = EngineMappings([custom])
    assert engines.resolve("sglang") is custom
    assert engines.resolve(None) is VLLM
    assert engines.resolve("") is VLLM
    with caplog.at_level(logging.WARNING):
        assert engines.resolve("mystery") is VLLM
        assert engines.resolve("mystery") is VLLM
    assert sum("mystery" in r.message for r in caplog.records) == 1


def test_default_engine_is_configurable_and_checked() -> None:
    assert EngineMappings(default_engine="sglang").resolve(None) is SGLANG
    with pytest.raises(ValueError, match="defaultEngine"):
        EngineMappings(default_engine="nope")
