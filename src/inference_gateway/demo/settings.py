"""The demo's knobs and its fixed cast: four pods, two LoRA adapters, four InferenceModels.

Sizing for a 2-core laptop that runs the load generator, Envoy, the EPP and four simulated
pods at once: each pod batches at most ``max_num_seqs`` = 6 sequences and runs its engine
``time_scale`` = 2.5 times slower than an H100, so one pod finishes about 9 requests a
second on this workload and the four of them about 30 (the slow pod counts for less).
The schedule offers ~24 req/s, with a burst at twice that in the middle third, so the pool
saturates for a few seconds (queues past the saturation detector's threshold of 5) and
drains again: enough to show shedding without a client-side backlog that outlives the run.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Policy = Literal["default", "round-robin"]

BASE_MODEL = "meta-llama/Llama-3.1-8B-Instruct"
CHAT_ADAPTER = "chat-lora"
SQL_V1, SQL_V2 = "sql-lora-v1", "sql-lora-v2"
ADAPTERS = (CHAT_ADAPTER, SQL_V1, SQL_V2)
POOL_NAME = "demo-pool"
POD_HOSTS = ("127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14")
POD_NAMES = ("pod-1", "pod-2", "pod-3", "pod-4")
SLOW_POD = "pod-4"


class DemoSettings(BaseModel):
    """Everything ``inference-gateway demo`` can be told; the CLI maps its options onto it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seconds: float = Field(default=20.0, gt=0)
    """Length of the arrival schedule for each policy."""
    rate: float = Field(default=24.0, gt=0)
    """Mean offered requests per second outside the burst (the burst doubles it)."""
    seed: int = 7
    compare: bool = True
    """Also replay the same schedule with the round-robin picker."""
    plain: bool = False
    """No live view: progress lines only (CI, logs, dumb terminals)."""
    time_scale: float = Field(default=2.5, gt=0)
    max_num_seqs: int = Field(default=6, ge=1)
    max_loras: int = Field(default=3, ge=1)
    slowdown: float = Field(default=2.5, gt=0)
    """How much slower the slow pod computes than the others."""
    drain_seconds: float = Field(default=15.0, ge=0)
    """After the schedule ends, how long to wait for answers still in flight."""
    request_timeout: float = Field(default=30.0, gt=0)
    envoy_log_level: str = "warning"
