"""A vLLM-compatible model-server simulator: a pure engine and an HTTP front.

The engine (``Engine``) is one vLLM server as a discrete-event model over a clock it is
given; the same object runs behind HTTP in real time (``run_pods``) and inside benchmarks in
virtual time. A virtual-time harness for N engines keeps a heap over their
``next_event_time()`` and its own arrivals::

    engines = [Engine(EngineConfig(model="m", max_num_seqs=128)) for _ in range(4)]
    # at each arrival time t (ascending):
    for e in engines:                      # bring every engine up to t first,
        finished += e.advance(t)           # so its gauges describe time t
    pick = route(request, [(e.num_waiting, e.num_running, e.kv_usage) for e in engines])
    record = engines[pick].submit(SimRequest("id", prompt_tokens=200, output_tokens=64,
                                             block_keys=block_keys(text, 16)), t)
    # between arrivals: pop the earliest engine event t_e and call e.advance(t_e);
    # repeat until every next_event_time() is inf.

``advance(until)`` returns the ``RequestRecord``s that finished; each record (also returned
by ``submit``) carries arrival, queued, scheduled, first-token and finish times, output and
cached tokens and preemptions, so TTFT/TPOT/e2e are ``rec.ttft``/``rec.tpot``/``rec.e2e``.
``submit`` raises ``QueueFullError`` (429), ``UnknownModelError`` (404) or ``EngineError``
(400). ``virtual.drive`` is the one-engine loop, and ``snapshot(engine, t)`` gives the shared
``datastore.types.Metrics`` a scrape at ``t`` would produce.

Over HTTP, ``run_pods([PodSpec("p0", "127.0.0.11", 0, model="m")], time_scale=0.05)`` starts
pods (see ``server``); ``inference-gateway sim`` is the command-line form.

Prompts become block keys through ``tokens``: 4 characters per token, block content keys
are xxh64 hashes of 64-character slices, chained by the engine with the adapter name.
"""

from __future__ import annotations

from inference_gateway.simulator.config import (
    DEFAULT_PROFILE,
    PROFILES,
    EngineConfig,
    LatencyProfile,
)
from inference_gateway.simulator.engine import Engine
from inference_gateway.simulator.records import (
    EngineError,
    QueueFullError,
    RequestRecord,
    SimRequest,
    UnknownModelError,
)
from inference_gateway.simulator.server import PodSpec, SimPod, run_pods, serve_pods
from inference_gateway.simulator.tokens import block_keys, chat_text, count_tokens
from inference_gateway.simulator.virtual import drive, measure_speed, poisson_arrivals, snapshot

__all__ = [
    "DEFAULT_PROFILE",
    "PROFILES",
    "Engine",
    "EngineConfig",
    "EngineError",
    "LatencyProfile",
    "PodSpec",
    "QueueFullError",
    "RequestRecord",
    "SimPod",
    "SimRequest",
    "UnknownModelError",
    "block_keys",
    "chat_text",
    "count_tokens",
    "drive",
    "measure_speed",
    "poisson_arrivals",
    "run_pods",
    "serve_pods",
    "snapshot",
]
