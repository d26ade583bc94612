"""Upstream's ``token-load-scorer`` over the tokens the gateway has in flight per pod."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from inference_gateway.scheduling.config import load_config
from inference_gateway.scheduling.observe import observers
from inference_gateway.scheduling.plugins.token_load import (
    InFlightLoadProducer,
    TokenLoadScorer,
    estimated_tokens,
)
from inference_gateway.scheduling.scheduler import build_scheduler
from tests.unit.scheduling.helpers import NOW, make_endpoint, make_request

CONFIG = """\
apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: token-load-scorer
  parameters: {queueThresholdTokens: 1000}
"""


@pytest.mark.parametrize(("chars", "tokens"), [(0, 1 + 2), (4, 1 + 2), (400, 100 + 150)])
def test_the_estimate_is_upstreams(chars: int, tokens: int) -> None:
    assert estimated_tokens(make_request(prompt="x" * chars)) == tokens


def test_tokens_in_flight_lower_a_pods_score_until_their_responses_end() -> None:
    config = load_config(CONFIG)
    assert {p.type for p in config.plugins.values()} >= {"inflight-load-producer"}
    scheduler = build_scheduler(config, rng=random.Random(0))
    (producer,) = (p for p in scheduler.post_pick if isinstance(p, InFlightLoadProducer))
    (scorer,) = (s for s, _ in scheduler.profiles["default"].scorers)
    assert isinstance(scorer, TokenLoadScorer)
    pods = [make_endpoint("p0"), make_endpoint("p1")]
    requests = [replace(make_request(prompt="x" * 800), request_id=f"r{i}") for i in range(3)]
    picked = [scheduler.schedule(r, pods, NOW).primary.name for r in requests]
    # 500 tokens a request (200 in, 300 out): the second goes to the emptier pod.
    assert picked[0] != picked[1]
    assert sorted(producer.tokens.values()) == [500, 1000]
    scores = dict(zip(["p0", "p1"], scorer.score(requests[0], pods, {}), strict=True))
    assert sorted(scores.values()) == [0.0, 0.5]  # 1000 tokens is the threshold
    (learner,) = observers(scheduler.post_pick)
    for r, pod in zip(requests, picked, strict=True):
        learner.observe_response(
            r.request_id, pod, ttft=None, tpot=None, prompt_tokens=None,
            completion_tokens=None, now=NOW, final=False,
        )  # fmt: skip
    assert sum(producer.tokens.values()) == 1500  # only the final report releases
    for r, pod in zip(requests, picked, strict=True):
        learner.observe_response(
            r.request_id, pod, ttft=0.1, tpot=0.01, prompt_tokens=200,
            completion_tokens=300, now=NOW,
        )  # fmt: skip
        learner.observe_response(
            r.request_id, pod, ttft=0.1, tpot=0.01, prompt_tokens=200,
            completion_tokens=300, now=NOW,
        )  # fmt: skip
    assert producer.tokens == {"p0": 0, "p1": 0}
    assert scorer.score(requests[0], pods, {}) == [1.0, 1.0]


def test_a_pod_that_leaves_takes_its_count_with_it() -> None:
    scheduler = build_scheduler(load_config(CONFIG), rng=random.Random(0))
    (producer,) = (p for p in scheduler.post_pick if isinstance(p, InFlightLoadProducer))
    request = make_request(prompt="x" * 40)
    scheduler.schedule(request, [make_endpoint("p0")], NOW)
    scheduler.forget("p0")
    assert producer.tokens == {}
    producer.observe_response(
        request.request_id, "p0", ttft=None, tpot=None, prompt_tokens=None,
        completion_tokens=None, now=NOW,
    )  # fmt: skip
    assert producer.tokens == {}
