"""Upstream's conformance config (``tests/upstream/conformance_plugins.yaml``, verbatim from
GIE's conformance suite) loads, and its two test plugins behave as upstream's do: the
header names the pods (IP, IP:port, bracketed IPv6; header order, once per IP), and the
verifier echoes the endpoint the data plane says served."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inference_gateway.app import epp_registry
from inference_gateway.datastore.types import Endpoint
from inference_gateway.requestcontrol.extensions import build_chain
from inference_gateway.requestcontrol.extensions.base import RequestContext
from inference_gateway.requestcontrol.extensions.conformance import (
    MISSING,
    RESULT_HEADER,
    DestinationEndpointServedVerifier,
)
from inference_gateway.requestcontrol.extensions.runner import RequestExtensions
from inference_gateway.scheduling.config import instantiate, load_config
from inference_gateway.scheduling.framework import PluginHandle
from inference_gateway.scheduling.plugins.conformance import (
    SELECTION_HEADER,
    HeaderBasedTestingFilter,
)
from inference_gateway.scheduling.scheduler import build_scheduler
from inference_gateway.scheduling.types import LLMRequest, NoCapacityError
from tests.unit.scheduling.helpers import NOW, make_endpoint, make_request

CONFIG = Path(__file__).parents[2] / "upstream" / "conformance_plugins.yaml"


def _at(name: str, address: str, port: int = 8000) -> Endpoint:
    return replace(make_endpoint(name), address=address, port=port)


PODS = [
    _at("a", "10.0.0.1"),
    _at("b", "10.0.0.2"),
    _at("b-rank-1", "10.0.0.2", 8001),
    _at("c", "fd00::3"),
]


def _request(selection: str | None) -> LLMRequest:
    headers = {} if selection is None else {SELECTION_HEADER: selection}
    return replace(make_request(), headers=MappingProxyType(headers))


def _keep(selection: str | None, pods: list[Endpoint] = PODS) -> list[str]:
    handle = PluginHandle(random.Random(0))
    f = HeaderBasedTestingFilter("f", HeaderBasedTestingFilter.Params(), handle)
    return [e.name for e in f.filter(_request(selection), pods, {})]


@pytest.mark.parametrize(
    ("selection", "kept"),
    [
        ("10.0.0.1", ["a"]),
        ("10.0.0.2:8000", ["b"]),
        ("10.0.0.2:8001", ["b-rank-1"]),
        ("10.0.0.2", ["b-rank-1"]),  # a bare IP: the last endpoint of that IP, as upstream
        ("10.0.0.2:9999", []),
        ("10.0.0.3,10.0.0.1", ["a"]),
        (" 10.0.0.1 , ,fd00::3", ["a", "c"]),
        ("[fd00::3]:8000", ["c"]),
        ("[fd00::3]", ["c"]),
        ("fd00::3,10.0.0.2:8000,10.0.0.1", ["c", "b", "a"]),
        ("10.0.0.2:8000,10.0.0.2:8001", ["b"]),  # once per IP
        ("10.0.0.1:", ["a"]),  # an empty port is a bare IP (Go's SplitHostPort)
        ("", []),
        ("   ", []),
        (None, []),
    ],
)
def test_header_selects_endpoints_as_upstream(selection: str | None, kept: list[str]) -> None:
    assert _keep(selection) == kept


@given(st.text(alphabet="0123456789.:[],af ", max_size=60))
def test_any_header_keeps_only_candidates_once_per_ip(selection: str) -> None:
    kept = _keep(selection)
    by_name = {e.name: e for e in PODS}
    assert set(kept) <= set(by_name)
    addresses = [by_name[n].address for n in kept]
    assert len(addresses) == len(set(addresses))


def test_upstream_conformance_config_loads_and_routes_by_header() -> None:
    config = load_config(CONFIG, epp_registry())
    (profile,) = config.profiles
    assert profile.picker == "max-score-picker"  # added by the loader, as upstream does
    plugins = instantiate(config, random.Random(0))
    chain = build_chain(plugins.values())
    assert [type(p) for p in chain.plugins] == [DestinationEndpointServedVerifier]
    scheduler = build_scheduler(config, rng=random.Random(0), plugins=plugins)
    for selection, allowed in (("10.0.0.2:8000", {"b"}), ("10.0.0.1,fd00::3", {"a", "c"})):
        picked = {
            scheduler.schedule(_request(selection), PODS, NOW).endpoints[0].name for _ in range(40)
        }
        assert picked <= allowed
    assert {
        scheduler.schedule(_request("10.0.0.1,fd00::3"), PODS, NOW).endpoints[0].name
        for _ in range(60)
    } == {"a", "c"}, "ties between the named pods are broken at random"
    with pytest.raises(NoCapacityError):
        scheduler.schedule(_request(None), PODS, NOW)


def _context() -> RequestContext:
    return RequestContext(headers={}, body={}, api="chat", model="m", streaming=False, prompt="")


def test_verifier_reports_the_endpoint_that_served_or_why_not() -> None:
    config = load_config(CONFIG, epp_registry())
    chain = build_chain(instantiate(config, random.Random(0)).values())
    served = RequestExtensions(chain, _context())
    assert served.response_header(200, {}, "10.0.0.2:8001") == {RESULT_HEADER: "10.0.0.2:8001"}
    unknown = RequestExtensions(chain, _context())
    assert unknown.response_header(200, {}, None) == {RESULT_HEADER: MISSING}
