"""Saturation detection and the admission rule built on it (upstream v0.5 semantics).

The pool is saturated iff no endpoint has fresh metrics (younger than
``metricsStalenessThreshold``, 200 ms upstream, i.e. four 50 ms scrapes) with a waiting
queue of at most ``queueDepthThreshold`` (5) and KV utilisation of at most
``kvCacheUtilThreshold`` (0.8); an empty pool is saturated. Admission sheds only Sheddable
requests, with 429, when saturated: Critical requests bypass the check and Standard
requests are admitted and left to the scheduler's fallback path. In the EPP staleness is
judged without the time its own event loop was stalled, when no scrape could run
(``requestcontrol.capacity``): a request path that holds up our one loop holds up the scrapes
too, which upstream's Go EPP runs on goroutines of their own.
Registered as ``saturation-detector`` (our name for the v0.5 rule); upstream v1.5's
mean-utilisation ``utilization-detector`` is ``utilization.py``, its
``concurrency-detector`` ``concurrency.py``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Protocol

from pydantic import BaseModel, BeforeValidator, Field

from inference_gateway.datastore.types import Endpoint
from inference_gateway.scheduling.framework import Params, Plugin, PluginHandle
from inference_gateway.scheduling.types import Criticality, LLMRequest, NoCapacityError

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(ns|us|µs|ms|s|m|h)\s*$")


def parse_duration(value: object) -> object:
    """Go-style ``"200ms"``/``"1.5s"`` to seconds; numbers are taken as seconds."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise ValueError(f"not a duration: {value!r} (use e.g. '200ms' or '1s')")
        return float(match.group(1)) * _UNITS[match.group(2)]
    return value


Seconds = Annotated[float, BeforeValidator(parse_duration), Field(ge=0.0)]


class SaturationParams(Params):
    queueDepthThreshold: int = Field(default=5, ge=0)
    kvCacheUtilThreshold: float = Field(default=0.8, gt=0.0, le=1.0)
    metricsStalenessThreshold: Seconds = 0.2


class Sheds(Plugin):
    """Admission shared by every detector: a Sheddable request gets 429 when the pool is
    saturated; Critical and Standard ones always go on (upstream's legacy admission)."""

    def is_saturated(self, endpoints: Sequence[Endpoint], now: float) -> bool:
        raise NotImplementedError

    def why_saturated(self, endpoints: Sequence[Endpoint], now: float) -> str:
        """For the log line of a refusal (never on the hot path of an admitted request)."""
        return f"pool saturation {self.saturation(endpoints, now):.2f}"

    def saturation(self, endpoints: Sequence[Endpoint], now: float) -> float:
        raise NotImplementedError

    def admit(self, request: LLMRequest, endpoints: Sequence[Endpoint], now: float) -> None:
        """Raise ``NoCapacityError`` for a Sheddable request when the pool is saturated."""
        if request.criticality is Criticality.SHEDDABLE and self.is_saturated(endpoints, now):
            raise NoCapacityError(
                "dropping request due to limited backend resources",
                reason=lambda: self.why_saturated(endpoints, now),
            )


class SaturationDetector(Sheds):
    TYPE = "saturation-detector"
    Params = SaturationParams

    def __init__(
        self,
        name: str = TYPE,
        params: BaseModel | None = None,
        handle: PluginHandle | None = None,
    ) -> None:
        p = params if params is not None else SaturationParams()
        assert isinstance(p, SaturationParams)
        self.name = name
        self.queue = p.queueDepthThreshold
        self.kv = p.kvCacheUtilThreshold
        self.staleness = p.metricsStalenessThreshold

    def is_saturated(self, endpoints: Sequence[Endpoint], now: float) -> bool:
        oldest = now - self.staleness
        q, kv = self.queue, self.kv
        for e in endpoints:
            m = e.metrics
            if m.updated_at >= oldest and m.waiting <= q and m.kv_usage <= kv:
                return False
        return True

    def saturation(self, endpoints: Sequence[Endpoint], now: float) -> float:
        return utilization(endpoints, now, self.queue, self.kv, self.staleness)

    def why_saturated(self, endpoints: Sequence[Endpoint], now: float) -> str:
        return endpoint_states(endpoints, now, self.queue, self.kv, self.staleness)


def utilization(
    endpoints: Sequence[Endpoint],
    now: float,
    queue: int,
    kv: float,
    staleness: float,
    *,
    unseen: bool = False,
) -> float:
    """Upstream v1.5's pool saturation: the mean over endpoints of
    ``max(waiting / queueDepthThreshold, kv / kvCacheUtilThreshold)``, a stale endpoint
    counting 1.0 (an empty pool is 1.0). Usage-limit ceilings compare against it; whether
    a request may go at all stays the per-endpoint rule of ``is_saturated``. ``unseen``:
    waiting is at least the requests the EPP sent since the pod's last scrape
    (``in_flight - running``), as flow control's gates count it."""
    if not endpoints:
        return 1.0
    oldest = now - staleness
    q = max(queue, 1)
    total = 0.0
    for e in endpoints:
        m = e.metrics
        if m.updated_at < oldest:
            total += 1.0
            continue
        waiting = max(m.waiting, e.in_flight - m.running) if unseen else m.waiting
        total += max(waiting / q, m.kv_usage / kv)
    return total / len(endpoints)


def endpoint_states(
    endpoints: Sequence[Endpoint], now: float, queue: int, kv: float, staleness: float
) -> str:
    """How many endpoints were stale, queued or full, for a refusal's log line. All of them
    stale at once points at the EPP's own loop (``inference_extension_event_loop_lag_seconds``)
    rather than at the pods."""
    oldest = now - staleness
    stale = [e.metrics.updated_at for e in endpoints if e.metrics.updated_at < oldest]
    fresh = [e.metrics for e in endpoints if e.metrics.updated_at >= oldest]
    queued = sum(1 for m in fresh if m.waiting > queue)
    full = sum(1 for m in fresh if m.waiting <= queue and m.kv_usage > kv)
    limit = f"{staleness * 1000:.0f} ms"
    text = f"{len(endpoints)} endpoints: {len(stale)} with metrics older than {limit}"
    if stale:
        text += f" (the freshest of them {(now - max(stale)) * 1000:.0f} ms old)"
    return text + f", {queued} with more than {queue} waiting, {full} with KV use over {kv:g}"


class Detector(Protocol):
    """What admission and flow control need of a saturation detector (this module's and
    ``concurrency.ConcurrencyDetector``)."""

    name: str

    def saturation(self, endpoints: Sequence[Endpoint], now: float) -> float: ...

    def is_saturated(self, endpoints: Sequence[Endpoint], now: float) -> bool: ...

    def admit(self, request: LLMRequest, endpoints: Sequence[Endpoint], now: float) -> None: ...
