"""``simulator.fork``: a copy that evolves exactly like the original, and apart from it."""

from __future__ import annotations

import math

import pytest

from inference_gateway.simulator.config import EngineConfig
from inference_gateway.simulator.engine import Engine
from inference_gateway.simulator.fork import fork
from inference_gateway.simulator.records import RequestRecord, SimRequest
from inference_gateway.simulator.virtual import poisson_arrivals


def _feed(engine: Engine, arrivals: list[tuple[float, SimRequest]]) -> list[RequestRecord]:
    done: list[RequestRecord] = []
    for t, req in arrivals:
        while engine.next_event_time() <= t:
            done += engine.advance(engine.next_event_time())
        done += engine.advance(t)
        engine.submit(req, t)
    return done


def _drain(engine: Engine) -> list[RequestRecord]:
    done: list[RequestRecord] = []
    while (t := engine.next_event_time()) != math.inf:
        done += engine.advance(t)
    return done


def _key(r: RequestRecord) -> tuple[object, ...]:
    return (r.request_id, r.first_token, r.finish, r.cached_tokens, r.preemptions, r.output_tokens)


@pytest.mark.parametrize(
    ("config", "rate", "shared"),
    [
        (EngineConfig(max_num_seqs=64, kv_blocks=4000), 10.0, 40),  # KV pressure, prefix reuse
        (EngineConfig(max_num_seqs=8), 6.0, 0),  # a queue behind a small batch
        (EngineConfig(adapters=("a", "b", "c"), max_loras=1), 4.0, 10),  # LoRA swaps
    ],
)
def test_fork_evolves_exactly_like_the_original(
    config: EngineConfig, rate: float, shared: int
) -> None:
    arrivals = list(
        poisson_arrivals(rate, 400, prompt_tokens=1200, output_tokens=200, seed=2,
                         shared_prefix_blocks=shared)
    )  # fmt: skip
    if config.adapters:
        arrivals = [
            (t, SimRequest(r.request_id, r.prompt_tokens, r.output_tokens, r.block_keys,
                           config.adapters[i % 3], r.max_tokens))
            for i, (t, r) in enumerate(arrivals)
        ]  # fmt: skip
    original = Engine(config)
    _feed(original, arrivals[:200])
    copy = fork(original)
    assert copy.num_running == original.num_running and copy.kv_usage == original.kv_usage
    a = _feed(original, arrivals[200:]) + _drain(original)
    b = _feed(copy, arrivals[200:]) + _drain(copy)
    assert [_key(r) for r in a] == [_key(r) for r in b]
    assert original.num_preemptions == copy.num_preemptions
    assert original.prefix_cache_hits == copy.prefix_cache_hits


def test_a_fork_leaves_the_original_untouched() -> None:
    original = Engine(EngineConfig(max_num_seqs=16, kv_blocks=3000))
    arrivals = list(poisson_arrivals(20.0, 100, prompt_tokens=800, output_tokens=100, seed=4,
                                     shared_prefix_blocks=20))  # fmt: skip
    _feed(original, arrivals)
    before = (original.num_running, original.num_waiting, original.kv_usage, original.now,
              original.pool.cached_blocks, original.next_event_time())  # fmt: skip
    copy = fork(original)
    copy.submit(SimRequest("extra", 4000, 300, tuple(range(250))), original.now)
    _drain(copy)
    after = (original.num_running, original.num_waiting, original.kv_usage, original.now,
             original.pool.cached_blocks, original.next_event_time())  # fmt: skip
    assert after == before
    assert copy.num_running == 0 and original.num_running > 0
