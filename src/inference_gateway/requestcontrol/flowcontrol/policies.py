"""Ordering (within a flow) and fairness (between the flows of a band) policies.

Both come by upstream's plugin type names, so a ``flowControl`` section written for
upstream selects the same behaviour here:

- ordering ``fcfs-ordering-policy``: oldest first; ``edf-ordering-policy``: earliest
  deadline (enqueue time + TTL) first, ties by arrival; ``slo-deadline-ordering-policy``:
  earliest enqueue time + the request's ``x-slo-ttft-ms`` (or llm-d's name) first, those
  without an objective after all that have one, ties by arrival.
- fairness ``global-strict-fairness-policy`` (upstream's default): the band is one queue,
  the flow whose head is best under the ordering policy goes next, so a heavy flow takes
  what it sends; ``round-robin-fairness-policy``: flows take turns, one request each.

Queues delete lazily: an item that left (cancelled, expired) stays in its structure with an
outcome set and is skipped when it reaches the front, so removal is O(1).
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel

from inference_gateway.requestcontrol.flowcontrol.types import QueueItem
from inference_gateway.requestcontrol.flowcontrol.usage import USAGE_LIMIT_POLICIES
from inference_gateway.scheduling.framework import NoParams

Item = QueueItem[Any]


class FlowQueue(Protocol):
    def push(self, item: Item) -> None: ...

    def peek(self) -> Item | None:
        """The next live item, or None."""
        ...

    def pop(self) -> Item | None: ...


class OrderingPolicy(Protocol):
    TYPE: ClassVar[str]

    def new_queue(self) -> FlowQueue: ...

    def sort_key(self, item: Item) -> tuple[float, int]:
        """Smaller goes first; used to compare the heads of different flows."""
        ...


class _FifoQueue:
    __slots__ = ("_items",)

    def __init__(self) -> None:
        self._items: deque[Item] = deque()

    def push(self, item: Item) -> None:
        self._items.append(item)

    def peek(self) -> Item | None:
        items = self._items
        while items and not items[0].live:
            items.popleft()
        return items[0] if items else None

    def pop(self) -> Item | None:
        head = self.peek()
        if head is not None:
            self._items.popleft()
        return head


class _DeadlineQueue:
    """A heap by ``item.deadline`` (TTL), or by ``item.slo_deadline`` when ``slo``."""

    __slots__ = ("_heap", "_slo")

    def __init__(self, *, slo: bool = False) -> None:
        self._heap: list[tuple[float, int, Item]] = []
        self._slo = slo

    def push(self, item: Item) -> None:
        key = item.slo_deadline if self._slo else item.deadline
        heapq.heappush(self._heap, (key, item.seq, item))

    def peek(self) -> Item | None:
        heap = self._heap
        while heap and not heap[0][2].live:
            heapq.heappop(heap)
        return heap[0][2] if heap else None

    def pop(self) -> Item | None:
        head = self.peek()
        if head is not None:
            heapq.heappop(self._heap)
        return head


class _Policy:
    Params: ClassVar[type[BaseModel]] = NoParams
    TYPE: ClassVar[str]

    def __init__(self, name: str = "", params: BaseModel | None = None, handle: Any = None):
        self.name = name or self.TYPE


class FcfsOrdering(_Policy):
    TYPE = "fcfs-ordering-policy"

    def new_queue(self) -> FlowQueue:
        return _FifoQueue()

    def sort_key(self, item: Item) -> tuple[float, int]:
        return (item.enqueued_at, item.seq)


class EdfOrdering(_Policy):
    TYPE = "edf-ordering-policy"

    def new_queue(self) -> FlowQueue:
        return _DeadlineQueue()

    def sort_key(self, item: Item) -> tuple[float, int]:
        return (item.deadline, item.seq)


class SloDeadlineOrdering(_Policy):
    TYPE = "slo-deadline-ordering-policy"

    def new_queue(self) -> FlowQueue:
        return _DeadlineQueue(slo=True)

    def sort_key(self, item: Item) -> tuple[float, int]:
        return (item.slo_deadline, item.seq)


class FlowView(Protocol):
    @property
    def head(self) -> Item | None: ...


class FairnessPolicy(Protocol):
    TYPE: ClassVar[str]

    def pick(self, flows: Sequence[FlowView], ordering: OrderingPolicy, cursor: int) -> int:
        """Index into ``flows`` (all non-empty) of the flow to serve next.

        ``cursor`` is the index the band served last (-1 at first), for rotating policies.
        """
        ...


class GlobalStrictFairness(_Policy):
    TYPE = "global-strict-fairness-policy"

    def pick(self, flows: Sequence[FlowView], ordering: OrderingPolicy, cursor: int) -> int:
        best, best_key = 0, None
        for i, flow in enumerate(flows):
            head = flow.head
            assert head is not None
            key = ordering.sort_key(head)
            if best_key is None or key < best_key:
                best, best_key = i, key
        return best


class RoundRobinFairness(_Policy):
    TYPE = "round-robin-fairness-policy"

    def pick(self, flows: Sequence[FlowView], ordering: OrderingPolicy, cursor: int) -> int:
        return (cursor + 1) % len(flows)


ORDERING_POLICIES: dict[str, type[FcfsOrdering | EdfOrdering | SloDeadlineOrdering]] = {
    FcfsOrdering.TYPE: FcfsOrdering,
    EdfOrdering.TYPE: EdfOrdering,
    SloDeadlineOrdering.TYPE: SloDeadlineOrdering,
}
FAIRNESS_POLICIES: dict[str, type[GlobalStrictFairness] | type[RoundRobinFairness]] = {
    GlobalStrictFairness.TYPE: GlobalStrictFairness,
    RoundRobinFairness.TYPE: RoundRobinFairness,
}
DEFAULT_ORDERING = FcfsOrdering.TYPE
DEFAULT_FAIRNESS = GlobalStrictFairness.TYPE


def policy_types() -> Iterable[type[Any]]:
    """Every policy class (usage limits too), for the EndpointPickerConfig ``Registry``."""
    return (
        *ORDERING_POLICIES.values(),
        *FAIRNESS_POLICIES.values(),
        *USAGE_LIMIT_POLICIES.values(),
    )
