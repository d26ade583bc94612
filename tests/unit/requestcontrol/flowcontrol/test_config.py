"""The ``flowControl`` section: upstream's keys, defaults and errors naming the key."""

from __future__ import annotations

import pytest
import yaml

from inference_gateway.datastore import Datastore
from inference_gateway.requestcontrol.flowcontrol.build import (
    build_flow_hook,
    register_flow_policies,
)
from inference_gateway.requestcontrol.flowcontrol.config import (
    DEFAULT_BAND_MAX_BYTES,
    FlowConfigError,
    parse_flow_control,
)
from inference_gateway.scheduling.config import ConfigError, parse_config
from inference_gateway.scheduling.registry import default_registry
from inference_gateway.scheduling.saturation import SaturationDetector

UPSTREAM_SHAPE = """\
apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
featureGates: [flowControl]
plugins:
- type: queue-scorer
- name: fair
  type: round-robin-fairness-policy
- type: edf-ordering-policy
flowControl:
  maxBytes: 10Gi
  maxRequests: 500
  defaultRequestTTL: 30s
  defaultPriorityBand: {maxBytes: 500M, fairnessPolicyRef: fair}
  priorityBands:
  - {priority: 100, maxBytes: 5Gi, maxRequests: 50, orderingPolicyRef: edf-ordering-policy}
  - {priority: 0}
"""


def test_upstream_shaped_config_loads_with_its_meaning() -> None:
    registry = default_registry()
    register_flow_policies(registry)
    config = parse_config(yaml.safe_load(UPSTREAM_SHAPE), registry)
    assert config.feature_gates == ("flowControl",)
    types = {n: p.type for n, p in config.plugins.items()}
    fc = parse_flow_control(config.flow_control, types)
    assert fc.max_bytes == 10 * 2**30 and fc.max_requests == 500 and fc.default_ttl == 30.0
    top = fc.band(100)
    assert (top.max_bytes, top.max_requests) == (5 * 2**30, 50)
    assert top.ordering == "edf-ordering-policy"
    assert top.fairness == "round-robin-fairness-policy"  # from the template
    assert fc.band(0).max_bytes == 500_000_000
    unconfigured = fc.band(-7)
    assert unconfigured.priority == -7 and unconfigured.fairness == "round-robin-fairness-policy"


def test_defaults_are_upstreams() -> None:
    fc = parse_flow_control({})
    band = fc.band(0)
    assert band.max_bytes == DEFAULT_BAND_MAX_BYTES and band.max_requests == 0
    assert band.fairness == "global-strict-fairness-policy"
    assert band.ordering == "fcfs-ordering-policy"
    assert fc.max_bytes == 0 and fc.default_ttl == 0.0


@pytest.mark.parametrize(
    ("section", "where"),
    [
        ({"maxBytes": "lots"}, "flowControl.maxBytes"),
        ({"defaultRequestTTL": "soon"}, "flowControl.defaultRequestTTL"),
        ({"priorityBands": [{"maxBytes": 1}]}, "flowControl.priorityBands.0.priority"),
        ({"bogus": 1}, "flowControl.bogus"),
        (
            {"priorityBands": [{"priority": 1, "fairnessPolicyRef": "nope"}]},
            "flowControl.priorityBands[0].fairnessPolicyRef",
        ),
        (
            {"priorityBands": [{"priority": 1}, {"priority": 1}]},
            "flowControl.priorityBands[1].priority",
        ),
    ],
)
def test_errors_name_the_key(section: dict[str, object], where: str) -> None:
    with pytest.raises(FlowConfigError) as info:
        parse_flow_control(section)
    assert str(info.value).startswith(where + ":"), info.value


def test_feature_gate_off_means_no_flow_control_even_with_a_section() -> None:
    doc = yaml.safe_load(UPSTREAM_SHAPE.replace("featureGates: [flowControl]", "featureGates: []"))
    registry = default_registry()
    register_flow_policies(registry)
    config = parse_config(doc, registry)
    assert build_flow_hook(config, Datastore(), SaturationDetector()) is None


def test_flow_control_must_be_a_mapping() -> None:
    doc = yaml.safe_load(UPSTREAM_SHAPE)
    doc["flowControl"] = [1]
    registry = default_registry()
    register_flow_policies(registry)
    with pytest.raises(ConfigError, match=r"^flowControl"):
        parse_config(doc, registry)
