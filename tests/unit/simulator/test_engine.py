"""The engine in virtual time: queueing, batching, KV blocks, prefix cache, LoRA, errors."""

from __future__ import annotations

import math
import random

import pytest

from inference_gateway.simulator.config import PROFILES, EngineConfig
from inference_gateway.simulator.engine import Engine
from inference_gateway.simulator.records import (
    EngineError,
    QueueFullError,
    RequestRecord,
    SimRequest,
    UnknownModelError,
)
from inference_gateway.simulator.virtual import drive, snapshot


def req(
    rid: str,
    prompt: int = 64,
    out: int = 8,
    keys: tuple[int, ...] | None = None,
    adapter: str | None = None,
) -> SimRequest:
    if keys is None:
        keys = tuple(hash((rid, i)) for i in range(prompt // 16))
    return SimRequest(rid, prompt, out, keys, adapter, out)


def run_all(engine: Engine) -> list[RequestRecord]:
    done: list[RequestRecord] = []
    for _ in range(1_000_000):
        t = engine.next_event_time()
        if t == math.inf:
            return done
        done += engine.advance(t)
    raise AssertionError("engine did not drain")


def cfg(**kw: object) -> EngineConfig:
    base: dict[str, object] = {"api_overhead": 0.0}
    base.update(kw)
    return EngineConfig(**base)  # type: ignore[arg-type]


def test_requests_beyond_max_num_seqs_wait_fifo() -> None:
    engine = Engine(cfg(max_num_seqs=4))
    for i in range(10):
        engine.submit(req(f"r{i}"), 0.0)
    engine.advance(0.0)
    assert (engine.num_running, engine.num_waiting) == (4, 6)
    done = run_all(engine)
    assert [r.request_id for r in done[:4]] == ["r0", "r1", "r2", "r3"]
    assert max(r.scheduled for r in done[:4]) < min(r.scheduled for r in done[4:])
    assert (engine.num_running, engine.num_waiting, engine.kv_usage) == (0, 0, 0.0)


def test_requests_arriving_together_share_every_step() -> None:
    engine = Engine(cfg())
    for i in range(8):
        engine.submit(req(f"r{i}", prompt=160, out=32), 0.0)
    done = run_all(engine)
    assert len({r.first_token for r in done}) == 1
    assert len({r.finish for r in done}) == 1
    assert engine.gstep == 32
    assert engine.generation_tokens_total == 8 * 32
    assert engine.itl.count == 8 * 31
    assert engine.ttft.count == 8 and engine.e2e.count == 8


def test_step_time_follows_the_profile() -> None:
    engine = Engine(cfg())
    engine.submit(req("a", prompt=200, out=2), 0.0)
    (rec,) = run_all(engine)
    p = PROFILES["llama3-8b-h100"]
    prefill = p.b0 + p.b1 * 200 + p.b3 * 200 + p.b4
    decode = p.b0 + p.b2 + p.b3 * 201 + p.b4
    assert rec.first_token == pytest.approx(prefill)
    assert rec.finish == pytest.approx(prefill + decode)


def test_slowdown_scales_compute_time() -> None:
    fast, slow = Engine(cfg()), Engine(cfg(slowdown=3.0))
    for engine in (fast, slow):
        engine.submit(req("a", prompt=200, out=10), 0.0)
    assert run_all(slow)[0].e2e == pytest.approx(3 * run_all(fast)[0].e2e)


def test_kv_exhaustion_preempts_newest_and_recomputes() -> None:
    engine = Engine(cfg(kv_blocks=20))
    engine.submit(req("old", prompt=100, out=150), 0.0)
    engine.submit(req("new", prompt=100, out=150), 0.0)
    seen_full = False
    done: list[RequestRecord] = []
    while (t := engine.next_step_time()) != math.inf:
        done += engine.advance(t)
        assert 0 <= engine.pool.used <= 20
        seen_full |= engine.num_running == 1 and engine.num_waiting == 1
    by_id = {r.request_id: r for r in done}
    assert engine.num_preemptions >= 1 and seen_full
    assert by_id["new"].preemptions >= 1 and by_id["old"].preemptions == 0
    assert by_id["old"].finish < by_id["new"].finish
    assert all(r.output_tokens == 150 for r in done)
    assert engine.pool.used == 0


@pytest.mark.parametrize(("prompt", "cached"), [(160, 144), (170, 160), (15, 0), (33, 32)])
def test_prefix_hits_are_whole_blocks_capped_below_prompt(prompt: int, cached: int) -> None:
    engine = Engine(cfg())
    keys = tuple(range(prompt // 16))
    engine.submit(req("a", prompt, keys=keys), 0.0)
    run_all(engine)
    engine.submit(req("b", prompt, keys=keys), engine.now)
    (rec,) = run_all(engine)
    assert rec.cached_tokens == cached
    assert engine.prefix_cache_queries == 2 * prompt
    assert engine.prefix_cache_hits == cached


def test_prefix_shares_leading_blocks_only_and_not_across_adapters() -> None:
    engine = Engine(cfg(adapters=("x",)))
    engine.submit(req("a", 320, keys=tuple(range(20))), 0.0)
    run_all(engine)
    engine.submit(req("b", 320, keys=(*range(5), *range(100, 115))), engine.now)
    assert run_all(engine)[0].cached_tokens == 80
    engine.submit(req("c", 320, keys=tuple(range(20)), adapter="x"), engine.now)
    assert run_all(engine)[0].cached_tokens == 0


@pytest.mark.parametrize(("blocks", "a2_hit"), [(20, 0), (24, 64)])
def test_lru_eviction_drops_the_oldest_prompt_tail_first(blocks: int, a2_hit: int) -> None:
    engine = Engine(cfg(kv_blocks=blocks))
    for name, base in (("a", 0), ("b", 100), ("c", 200)):
        engine.submit(req(name, 160, out=1, keys=tuple(range(base, base + 10))), engine.now)
        run_all(engine)
    engine.submit(req("a2", 160, out=1, keys=tuple(range(10))), engine.now)
    engine.submit(req("c2", 160, out=1, keys=tuple(range(200, 210))), engine.now)
    hits = {r.request_id: r.cached_tokens for r in run_all(engine)}
    assert hits == {"a2": a2_hit, "c2": 144}


def test_lora_slots_limit_adapters_and_loading_costs_time() -> None:
    engine = Engine(cfg(adapters=("a", "b"), max_loras=1, lora_load_time=0.5))
    base = Engine(cfg())
    base.submit(req("ra", 64, out=40), 0.0)
    base.submit(req("plain", 64, out=4), 0.0)
    engine.submit(req("ra", 64, out=40, adapter="a"), 0.0)
    engine.submit(req("rb", 64, out=4, adapter="b"), 0.0)
    engine.submit(req("plain", 64, out=4), 0.0)
    engine.advance(0.0)
    assert engine.running_adapters == ["a"] and engine.waiting_adapters == ["b"]
    assert engine.num_running == 2
    done = {r.request_id: r for r in run_all(engine)}
    assert done["rb"].scheduled >= done["ra"].finish
    unloaded = {r.request_id: r for r in run_all(base)}
    assert done["ra"].first_token == pytest.approx(unloaded["ra"].first_token + 0.5)
    assert engine.resident_adapters == ["b"]


def test_refusals_unknown_adapter_too_long_queue_full() -> None:
    engine = Engine(cfg(max_waiting=2, max_model_len=1000))
    with pytest.raises(UnknownModelError, match="does not exist"):
        engine.submit(req("x", adapter="nope"), 0.0)
    with pytest.raises(EngineError, match="maximum context length is 1000"):
        engine.submit(req("x", prompt=990, out=20), 0.0)
    engine.submit(req("1"), 0.0)
    engine.submit(req("2"), 0.0)
    with pytest.raises(QueueFullError):
        engine.submit(req("3"), 0.0)
    assert len(run_all(engine)) == 2


def test_api_overhead_delays_queueing() -> None:
    engine = Engine(cfg(api_overhead=0.02))
    rec = engine.submit(req("a"), 1.0)
    engine.advance(1.01)
    assert (engine.num_pending, engine.num_waiting, engine.num_running) == (1, 0, 0)
    run_all(engine)
    assert rec.queued == pytest.approx(1.02) and rec.scheduled == pytest.approx(1.02)


def _mixed_workload(seed: int, n: int = 300) -> list[tuple[float, SimRequest]]:
    rng = random.Random(seed)
    t, out = 0.0, []
    for i in range(n):
        t += rng.expovariate(60)
        p = rng.randint(1, 3000)
        group = rng.randint(0, 5)
        keys = tuple(hash((group, j)) if j < 20 else rng.getrandbits(60) for j in range(p // 16))
        adapter = rng.choice([None, None, "a", "b", "c"])
        out.append((t, req(f"r{i}", p, rng.randint(1, 300), keys, adapter)))
    return out


def _drive_by(
    mode: str, workload: list[tuple[float, SimRequest]]
) -> tuple[Engine, list[tuple[str, float, float, int, int]]]:
    engine = Engine(
        EngineConfig(adapters=("a", "b", "c"), max_loras=2, max_num_seqs=32, kv_blocks=600)
    )
    done: list[RequestRecord] = []
    arrivals = iter(workload)
    nxt = next(arrivals, None)
    for _ in range(10_000_000):
        te = engine.next_step_time() if mode == "step" else engine.next_event_time()
        if nxt is not None and nxt[0] <= te:
            done += engine.advance(nxt[0])
            engine.submit(nxt[1], nxt[0])
            nxt = next(arrivals, None)
        elif te == math.inf:
            break
        else:
            done += engine.advance(te)
    keys = [(r.request_id, r.first_token, r.finish, r.cached_tokens, r.preemptions) for r in done]
    return engine, keys


@pytest.mark.parametrize("seed", [0, 1])
def test_macro_steps_equal_single_steps(seed: int) -> None:
    workload = _mixed_workload(seed)
    e1, one = _drive_by("step", workload)
    e2, macro = _drive_by("event", workload)
    assert e1.num_preemptions > 0 and e1.prefix_cache_hits > 0
    assert [k[0] for k in one] == [k[0] for k in macro]
    for a, b in zip(one, macro, strict=True):
        assert a[1:] == pytest.approx(b[1:], abs=1e-9)
    assert e1.gstep == e2.gstep and e1.itl.counts == e2.itl.counts
    assert e1.pool.used == e2.pool.used == 0


def test_drive_matches_arrivals() -> None:
    engine = Engine(EngineConfig())
    done = drive(engine, [(0.5 * i, req(f"r{i}")) for i in range(5)])
    assert sorted(r.request_id for r in done) == [f"r{i}" for i in range(5)]
    assert all(r.arrival == 0.5 * int(r.request_id[1:]) for r in done)


def test_long_prompt_prefills_in_budget_sized_chunks() -> None:
    engine = Engine(cfg(max_num_batched_tokens=2048))
    rec = engine.submit(req("long", prompt=5000, out=2), 0.0)
    while rec.first_token != rec.first_token:
        engine.advance(engine.next_step_time())
    assert engine.gstep == 3  # 2048 + 2048 + 904 prompt tokens
    assert engine.prefix_cache_queries == 5000 and engine.num_running == 1
    p = PROFILES["llama3-8b-h100"]
    assert rec.first_token == pytest.approx(
        3 * p.b0 + p.b1 * 5000 + p.b3 * (2048 + 4096 + 5000) + p.b4
    )


def test_snapshot_matches_the_gauges() -> None:
    engine = Engine(cfg(adapters=("a",), max_num_seqs=1, kv_blocks=100))
    engine.submit(req("x", 64, adapter="a"), 0.0)
    engine.submit(req("y", 64), 0.0)
    engine.advance(0.0)
    m = snapshot(engine, 0.0)
    assert (m.running, m.waiting, m.max_adapters) == (1, 1, 1)
    assert m.running_adapters == frozenset({"a"})
    assert m.kv_usage == pytest.approx(4 / 100) and (m.block_size, m.num_blocks) == (16, 100)


def test_abort_frees_everything_wherever_the_request_is() -> None:
    engine = Engine(cfg(api_overhead=0.01, max_num_seqs=2, adapters=("a",)))
    for rid in ("dec", "pre", "wait"):
        engine.submit(req(rid, prompt=7000 if rid == "pre" else 64, out=50, adapter="a"), 0.0)
    while engine.tokens_generated("dec") < 3:
        engine.advance(engine.next_step_time())
    engine.submit(req("pend", out=50), engine.now)
    assert (engine.num_running, engine.num_waiting, engine.num_pending) == (2, 1, 1)
    assert engine.tokens_generated("pre") == 0
    aborted = [engine.abort(rid) for rid in ("pend", "wait", "pre", "dec")]
    assert [r.finish_reason if r else None for r in aborted] == ["abort"] * 4
    assert aborted[3] is not None and aborted[3].output_tokens == 3
    assert engine.abort("dec") is None
    assert (engine.num_running, engine.num_waiting, engine.num_pending) == (0, 0, 0)
    assert engine.pool.used == 0 and engine.waiting_adapters == [] and engine.running_adapters == []
    assert run_all(engine) == []
    engine.submit(req("after", 64, out=3), engine.now)
    assert [r.request_id for r in run_all(engine)] == ["after"]
    assert engine.success["abort"] == 4


@pytest.mark.parametrize("steps", [1, 15, 16, 17, 40])
def test_abort_inside_a_decode_run_keeps_block_counts_exact(steps: int) -> None:
    engine = Engine(cfg())
    engine.submit(req("stay", 64, out=100), 0.0)
    engine.submit(req("go", 70, out=100), 0.0)
    engine.advance(0.0)
    engine.advance(engine.next_step_time())
    for _ in range(steps):
        engine.advance(engine.next_step_time())
    assert engine.tokens_generated("go") == steps + 1
    engine.abort("go")
    stay_blocks = -(-(64 + engine.tokens_generated("stay")) // 16)
    assert engine.pool.used == stay_blocks
    (done,) = run_all(engine)
    assert done.request_id == "stay" and done.output_tokens == 100
    assert engine.pool.used == 0
