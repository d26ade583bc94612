from __future__ import annotations

import random
from pathlib import Path

import pytest

from inference_gateway.scheduling.config import BUILTIN_CONFIGS, ConfigError, load_config
from inference_gateway.scheduling.registry import Registry
from inference_gateway.scheduling.saturation import SaturationDetector
from inference_gateway.scheduling.scheduler import build_saturation_detector, build_scheduler
from tests.unit.scheduling.helpers import NOW, make_endpoint, make_request

HEADER = """apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
"""


@pytest.mark.parametrize("name", BUILTIN_CONFIGS)
def test_builtin_configs_load_and_schedule(name: str, registry: Registry) -> None:
    config = load_config(name, registry)
    scheduler = build_scheduler(config, rng=random.Random(0))
    decision = scheduler.schedule(make_request(), [make_endpoint("p0"), make_endpoint("p1")], NOW)
    assert decision.primary.name in {"p0", "p1"}


def test_defaults_fill_name_handler_picker_and_weight(registry: Registry) -> None:
    config = load_config(
        HEADER
        + """plugins:
- type: queue-scorer
- {type: kv-cache-utilization-scorer, name: kv}
schedulingProfiles:
- name: only
  plugins: [{pluginRef: queue-scorer}, {pluginRef: kv, weight: 2}]
""",
        registry,
    )
    (profile,) = config.profiles
    assert profile.scorers == (("queue-scorer", 1.0), ("kv", 2.0))
    assert profile.picker == "max-score-picker"
    assert config.plugins["max-score-picker"].type == "max-score-picker"
    assert config.profile_handler == "single-profile-handler"


def test_no_profiles_makes_a_default_profile_of_everything(registry: Registry) -> None:
    config = load_config(HEADER + "plugins: [{type: least-queue-filter}, {type: random-picker}]\n")
    (profile,) = config.profiles
    assert (profile.name, profile.filters, profile.picker) == (
        "default",
        ("least-queue-filter",),
        "random-picker",
    )


def test_load_from_path(tmp_path: Path, registry: Registry) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(HEADER + "plugins: [{type: random-picker}]\n")
    assert load_config(path, registry).profiles[0].picker == "random-picker"
    assert load_config(str(path), registry).profiles[0].picker == "random-picker"


