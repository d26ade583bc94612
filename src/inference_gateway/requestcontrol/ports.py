"""What the director needs from its collaborators, defined here where it is consumed.

``observability.metrics.EppMetrics`` implements ``RequestMetrics``; the scheduling
package's ``SaturationDetector`` implements ``CapacityGate``; the ``Datastore`` implements
``EndpointLedger``. All are passed in by the composition root (STYLE rule 15);
``NullMetrics`` is the do-nothing default.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from inference_gateway.datastore import Endpoint
from inference_gateway.scheduling.types import LLMRequest


class CapacityGate(Protocol):
    def admit(self, request: LLMRequest, endpoints: Sequence[Endpoint], now: float) -> None:
        """Raise ``NoCapacityError`` to shed the request (429)."""
        ...


class EndpointLedger(Protocol):
    """The EPP's own per-endpoint bookkeeping: in-flight slots and passive health."""

    def acquire(self, hostport: str) -> None: ...

    def release(self, hostport: str) -> None: ...

    def record_outcome(self, hostport: str, *, ok: bool, now: float) -> None: ...


class RequestMetrics(Protocol):
    def request_routed(self, model: str, target: str, request_bytes: int) -> None:
        """A request was routed: count it, its size, and one more running request."""
        ...

    def request_failed(self, model: str, target: str, code: str) -> None:
        """A request ended in error (once per request), ``code`` as in upstream metrics."""
        ...

    def request_completed(
        self,
        model: str,
        target: str,
        *,
        seconds: float,
        response_bytes: int,
        prompt_tokens: int | None,
        completion_tokens: int | None,
        cached_tokens: int | None,
    ) -> None:
        """A response finished successfully."""
        ...

    def request_ended(self, model: str) -> None:
        """A routed request is over, successfully or not: one fewer running request."""
        ...

    def scheduled(self, seconds: float, *, success: bool) -> None:
        """One scheduling attempt and how long it took."""
        ...

    def first_token(
        self, model: str, target: str, *, ttft: float, predicted: float | None, slo: float | None
    ) -> None:
        """A response's time to first token, what was predicted for it and its objective
        (seconds; None when there was none). Only with a response observer configured."""
        ...

    def decoded(
        self, model: str, target: str, *, tpot: float, predicted: float | None, slo: float | None
    ) -> None:
        """A finished response's time per output token, as ``first_token``."""
        ...


class NullMetrics:
    def request_routed(self, model: str, target: str, request_bytes: int) -> None:
        pass

    def request_failed(self, model: str, target: str, code: str) -> None:
        pass

    def request_completed(
        self,
        model: str,
        target: str,
        *,
        seconds: float,
        response_bytes: int,
        prompt_tokens: int | None,
        completion_tokens: int | None,
        cached_tokens: int | None,
    ) -> None:
        pass

    def request_ended(self, model: str) -> None:
        pass

    def scheduled(self, seconds: float, *, success: bool) -> None:
        pass

    def first_token(
        self, model: str, target: str, *, ttft: float, predicted: float | None, slo: float | None
    ) -> None:
        pass

    def decoded(
        self, model: str, target: str, *, tpot: float, predicted: float | None, slo: float | None
    ) -> None:
        pass
