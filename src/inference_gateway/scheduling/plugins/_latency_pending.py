"""The ``latency-predictor``'s picked requests awaiting their final response.

Each keeps the features it was predicted from, to be paired with what its response
measures. How many of them each pod holds per target model is derived from the same
entries and kept in step with them here, in one place: it tells which running LoRA
adapter on a pod will drain first (``drain_share``), and which adapters the gateway has
sent to a pod that its last scrape may not show yet (``sent``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from inference_gateway.scheduling.plugins._latency_parts import Candidate


class Pending:
    """A picked request awaiting its response: where it went and what was predicted."""

    __slots__ = ("cand", "pod", "target", "ttft_seen")

    def __init__(self, pod: str, cand: Candidate, target: str = "") -> None:
        self.pod, self.cand, self.target, self.ttft_seen = pod, cand, target, False


class PendingRequests:
    """Pending requests by id (the oldest dropped beyond ``limit``) and their counts per pod
    and target; ``moved(pod)`` is told whenever a pod's counts change."""

    __slots__ = ("_by_id", "_counts", "_limit", "_moved", "adapters")

    def __init__(self, limit: int, moved: Callable[[str], None]) -> None:
        self._by_id: dict[str, Pending] = {}
        self._counts: dict[str, dict[str, int]] = {}
        self._limit = limit
        self._moved = moved
        self.adapters: frozenset[str] = frozenset()
        """The targets known to be LoRA adapters: seen resident where the predictor picked
        them (the others are base models, which take no slot). Replaced whole when one is
        added (rarely), so the costs' model can hold it as it is."""

    def __len__(self) -> int:
        return len(self._by_id)

    @property
    def counts(self) -> Mapping[str, Mapping[str, int]]:
        return self._counts

    def get(self, request_id: str) -> Pending | None:
        return self._by_id.get(request_id)

    def add(self, request_id: str, pending: Pending) -> None:
        """Record a pick (replacing an earlier pick of the same request)."""
        by_id = self._by_id
        self._release(by_id.pop(request_id, None))
        by_id[request_id] = pending
        per = self._counts.setdefault(pending.pod, {})
        per[pending.target] = per.get(pending.target, 0) + 1
        self._moved(pending.pod)
        if len(by_id) > self._limit:
            self._release(by_id.pop(next(iter(by_id))))

    def pop(self, request_id: str) -> Pending | None:
        """The request ended: forget it and return what was kept for it."""
        found = self._by_id.pop(request_id, None)
        self._release(found)
        return found

    def forget(self, pod: str) -> None:
        """The pod left: its counts go (requests still pending there release nothing)."""
        self._counts.pop(pod, None)

    def sent(self, pod: str) -> frozenset[str]:
        """The adapters of the requests pending on ``pod``: each holds or will hold a slot
        there, whether or not the last scrape (up to an interval old) shows it yet."""
        per = self._counts.get(pod)
        return self.adapters.intersection(per) if per else frozenset()

    def drain_share(self, pod: str, running: frozenset[str]) -> float:
        """k/(k+1) for the running adapter with the fewest (k) requests pending on ``pod``:
        the share of a service time until its slot frees, with no new arrivals."""
        per = self._counts.get(pod)
        k = min(per.get(a, 0) for a in running) if per else 0
        return k / (k + 1.0)

    def hold_share(
        self, pod: str, target: str, running: frozenset[str], waiting: frozenset[str]
    ) -> float:
        """W/(k+1) when ``target`` (k pending on ``pod``) has the fewest pending of the
        running adapters, else 0: W requests wait for a slot there (at least one per
        waiting adapter), and one more request of ``target`` holds the slot that would
        free first 1/(k+1) of a service time longer."""
        per = self._counts.get(pod) or {}
        k = per.get(target, 0)
        if k > min(per.get(a, 0) for a in running):
            return 0.0
        waiters = sum(max(1, per.get(a, 0)) for a in waiting - running)
        return waiters / (k + 1.0)

    def _release(self, done: Pending | None) -> None:
        if done is None:
            return
        self._moved(done.pod)
        per = self._counts.get(done.pod)
        if per is not None:
            n = per.get(done.target, 0) - 1
            if n > 0:
                per[done.target] = n
            else:
                per.pop(done.target, None)
                if not per:
                    del self._counts[done.pod]