def test_saturation_detector_from_config(registry: Registry) -> None:
    detector = build_saturation_detector(load_config("default", registry))
    assert isinstance(detector, SaturationDetector)
    assert (detector.queue, detector.kv) == (5, 0.8)
    assert detector.staleness == pytest.approx(0.2)
    fallback = build_saturation_detector(load_config("random", registry))
    assert isinstance(fallback, SaturationDetector) and fallback.queue == 5


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("plugins: [{type: foo-filter}]", "plugins[0].type: unknown plugin type 'foo-filter'"),
        (
            "plugins: [{type: queue-scorer}, {type: queue-scorer}]",
            "plugins[1].name: duplicate plugin name 'queue-scorer'",
        ),
        (
            "plugins: [{type: low-queue-filter, parameters: {threshold: -1}}]",
            "plugins[0].parameters.threshold: Input should be greater than or equal to 0",
        ),
        (
            "plugins: [{type: low-queue-filter, parameters: {treshold: 3}}]",
            "plugins[0].parameters.treshold: Extra inputs are not permitted",
        ),
        (
            "plugins: [{type: queue-scorer}]\n"
            "schedulingProfiles: [{name: a, plugins: [{pluginRef: queue-scorer},"
            " {pluginRef: foo}]}]",
            "schedulingProfiles[0].plugins[1].pluginRef: unknown plugin 'foo'",
        ),
        (
            "plugins: [{type: random-picker}, {type: max-score-picker}]\n"
            "schedulingProfiles: [{name: a, plugins: [{pluginRef: random-picker},"
            " {pluginRef: max-score-picker}]}]",
            "schedulingProfiles[0].plugins[1].pluginRef: second picker 'max-score-picker'",
        ),
        (
            "plugins: [{type: queue-scorer}]\n"
            "schedulingProfiles: [{name: a, plugins: [{pluginRef: queue-scorer, weight: -1}]}]",
            "schedulingProfiles[0].plugins[0].weight: Input should be greater than or equal to 0",
        ),
        (
            "plugins: [{type: queue-scorer}]\n"
            "schedulingProfiles: [{name: a, plugins: []}, {name: a, plugins: []}]",
            "schedulingProfiles[1].name: duplicate profile name 'a'",
        ),
        (
            "plugins: [{type: queue-scorer}]\n"
            "schedulingProfiles: [{name: a, plugins: []}, {name: b, plugins: []}]",
            "plugins: several schedulingProfiles need a profile handler",
        ),
        (
            "plugins: [{type: single-profile-handler}, {type: single-profile-handler, name: h2}]",
            "plugins[1].type: second profile handler 'h2'",
        ),
        (
            "plugins: [{type: saturation-detector}]\n"
            "schedulingProfiles: [{name: a, plugins: [{pluginRef: saturation-detector}]}]",
            "schedulingProfiles[0].plugins[0].pluginRef: 'saturation-detector'"
            " (saturation-detector) is not a filter, scorer, picker or producer",
        ),
        (
            "plugins: [{type: decision-tree-filter, parameters: {current: {pluginRef: nope}}}]",
            "plugins[0].parameters.current.pluginRef: unknown plugin 'nope'",
        ),
        (
            "plugins:\n- type: least-queue-filter\n- type: decision-tree-filter\n  parameters:\n"
            "    current: {pluginRef: least-queue-filter}\n"
            "    nextOnFailure: {decisionTree: {current: {pluginRef: ghost}}}",
            "plugins[1].parameters.nextOnFailure.decisionTree.current.pluginRef:"
            " unknown plugin 'ghost'",
        ),
        (
            "plugins: [{type: decision-tree-filter, parameters: {current: {}}}]",
            "plugins[0].parameters.current: Value error,"
            " give exactly one of pluginRef or decisionTree",
        ),
        (
            "plugins: [{type: queue-scorer}, {type: decision-tree-filter, name: t,"
            " parameters: {current: {pluginRef: queue-scorer}}}]",
            "plugins[1].parameters: plugin 'queue-scorer' is not a filter",
        ),
        (
            "plugins: [{type: decision-tree-filter, name: t,"
            " parameters: {current: {pluginRef: t}}}]",
            "plugins[0].parameters: reference cycle t -> t",
        ),
        (
            "plugins: [{type: queue-scorer}]\nsaturationDetector: {pluginRef: queue-scorer}",
            "saturationDetector.pluginRef: 'queue-scorer' is not a detector",
        ),
        (
            "plugins: [{type: queue-scorer}]\nsaturationDetector: {pluginRef: sd}",
            "saturationDetector.pluginRef: unknown plugin 'sd'",
        ),
        ("plugins: [{type: queue-scorer}]\nextra: 1", "extra: Extra inputs are not permitted"),
        ("plugins: [{name: x}]", "plugins[0].type: Field required"),
    ],
)
def test_config_errors_name_the_key(body: str, message: str, registry: Registry) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(HEADER + body + "\n", registry)
    assert str(info.value).startswith(message), str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kind: EndpointPickerConfig\nplugins: []\n", "apiVersion: Field required"),
        (HEADER.replace("EndpointPickerConfig", "Other") + "x: 1\n", "kind: Input should be"),
        ("- a\n- b\n", "<root>: expected a mapping"),
        ("a: [\n", "<root>: not valid YAML"),
    ],
)
def test_document_errors(text: str, message: str, registry: Registry) -> None:
    with pytest.raises(ConfigError, match=r"^" + message.replace("[", r"\[")):
        load_config(text, registry)


def test_unknown_builtin_name_is_an_error(registry: Registry) -> None:
    with pytest.raises(ConfigError, match="no built-in config or file named 'fastest'"):
        load_config("fastest", registry)


def test_upstream_extras_are_accepted(registry: Registry) -> None:
    config = load_config(
        HEADER
        + "featureGates: [dataLayer]\nparser: {pluginRef: openai-parser}\n"
        + "plugins: [{type: random-picker}]\n",
        registry,
    )
    assert config.profiles[0].picker == "random-picker"
