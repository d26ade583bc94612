"""``inference-gateway demo``: the whole gateway over simulated pods, in about a minute.

Four simulated vLLM pods (one slower, two LoRA adapters), the EPP and real Envoy, a seeded
open-loop workload (chat and completions, streaming, a 90/10 rollout split, Critical to
Sheddable), a live view, then a side-by-side summary against round-robin on the same
requests. ``run_demo`` is the async entry point; the CLI owns signals and printing.
"""

from __future__ import annotations

from inference_gateway.demo.runner import run_demo
from inference_gateway.demo.settings import DemoSettings
from inference_gateway.demo.summary import reading, summary_table
from inference_gateway.demo.world import DemoStartError

__all__ = ["DemoSettings", "DemoStartError", "reading", "run_demo", "summary_table"]
