"""The demo's knobs and its fixed cast: four pods, two LoRA adapters, four InferenceModels.

Sizing for a 2-core laptop that runs the load generator, Envoy, the EPP and four simulated
pods at once: each pod batches at most ``max_num_seqs`` = 8 sequences and runs its engine
``time_scale`` = 2 times slower than an H100, so the three fast pods finish about 10
requests a second each on this workload and the slow one about 4 (measured: ~33 req/s
for the pool). The schedule offers 26 req/s, 52 during the burst in the middle third, so
the pool saturates for a few seconds (every queue past the saturation detector's threshold
of 5) and drains again. The whole demo costs ~20 CPU-seconds of Python plus Envoy.

The main run uses ``scorer-mix`` (upstream v1.5's default profile: queue, KV-cache and
prefix scorers). The older criticality tree (``--policy default``) sends every request for
an adapter to the pods that already hold it until their queue reaches 128, so whichever
pod first loads ``chat-lora`` takes all chat traffic; when that is the slow pod the demo
shows upstream's soft affinity at its worst, which is faithful but not what a first run
should be about.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Policy = Literal["default", "scorer-mix", "least-request", "random", "round-robin"]
"""Built-in EndpointPickerConfig names (scheduling/configs)."""

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
    rate: float = Field(default=26.0, gt=0)
    """Mean offered requests per second outside the burst (the burst doubles it)."""
    seed: int = 7
    policy: Policy = "scorer-mix"
    """The endpoint picker's scheduling config for the main run."""
    baseline: Policy = "round-robin"
    compare: bool = True
    """Also replay the same schedule with ``baseline``."""
    plain: bool = False
    """No live view: progress lines only (CI, logs, dumb terminals)."""
    time_scale: float = Field(default=2.0, gt=0)
    max_num_seqs: int = Field(default=8, ge=1)
    max_loras: int = Field(default=3, ge=1)
    slowdown: float = Field(default=2.5, gt=0)
    """How much slower the slow pod computes than the others."""
    drain_seconds: float = Field(default=15.0, ge=0)
    """After the schedule ends, how long to wait for answers still in flight."""
    request_timeout: float = Field(default=30.0, gt=0)
    envoy_log_level: str = "warning"
