"""How many scheduling decisions per second the pure core makes on one core.

Endpoints carry varied synthetic metrics (queues, KV use, LoRA adapters, slightly aged
scrapes) and requests mix criticalities, adapters and shared prompt prefixes, all drawn
from one seeded RNG so runs are comparable. Each cell runs the real scheduler built from a
built-in config for about ``seconds`` of wall time, split in rounds. Rates are per
CPU-second of this process (``time.process_time``), best round first, so other work on a
shared machine does not count against the scheduler. Shed requests (NoCapacityError)
count as decisions, because rejecting is the scheduler's answer too.

In live traffic every streamed response teaches the response observers (the latency
predictor), and each lesson changes the model that its per-endpoint cache was computed with.
So by default (``observe``) each pick is followed, inside the timed loop, by one final
response report for the picked request on the picked endpoint, with a TTFT and TPOT drawn
from that pod's synthetic speed and load and a plausible completion length: the cost a
scorer that learns pays in production, not the cost of a frozen model. ``observe=False``
keeps the frozen-model figure for comparison. Configs without an observer pay nothing.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

from inference_gateway.app import epp_registry
from inference_gateway.datastore.types import Endpoint, Metrics
from inference_gateway.scheduling.config import instantiate, load_config
from inference_gateway.scheduling.observe import ResponseObserver, observers
from inference_gateway.scheduling.scheduler import build_scheduler
from inference_gateway.scheduling.types import Criticality, LLMRequest, NoCapacityError

ADAPTERS = ("sql-lora", "chat-lora", "code-lora", "tweet-lora")
SYSTEM_PROMPTS = tuple(f"System prompt {i}: you are assistant {i}. " * 12 for i in range(8))
NOW = 1000.0


@dataclass(frozen=True, slots=True)
class PickSpeed:
    config: str
    endpoints: int
    picks: int
    seconds: float
    shed: int
    observed: bool = True
    """Whether each pick was followed by a response report to the observers (if any)."""

    @property
    def per_second(self) -> float:
        return self.picks / self.seconds if self.seconds > 0 else 0.0

    @property
    def micros_per_pick(self) -> float:
        return 1e6 * self.seconds / self.picks if self.picks else 0.0


def synthetic_endpoints(count: int, rng: random.Random) -> list[Endpoint]:
    return [
        Endpoint(
            name=f"pod-{i}",
            address=f"127.0.{i // 250}.{11 + i % 250}",
            port=8000,
            metrics=Metrics(
                waiting=rng.choice((0, 0, 1, 2, 3, 5, 8, 13, 40, 150)),
                running=rng.randint(0, 64),
                kv_usage=rng.random(),
                running_adapters=frozenset(rng.sample(ADAPTERS, rng.randint(0, 2))),
                max_adapters=3,
                updated_at=NOW - rng.uniform(0.0, 0.15),
            ),
            in_flight=rng.randint(0, 20),
        )
        for i in range(count)
    ]


def synthetic_requests(count: int, rng: random.Random) -> list[LLMRequest]:
    requests = []
    for i in range(count):
        target = rng.choice(("llama",) * 4 + ADAPTERS)
        prompt = rng.choice(SYSTEM_PROMPTS) + f"question {i}: " + "w" * rng.randint(0, 400)
        requests.append(
            LLMRequest(
                request_id=f"r{i}",
                model=target,
                target_model=target,
                criticality=rng.choice(list(Criticality)),
                prompt=prompt,
            )
        )
    return requests


def synthetic_responses(
    endpoints: Sequence[Endpoint], count: int, rng: random.Random
) -> tuple[dict[str, tuple[float, float]], list[tuple[float, int]]]:
    """(pod -> (TTFT, TPOT) in seconds, from a per-pod speed and its load; ``count``
    (noise factor, completion tokens) draws applied in turn)."""
    by_pod: dict[str, tuple[float, float]] = {}
    for e in endpoints:
        m, slow = e.metrics, rng.choice((1.0, 1.0, 1.0, 1.5, 2.0))
        tpot = slow * (0.006 + 0.005 * e.in_flight / 100.0 + 0.02 * m.kv_usage)
        by_pod[e.name] = (slow * (0.03 + 0.05 * m.waiting / 10.0), tpot)
    draws = [(rng.uniform(0.8, 1.25), rng.randint(2, 600)) for _ in range(count)]
    return by_pod, draws


def respond(
    learners: Sequence[ResponseObserver],
    request: LLMRequest,
    pod: str,
    latencies: tuple[float, float],
    draw: tuple[float, int],
) -> None:
    """Report ``request``'s response from ``pod`` as the gateway does at the end of a stream.

    The gateway also reports the first token (``final=False``) and may report a TPOT
    sample mid-stream; the final report carries both lessons, so the model learns as much
    per request (both fits updated) with one call.
    """
    (ttft, tpot), (noise, tokens) = latencies, draw
    for learner in learners:
        learner.observe_response(
            request.request_id,
            pod,
            ttft=ttft * noise,
            tpot=tpot * noise,
            prompt_tokens=len(request.prompt) // 4,
            completion_tokens=tokens,
            now=NOW,
        )


def measure(
    config: str,
    endpoints: int,
    *,
    seed: int = 0,
    seconds: float = 1.0,
    rounds: int = 5,
    observe: bool = True,
) -> PickSpeed:
    """The best of ``rounds`` equal slices of ``seconds``, as picks per CPU-second."""
    rng = random.Random(seed)
    eps = synthetic_endpoints(endpoints, rng)
    requests = synthetic_requests(512, rng)
    loaded = load_config(config, epp_registry())
    plugin_rng = random.Random(seed)
    plugins = instantiate(loaded, plugin_rng)
    scheduler = build_scheduler(loaded, rng=plugin_rng, plugins=plugins)
    learners = observers(plugins.values()) if observe else []
    by_pod, draws = synthetic_responses(eps, 1024, random.Random(seed + 1))
    best: PickSpeed | None = None
    total = shed = 0
    for _ in range(rounds):
        picks = 0
        start, cpu_start = time.perf_counter(), time.process_time()
        while time.perf_counter() - start < seconds / rounds:
            for _ in range(32):
                n = total + picks
                request = requests[n % len(requests)]
                picks += 1
                try:
                    decision = scheduler.schedule(request, eps, NOW)
                except NoCapacityError:
                    shed += 1
                    continue
                if learners:
                    pod = decision.endpoints[0].name
                    respond(learners, request, pod, by_pod[pod], draws[n % len(draws)])
        total += picks
        result = PickSpeed(config, endpoints, picks, time.process_time() - cpu_start, 0)
        if best is None or result.per_second > best.per_second:
            best = result
    assert best is not None
    seconds_total = best.seconds * total / best.picks
    return PickSpeed(config, endpoints, total, seconds_total, shed, observe)


def run(
    configs: Sequence[str] = ("default", "scorer-mix"),
    sizes: Sequence[int] = (10, 100, 1000),
    *,
    seed: int = 0,
    seconds: float = 1.0,
    observe: bool = True,
) -> list[PickSpeed]:
    return [
        measure(c, n, seed=seed, seconds=seconds, observe=observe) for c in configs for n in sizes
    ]
