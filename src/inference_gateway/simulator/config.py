"""Engine configuration and latency profiles.

A step of the simulated engine costs

    slowdown * (b0 + b1*uncached_prefill_tokens + b2*decoding_seqs
                + b3*context_tokens + b4*tokens_emitted) + lora loads in the step

b0..b2 are the BLIS fit for Llama-3.1-8B on one H100 (vLLM 0.8.4); b3 is the research
digest's estimate for attention reads (128 KB of KV per token at 3.35 TB/s, doubled). b4 is
a per-token output/streaming overhead (the digest suggests ~0.05 ms; 35 us fits): with the
four BLIS terms alone one H100 saturates at ~134 req/s on the calibration workload (~200-token
prompts, 64-token outputs, max_num_seqs 128), while vLLM 0.11 measured ~101-106 req/s.
With b4 = 35 us the model gives TTFT p50 29 ms at 1 QPS (measured 31), 48 ms at 92 QPS
(measured 45) and saturation at ~102 req/s (research/sim-bench.md 3.8).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal


@dataclass(frozen=True, slots=True)
class LatencyProfile:
    """Coefficients of the step-time model, in seconds."""

    name: str
    b0: float
    """Fixed cost of one engine step."""
    b1: float
    """Per uncached prompt token computed in the step."""
    b2: float
    """Per sequence decoding in the step."""
    b3: float
    """Per context token (KV read) of the sequences in the step."""
    b4: float = 0.0
    """Per output token emitted by the step (detokenise + stream)."""


# The A100 and H100-TP2 rows are BLIS's other Llama-3.1-8B fits; their b3 scales with memory
# bandwidth and b4 is carried over from the calibrated H100 row (not separately measured).
PROFILES: Mapping[str, LatencyProfile] = MappingProxyType(
    {
        "llama3-8b-h100": LatencyProfile(
            "llama3-8b-h100", 5.75e-3, 17.25e-6, 6.0e-6, 0.05e-6, 35e-6
        ),
        "llama3-8b-a100": LatencyProfile(
            "llama3-8b-a100", 16.442e-3, 47.84e-6, 18.21e-6, 0.1e-6, 35e-6
        ),
        "llama3-8b-h100-tp2": LatencyProfile(
            "llama3-8b-h100-tp2", 6.91e-3, 17.67e-6, 2.84e-6, 0.03e-6, 35e-6
        ),
    }
)

DEFAULT_PROFILE = "llama3-8b-h100"


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """One simulated vLLM server. Defaults follow vLLM on one H100 with Llama-3-8B."""

    model: str = "sim-model"
    adapters: tuple[str, ...] = ()
    """LoRA adapters registered at start (more can be registered at run time)."""
    max_loras: int = 1
    max_num_seqs: int = 128
    kv_blocks: int = 29_205
    """BLIS's num_gpu_blocks for Llama-3.1-8B on an 80 GB H100."""
    block_size: int = 16
    max_num_batched_tokens: int = 2048
    profile: str = DEFAULT_PROFILE
    slowdown: float = 1.0
    """Multiplies every step's compute time (a test knob for 'a slow pod')."""
    lora_load_time: float = 0.025
    """Seconds added to the step that swaps an adapter into a GPU slot (CPU->GPU copy)."""
    api_overhead: float = 0.020
    """Seconds between a request's arrival and its entry into the waiting queue
    (HTTP parsing, tokenisation). 20 ms + a ~9 ms prefill step gives the measured 31 ms
    TTFT p50 at 1 QPS."""
    max_waiting: int = 1000
    """Requests waiting (or in API overhead) beyond this are refused (HTTP 429)."""
    max_model_len: int = 8192
    enable_prefix_caching: bool = True
    seed: int = 0
    task: Literal["generate", "embed"] = "generate"
    """What the model serves, as vLLM's ``--task`` / ``--runner``: ``generate`` answers
    completions, chat and responses; ``embed`` answers ``/v1/embeddings`` only."""

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"unknown latency profile {self.profile!r}; known: {sorted(PROFILES)}")
        for name in ("max_loras", "max_num_seqs", "kv_blocks", "block_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.max_num_batched_tokens < 1 or self.slowdown <= 0:
            raise ValueError("max_num_batched_tokens must be >= 1 and slowdown > 0")

    @property
    def latency(self) -> LatencyProfile:
        return PROFILES[self.profile]
