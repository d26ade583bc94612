"""The simulated pool a workload runs on, and the two views of each request.

The router gets an ``LLMRequest`` whose prompt is the synthetic text; the engine gets a
``SimRequest`` whose block keys come from the very same text through the simulator's own
tokenizer stand-in (``simulator.tokens.block_keys``), so the router's 64-character prefix
blocks and the engine's 16-token KV blocks are the same slices. Shared-prefix prompts
repeat, so both views are cached by content.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

from inference_gateway.bench._prompts import prompt_text
from inference_gateway.bench.workloads import BASE_MODEL, BenchRequest, Segment, WorkloadSpec
from inference_gateway.scheduling.types import LLMRequest
from inference_gateway.simulator.config import EngineConfig
from inference_gateway.simulator.records import SimRequest
from inference_gateway.simulator.tokens import block_keys

_BLOCK_SIZE = EngineConfig().block_size


@dataclass(frozen=True, slots=True)
class PoolSetup:
    pods: int
    engine: EngineConfig
    slow_pods: int = 0
    slow_factor: float = 2.0
    """Step-time multiplier of the slow pods (``--heterogeneous``)."""
    scrape_interval: float = 0.05
    """The EPP's default metrics refresh interval (50 ms)."""
    drain_cap: float = 120.0
    """Seconds after the last arrival before in-flight requests count as timed out."""

    def engine_configs(self) -> list[EngineConfig]:
        return [
            replace(self.engine, seed=i, slowdown=self.slow_factor if i < self.slow_pods else 1.0)
            for i in range(self.pods)
        ]


def pool_for(
    spec: WorkloadSpec,
    pods: int,
    *,
    heterogeneous: bool = False,
    slow_factor: float = 2.0,
    slow_pods: int = 1,
    scrape_interval: float = 0.05,
    drain_cap: float = 120.0,
) -> PoolSetup:
    """H100 pods sized for the workload's longest request and its adapters; with
    ``heterogeneous`` the first ``slow_pods`` of them are ``slow_factor`` times slower (one
    slow pod, or two speed classes with ``slow_pods = pods // 2``)."""
    engine = EngineConfig(
        model=BASE_MODEL,
        adapters=spec.adapters,
        max_loras=max(1, spec.max_loras),
        max_model_len=max(8192, spec.max_prompt_tokens + spec.max_output_tokens),
    )
    return PoolSetup(
        pods,
        engine,
        slow_pods=min(pods, max(0, slow_pods)) if heterogeneous else 0,
        slow_factor=slow_factor,
        scrape_interval=scrape_interval,
        drain_cap=drain_cap,
    )


@lru_cache(maxsize=1024)
def _views(segments: tuple[Segment, ...]) -> tuple[str, tuple[int, ...]]:
    text = prompt_text(segments)
    return text, block_keys(text, _BLOCK_SIZE)


def prepare(req: BenchRequest) -> tuple[LLMRequest, SimRequest]:
    text, keys = _views(req.segments)
    llm = LLMRequest(
        request_id=req.request_id,
        model=req.model,
        target_model=req.model,
        criticality=req.criticality,
        prompt=text,
    )
    adapter = None if req.model == BASE_MODEL else req.model
    sim = SimRequest(
        req.request_id, req.prompt_tokens, req.output_tokens, keys, adapter, req.output_tokens
    )
    return llm, sim
