"""Seeded request streams for the routing benchmark, replayed unchanged for every policy.

Each workload is a ``WorkloadSpec``: how prompts are built (ShareGPT-like lengths or a
shared-prefix grid), which model or LoRA adapter each request targets, its criticality,
and the arrival process. ``generate`` turns a spec, a rate and a duration into a list of
``BenchRequest``; the same (spec, rate, duration, seed) always gives the same list.

Length fits (research/sim-bench.md 4.2, ShareGPT as run in GIE's sample report, capped at
1024): input lognormal with median 109 and sigma 1.5 gives mean ~236, sd ~293, p90 ~745
(published 251.5 / 281.6 / 714); output lognormal with median 144 and sigma 1.0 gives mean
~223, sd ~225, p90 ~519 (published 225.3 / 234.5 / 564).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from inference_gateway.bench._prompts import prompt_text
from inference_gateway.scheduling.types import Criticality

Segment = tuple[str, int]
"""(key, tokens): prompts sharing a key share that segment's text exactly."""

BASE_MODEL = "sim-model"


@dataclass(frozen=True, slots=True)
class BenchRequest:
    index: int
    arrival: float
    """Seconds from the start of the stage at which the client sends it."""
    segments: tuple[Segment, ...]
    output_tokens: int
    model: str
    criticality: Criticality = Criticality.STANDARD
    tenant: str = ""
    """The client's ``x-gateway-inference-fairness-id`` (flow control); empty: none sent."""

    @property
    def request_id(self) -> str:
        return f"r{self.index}"

    @property
    def prompt_tokens(self) -> int:
        return sum(n for _, n in self.segments)

    def prompt(self) -> str:
        return prompt_text(self.segments)


@dataclass(frozen=True, slots=True)
class WorkloadSpec:
    name: str
    description: str
    prefix_groups: int = 0
    """0: ShareGPT-like independent prompts; >0: system prompt per group + question."""
    prompts_per_group: int = 1
    system_tokens: int = 0
    question_tokens: int = 0
    fixed_output: int = 0
    adapter_weights: tuple[float, ...] = ()
    """One weight per LoRA adapter ``adapter-<i>``; empty means every request hits the base."""
    max_loras: int = 1
    sheddable: float = 0.0
    critical: float = 0.0
    burstiness: float = 1.0
    """Gamma shape of inter-arrival times: 1 is Poisson, < 1 is burstier."""
    tenants: tuple[float, ...] = ()
    """Relative rates of tenants ``tenant-<i>`` (non-Critical requests); Critical requests
    are tenant ``interactive``. Empty: no tenants (no fairness id)."""

    @property
    def adapters(self) -> tuple[str, ...]:
        return tuple(f"adapter-{i}" for i in range(len(self.adapter_weights)))

    @property
    def max_prompt_tokens(self) -> int:
        return self.system_tokens + self.question_tokens if self.prefix_groups else _MAX_LEN

    @property
    def max_output_tokens(self) -> int:
        return self.fixed_output or _MAX_LEN


_MAX_LEN = 1024
_IN_MEDIAN, _IN_SIGMA = 109.0, 1.5
_OUT_MEDIAN, _OUT_SIGMA = 144.0, 1.0
_LORA_SPLIT = (0.12,) * 5 + (0.06,) * 5 + (0.02,) * 5

WORKLOADS: Mapping[str, WorkloadSpec] = MappingProxyType(
    {
        "sharegpt": WorkloadSpec("sharegpt", "ShareGPT-like lengths, Poisson arrivals"),
        "shared-prefix": WorkloadSpec(
            "shared-prefix",
            "150 groups x 5 prompts, 6000-token system prompt + 1200-token question, 1000 out",
            prefix_groups=150,
            prompts_per_group=5,
            system_tokens=6000,
            question_tokens=1200,
            fixed_output=1000,
        ),
        "shared-prefix-low": WorkloadSpec(
            "shared-prefix-low",
            "150 groups x 5 prompts, 1000-token system prompt + 6200-token question, 1000 out",
            prefix_groups=150,
            prompts_per_group=5,
            system_tokens=1000,
            question_tokens=6200,
            fixed_output=1000,
        ),
        "multi-lora": WorkloadSpec(
            "multi-lora",
            "ShareGPT lengths over 15 LoRA adapters (5x12%, 5x6%, 5x2%), max-loras 3",
            adapter_weights=_LORA_SPLIT,
            max_loras=3,
        ),
        "mixed-criticality": WorkloadSpec(
            "mixed-criticality",
            "ShareGPT lengths; 30% Sheddable, 20% Critical, 50% Standard",
            sheddable=0.3,
            critical=0.2,
        ),
        "multi-tenant": WorkloadSpec(
            "multi-tenant",
            "ShareGPT lengths; two Standard tenants at a 10:1 rate, plus 5% Critical",
            critical=0.05,
            tenants=(10.0, 1.0),
        ),
        "bursty": WorkloadSpec(
            "bursty", "ShareGPT lengths, gamma arrivals with burstiness 0.5", burstiness=0.5
        ),
    }
)


