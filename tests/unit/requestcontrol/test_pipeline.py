"""The one pipeline: one plugin instance per configured name, the body parsed once, and the
default path synchronous."""

from __future__ import annotations

import asyncio
import inspect
import json
import random
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from inference_gateway.datastore import Endpoint
from inference_gateway.requestcontrol import Routed
from inference_gateway.requestcontrol.extensions import ExtensionPlugin, register_extensions
from inference_gateway.requestcontrol.extensions.base import RequestContext
from inference_gateway.requestcontrol.pipeline import build_director
from inference_gateway.scheduling.config import load_config
from inference_gateway.scheduling.framework import CycleState
from inference_gateway.scheduling.registry import default_registry
from inference_gateway.scheduling.types import LLMRequest
from tests.unit.requestcontrol.builders import FakeClock, chat, make_store, model, stream_response


class ScoringObserver(ExtensionPlugin):
    """A scorer that also reads responses: one configured name, two stages."""

    TYPE = "scoring-observer"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.scored = 0
        self.statuses: list[int] = []

    def score(
        self, request: LLMRequest, endpoints: Sequence[Endpoint], state: CycleState
    ) -> list[float]:
        self.scored += 1
        return [1.0] * len(endpoints)

    def response_header(
        self, ctx: RequestContext, status: int, headers: Mapping[str, str]
    ) -> Mapping[str, str]:
        self.statuses.append(status)
        return {}


class Gatekeeper(ExtensionPlugin):
    TYPE = "gatekeeper"

    async def admit(self, ctx: RequestContext) -> None:
        await asyncio.sleep(0)


CONFIG = """
apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
plugins:
- name: watcher
  type: scoring-observer
- type: max-score-picker
schedulingProfiles:
- name: default
  plugins:
  - pluginRef: watcher
  - pluginRef: max-score-picker
"""


def director_for(text: str, *extra: type[ExtensionPlugin]) -> Any:
    registry = default_registry()
    register_extensions(registry)
    classes: tuple[type[ExtensionPlugin], ...] = (ScoringObserver, *extra)
    for cls in classes:
        registry.register(cls)
    store = make_store(models=[model("llama")])
    return build_director(store, load_config(text, registry), rng=random.Random(0))


def test_a_plugin_configured_once_is_one_object_in_every_stage() -> None:
    director, plugins = director_for(CONFIG)
    watcher = plugins["watcher"]
    assert isinstance(watcher, ScoringObserver)
    (profile,) = director.scheduler.profiles.values()
    assert profile.scorers[0][0] is watcher
    assert director.extensions.response_headers == [watcher]
    routed = director.route_now(chat("llama"))
    routed.response_started(200, {}, None)
    routed.finish()
    assert (watcher.scored, watcher.statuses) == (1, [200])


def test_the_configured_saturation_detector_is_the_admission_instance() -> None:
    text = CONFIG + "saturationDetector:\n  pluginRef: sat\n"
    text = text.replace(
        "plugins:\n- name: watcher",
        "plugins:\n- {name: sat, type: saturation-detector}\n- name: watcher",
        1,
    )
    director, plugins = director_for(text)
    assert director.admission is plugins["sat"]


def test_the_default_path_routes_synchronously() -> None:
    director, _ = director_for(CONFIG)
    assert isinstance(director.route(chat("llama")), Routed)


async def test_an_async_request_stage_makes_route_a_coroutine() -> None:
    text = CONFIG.replace(
        "- type: max-score-picker\n", "- type: max-score-picker\n- type: gatekeeper\n", 1
    )
    director, _ = director_for(text, Gatekeeper)
    pending = director.route(chat("llama"))
    assert inspect.isawaitable(pending)
    routed = await pending
    assert routed.endpoints
    routed.finish()
    with pytest.raises(TypeError):
        director.route_now(chat("llama"))


