"""The values flow control passes around: flow keys, queued items and their outcomes.

A flow is all requests with the same ``FlowKey``: the fairness id the client sends in
``x-gateway-inference-fairness-id`` or llm-d's ``x-llm-d-inference-fairness-id``
(upstream's default ``default-flow`` when absent) and
the request's priority. Priorities are integers, higher first, as upstream's
InferenceObjective; our criticalities map onto them (``PRIORITY_OF``).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

FAIRNESS_HEADER = "x-gateway-inference-fairness-id"
LLM_D_FAIRNESS_HEADER = "x-llm-d-inference-fairness-id"
"""llm-d's router's name for the same header, read first (it keeps upstream's as an alias)."""
FAIRNESS_HEADERS = (LLM_D_FAIRNESS_HEADER, FAIRNESS_HEADER)
DEFAULT_FAIRNESS_ID = "default-flow"
MAX_FAIRNESS_ID_CHARS = 128
"""Longer ids are cut: the id becomes a metric label and a dictionary key."""


def fairness_header(headers: Mapping[str, str]) -> str | None:
    """The fairness id the client sent, under llm-d's header or upstream's."""
    return headers.get(LLM_D_FAIRNESS_HEADER) or headers.get(FAIRNESS_HEADER)


PRIORITY_OF = {"Critical": 1, "Standard": 0, "Sheddable": -1}
"""Criticality to priority, keeping upstream's sign convention (negative is sheddable)."""

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class FlowKey:
    fairness_id: str
    priority: int


def fairness_id(value: str | None) -> str:
    """The fairness id of a header value: the default when absent or blank, capped."""
    if not value or not value.strip():
        return DEFAULT_FAIRNESS_ID
    return value.strip()[:MAX_FAIRNESS_ID_CHARS]


class Outcome(enum.Enum):
    """How an item left the queue; the values are the metric's ``outcome`` label."""

    DISPATCHED = "Dispatched"
    REJECTED_CAPACITY = "RejectedCapacity"
    EVICTED_TTL = "EvictedTTL"
    EVICTED_DISPLACED = "EvictedDisplaced"
    CANCELLED = "Cancelled"
    SHUTDOWN = "Shutdown"


@dataclass(slots=True, eq=False)
class QueueItem(Generic[T]):
    """One waiting request. Identity matters (``eq=False``): the same item is removed by
    reference from the queues that hold it."""

    key: FlowKey
    size: int
    """Bytes of the request body, counted against ``maxBytes``."""
    enqueued_at: float
    deadline: float = math.inf
    payload: T | None = None
    seq: int = 0
    outcome: Outcome | None = field(default=None)
    slo_deadline: float = math.inf
    """Enqueue time plus the request's TTFT objective (``x-slo-ttft-ms``), if it has one."""

    @property
    def live(self) -> bool:
        return self.outcome is None


class CapacityError(Exception):
    """The request cannot be queued: a band's or the global limit is reached."""

    def __init__(self, message: str, *, limit: str) -> None:
        super().__init__(message)
        self.limit = limit