def _lognormal_tokens(rng: random.Random, median: float, sigma: float, lo: int) -> int:
    value = round(median * math.exp(sigma * rng.gauss(0.0, 1.0)))
    return max(lo, min(_MAX_LEN, value))


def arrivals(rng: random.Random, rate: float, duration: float, burstiness: float) -> list[float]:
    """Arrival times in [0, duration) with mean rate ``rate`` and gamma inter-arrival times."""
    if rate <= 0.0 or duration <= 0.0:
        return []
    out: list[float] = []
    scale = 1.0 / (rate * burstiness)
    t = rng.gammavariate(burstiness, scale)
    while t < duration:
        out.append(t)
        t += rng.gammavariate(burstiness, scale)
    return out


def _content(
    spec: WorkloadSpec, rng: random.Random, index: int
) -> tuple[tuple[Segment, ...], int, str, Criticality]:
    if spec.prefix_groups:
        group = rng.randrange(spec.prefix_groups)
        user = rng.randrange(spec.prompts_per_group)
        segments: tuple[Segment, ...] = (
            (f"{spec.name}/system/{group}", spec.system_tokens),
            (f"{spec.name}/question/{group}/{user}", spec.question_tokens),
        )
        output = spec.fixed_output
    else:
        tokens = _lognormal_tokens(rng, _IN_MEDIAN, _IN_SIGMA, 4)
        segments = ((f"{spec.name}/prompt/{index}/{rng.getrandbits(32)}", tokens),)
        output = _lognormal_tokens(rng, _OUT_MEDIAN, _OUT_SIGMA, 1)
    model = BASE_MODEL
    if spec.adapter_weights:
        model = rng.choices(spec.adapters, weights=spec.adapter_weights)[0]
    draw = rng.random()
    if draw < spec.sheddable:
        crit = Criticality.SHEDDABLE
    elif draw < spec.sheddable + spec.critical:
        crit = Criticality.CRITICAL
    else:
        crit = Criticality.STANDARD
    return segments, output, model, crit


def generate(spec: WorkloadSpec, rate: float, duration: float, seed: int) -> list[BenchRequest]:
    """The stream of one stage: arrivals from one RNG, request contents from another."""
    times = arrivals(
        random.Random(f"{seed}/{spec.name}/{rate!r}/{duration!r}/arrivals"),
        rate,
        duration,
        spec.burstiness,
    )
    rng = random.Random(f"{seed}/{spec.name}/{rate!r}/{duration!r}/content")
    out: list[BenchRequest] = []
    for i, t in enumerate(times):
        segments, output, model, crit = _content(spec, rng, i)
        tenant = _tenant(spec, rng, crit) if spec.tenants else ""
        out.append(BenchRequest(i, t, segments, output, model, crit, tenant))
    return out


def _tenant(spec: WorkloadSpec, rng: random.Random, crit: Criticality) -> str:
    if crit is Criticality.CRITICAL:
        return "interactive"
    return f"tenant-{rng.choices(range(len(spec.tenants)), weights=spec.tenants)[0]}"


def generate_closed(spec: WorkloadSpec, count: int, seed: int) -> list[BenchRequest]:
    """Requests without meaningful arrival times, for a closed-loop saturation probe."""
    rng = random.Random(f"{seed}/{spec.name}/closed/{count}")
    return [BenchRequest(i, 0.0, *_content(spec, rng, i)) for i in range(count)]