@pytest.mark.parametrize("with_plugins", [False, True])
async def test_the_body_is_parsed_once(monkeypatch: pytest.MonkeyPatch, with_plugins: bool) -> None:
    text = CONFIG
    if with_plugins:
        text = text.replace(
            "- type: max-score-picker\n", "- type: max-score-picker\n- type: gatekeeper\n", 1
        )
    director, _ = director_for(text, Gatekeeper)
    request = chat("llama")
    parses: list[object] = []
    real = json.loads

    def counting(s: Any, *args: Any, **kw: Any) -> Any:
        parses.append(s)
        return real(s, *args, **kw)

    monkeypatch.setattr(json, "loads", counting)
    routed = director.route(request)
    if not isinstance(routed, Routed):
        routed = await routed
    routed.finish()
    assert parses == [request.body]


class LatencyWatcher(ScoringObserver):
    """A scorer that learns from responses: what the director tells it, in order."""

    TYPE = "latency-watcher"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.seen: list[tuple[str, str, float | None, float | None, int | None, bool]] = []

    def observe_response(
        self,
        request_id: str,
        endpoint_name: str,
        *,
        ttft: float | None,
        tpot: float | None,
        prompt_tokens: int | None,
        completion_tokens: int | None,
        now: float,
        final: bool = True,
    ) -> None:
        self.seen.append((request_id, endpoint_name, ttft, tpot, completion_tokens, final))


def watched_director() -> tuple[Any, LatencyWatcher, FakeClock]:
    """A director whose one scorer records every response report it is told."""
    registry = default_registry()
    registry.register(LatencyWatcher)
    clock = FakeClock()
    text = CONFIG.replace("type: scoring-observer", "type: latency-watcher")
    director, plugins = build_director(
        make_store(models=[model("llama")]),
        load_config(text, registry),
        rng=random.Random(0),
        clock=clock,
    )
    watcher = plugins["watcher"]
    assert isinstance(watcher, LatencyWatcher)
    return director, watcher, clock


def test_response_observers_learn_ttft_and_tpot_from_the_stream() -> None:
    director, watcher, clock = watched_director()
    routed = director.route_now(chat("llama", headers={"x-request-id": "r1"}))
    stream_response(routed, clock)
    name = routed.endpoint_name
    first, early, last = watcher.seen
    assert first[:2] == ("r1", name) and first[2] == pytest.approx(0.2)
    assert first[3:] == (None, None, False)
    assert early[:2] == ("r1", name) and early[3] == pytest.approx(0.01) and not early[5]
    assert last[:2] == ("r1", name) and last[4:] == (41, True)
    assert last[2] == pytest.approx(0.2) and last[3] == pytest.approx(0.01)


def test_a_stream_without_usage_is_counted_by_its_events() -> None:
    """OpenAI clients ask for no usage block unless told to (``stream_options``), and vLLM
    then sends none: the final report counts the events instead, so the predictor still
    learns the whole stream's TPOT and the output length."""
    director, watcher, clock = watched_director()
    routed = director.route_now(chat("llama", headers={"x-request-id": "r1"}, stream=True))
    stream_response(routed, clock, usage=False)
    last = watcher.seen[-1]
    assert last[4:] == (41, True)
    assert last[3] == pytest.approx(0.01)


@pytest.mark.parametrize("ending", ["error", "5xx", "no-chunk", "moved"])
def test_every_request_ends_with_one_final_report_even_unmeasured(ending: str) -> None:
    """Learners hold something per picked request (the predictor: its features and a count
    per pod and adapter); the final report is their only cue to let go of it."""
    director, watcher, clock = watched_director()
    routed = director.route_now(chat("llama", headers={"x-request-id": "r1"}))
    picked = routed.endpoint_name
    clock.now += 0.2
    if ending == "error":
        routed.finish(error="UpstreamReset")
    else:
        status = 503 if ending == "5xx" else 200
        other = "127.0.0.99:8000" if ending == "moved" else None
        routed.response_started(status, {"content-type": "text/event-stream"}, other)
        if ending != "no-chunk":
            routed.response_chunk(b'data: {"choices":[{"text":"a"}]}\n\n', True)
        routed.finish()
    finals = [seen for seen in watcher.seen if seen[5]]
    assert len(finals) == 1
    request_id, endpoint, ttft, tpot, tokens, _ = finals[0]
    assert request_id == "r1" and (ttft, tpot, tokens) == (None, None, None)
    assert endpoint == ("" if ending == "moved" else picked)
