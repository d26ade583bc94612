"""One routed request: where it goes, and every stage of its response path.

The director builds a ``Routed`` at the end of ``route``; from then on the request owns its
state. The ext_proc handler only reads the forwarding decision (``endpoints``, ``body``,
``extra_headers``, ``answer``) and calls the three response stages in protocol order:
``response_started`` once, ``response_chunk`` per body chunk, and ``finish`` exactly once,
at the latest when the stream closes. ``finish`` is idempotent, so a transport that calls it
again (a cancelled stream after a complete response) changes nothing.

The response stages restore the requested model name, read token usage, run the
request-control plugins' response hooks, move the in-flight slot when the proxy retried on
another endpoint, and on ``finish`` release the slot, report passive health and metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Generator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from inference_gateway.requestcontrol.extensions.base import ImmediateAnswer
from inference_gateway.requestcontrol.extensions.runner import RequestExtensions
from inference_gateway.requestcontrol.ports import EndpointLedger, RequestMetrics
from inference_gateway.requestcontrol.response import ModelRestorer, UsageReader
from inference_gateway.scheduling.observe import Predictor, ResponseObserver

_EMPTY: Mapping[str, str] = MappingProxyType({})
_SAMPLE_EVENTS = 32
"""The early time-per-token sample comes after this many streamed events (about a second
on a fast pod), so a slow pod is learned long before its answers finish."""


class PendingRoute:
    """A route that must wait (request-side plugins, flow control): await it for the
    ``Routed``, or ``close`` it unawaited to let go of whatever it holds (a queue place)."""

    __slots__ = ("_coro", "_on_close")

    def __init__(
        self, coro: Coroutine[Any, Any, Routed], on_close: Callable[[], None] | None = None
    ) -> None:
        self._coro = coro
        self._on_close = on_close

    def __await__(self) -> Generator[Any, None, Routed]:
        self._on_close = None
        return self._coro.__await__()

    def close(self) -> None:
        self._coro.close()
        on_close, self._on_close = self._on_close, None
        if on_close is not None:
            on_close()


@dataclass(frozen=True, slots=True)
class ResponsePolicy:
    """What every response stage of one director shares (set once, read per request)."""

    ledger: EndpointLedger
    metrics: RequestMetrics
    clock: Callable[[], float]
    account_usage: bool
    max_usage_buffer_bytes: int
    on_release: Callable[[], None] | None = None
    """Told after a request gives its endpoint slot back (flow control dispatches then)."""
    observers: tuple[ResponseObserver, ...] = ()
    """Plugins that learn from responses (the latency predictor): told each request's
    time to first token at its first chunk, one early time-per-token sample while it
    streams, and the final figures when it finishes."""
    predictor: Predictor | None = None
    """The observer whose predictions the latency metrics set beside what each request got."""


@dataclass(slots=True, eq=False)
class Routed:
    """A routed request: the forwarding decision, then its response path."""

    policy: ResponsePolicy = field(repr=False)
    request_id: str
    model: str
    """The name the client asked for ('' for bodiless requests)."""
    target_model: str
    endpoints: tuple[str, ...]
    """``ip:port`` in preference order; the first is primary, the rest fallbacks."""
    body: bytes | None
    """The body to forward, or None when it is unchanged."""
    pool: str = ""
    criticality: str = "Standard"
    streaming: bool = False
    extra_headers: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    """Response headers to add for the client (for example ``x-gateway-debug``)."""
    remove_headers: tuple[str, ...] = ()
    """Request headers meant for the gateway alone, stripped before the request goes on."""
    answer: ImmediateAnswer | None = None
    """Set when a pre-request plugin answered: send this instead of forwarding (the request
    is already finished)."""
    started_at: float = 0.0
    status: int = 0
    served_by: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None
    response_bytes: int = 0
    hostport: str | None = None
    """The endpoint holding this request's in-flight slot."""
    metered: bool = True
    """False for bodiless requests: no model, so nothing to rewrite or count in metrics."""
    restorer: ModelRestorer | None = field(default=None, repr=False)
    usage: UsageReader | None = field(default=None, repr=False)
    extensions: RequestExtensions | None = field(default=None, repr=False)
    finished: bool = False
    endpoint_name: str = ""
    """The picked endpoint's name, for response observers ('' once the proxy moved it)."""
    routed_at: float = 0.0
    """When the request left for its endpoint (after any wait in flow control)."""
    first_chunk_at: float | None = None
    last_chunk_at: float = 0.0
    events: int = 0
    """Server-sent events seen so far (about one per token), for the early TPOT sample."""
    objectives: tuple[float | None, float | None] = (None, None)
    """The request's TTFT and TPOT objectives (``x-slo-ttft-ms``, ``x-slo-tpot-ms``), s."""
    predicted_tpot: float | None = None

    @property
    def needs_response_body(self) -> bool:
        """False when nothing in the response must be rewritten or read (Envoy may skip it)."""
        if self.restorer is not None or (self.metered and self.policy.account_usage):
            return True
        ext = self.extensions
        return ext is not None and ext.needs_response_body

    def response_started(
        self, status: int, headers: Mapping[str, str], served_by: str | None
    ) -> Mapping[str, str]:
        """Note the upstream status; return the headers to add to the client's response."""
        self.status = status
        if "text/event-stream" in headers.get("content-type", "").lower():
            self.streaming = True
        if served_by:
            self.served_by = served_by
            hostport = self.hostport
            if not self.finished and hostport is not None and hostport != served_by:
                # The proxy retried on a fallback: the in-flight slot follows the request.
                ledger = self.policy.ledger
                ledger.release(hostport)
                ledger.acquire(served_by)
                self.hostport = served_by
                self.endpoint_name = ""
        ext = self.extensions
        if ext is None:
            return self.extra_headers
        return {**self.extra_headers, **ext.response_header(status, headers, self.served_by)}

    def response_chunk(self, chunk: bytes, end_of_stream: bool) -> bytes:
        """Account usage, restore the requested model name, show plugins what the client gets."""
        self.response_bytes += len(chunk)
        if self.metered and self.policy.account_usage:
            usage = self.usage
            if usage is None:
                limit = self.policy.max_usage_buffer_bytes
                usage = self.usage = UsageReader(streaming=self.streaming, limit=limit)
            usage.feed(chunk, end_of_stream)
            self._copy_usage(usage)
        if self.policy.observers and self.endpoint_name and chunk:
            self._observe_chunk(chunk)
        out = chunk if self.restorer is None else self.restorer.feed(chunk, end_of_stream)
        if self.extensions is not None:
            self.extensions.response_body(out, end_of_stream)
        return out

    def finish(self, *, error: str | None = None) -> None:
        """Release everything held for the request; only the first call counts."""
        if self.finished:
            return
        self.finished = True
        policy = self.policy
        if self.hostport is not None:
            policy.ledger.release(self.hostport)
            self._record_outcome(self.hostport, error)
            if policy.on_release is not None:
                policy.on_release()
        if not self.metered:
            return
        if self.usage is not None and not self.usage.done:
            # The response ended without an end-of-stream chunk (trailers, disconnect).
            self.usage.feed(b"", True)
            self._copy_usage(self.usage)
        code = error
        if code is None and self.status and not 200 <= self.status < 300:
            code = "ModelServerError"
        if policy.observers:
            self._observe_end(measured=code is None and bool(self.endpoint_name))
        metrics = policy.metrics
        if code is not None:
            metrics.request_failed(self.model, self.target_model, code)
        elif self.status:
            metrics.request_completed(
                self.model,
                self.target_model,
                seconds=policy.clock() - self.started_at,
                response_bytes=self.response_bytes,
                prompt_tokens=self.prompt_tokens,
                completion_tokens=self.completion_tokens,
                cached_tokens=self.cached_tokens,
            )
        metrics.request_ended(self.model)

    def _observe_chunk(self, chunk: bytes) -> None:
        now = self.policy.clock()
        self.last_chunk_at = now
        first = self.first_chunk_at
        if first is None:
            self.first_chunk_at = now
            self.events = chunk.count(b"data:")
            ttft = now - self.routed_at
            predictor = self.policy.predictor
            predicted = predictor.prediction(self.request_id) if predictor is not None else None
            if predicted is not None:
                self.predicted_tpot = predicted[1]
            if self.metered:
                self.policy.metrics.first_token(
                    self.model,
                    self.target_model,
                    ttft=ttft,
                    predicted=predicted[0] if predicted is not None else None,
                    slo=self.objectives[0],
                )
            self._tell(ttft=ttft, tpot=None, tokens=None, now=now, final=False)
            return
        if not self.streaming:
            return
        before = self.events
        self.events = events = before + chunk.count(b"data:")
        if before < _SAMPLE_EVENTS <= events:
            tpot = (now - first) / (events - 1)
            self._tell(ttft=None, tpot=tpot, tokens=events, now=now, final=False)

    def _observe_end(self, *, measured: bool) -> None:
        """The one final report every request gets, so that learners can let go of what
        they hold for it: with no measurements when it failed, never started streaming or
        was moved to another endpoint by the proxy."""
        now = self.policy.clock()
        first = self.first_chunk_at
        if not measured or first is None:
            self._tell(ttft=None, tpot=None, tokens=None, now=now, final=True)
            return
        tokens = self.completion_tokens
        if not tokens and self.streaming and self.events > 2:
            # No usage block (the client did not ask for one, as OpenAI clients do not by
            # default): the events stand in for tokens, less the closing "data: [DONE]".
            tokens = self.events - 1
        tpot = (self.last_chunk_at - first) / (tokens - 1) if tokens and tokens > 1 else None
        if tpot is not None and self.metered:
            self.policy.metrics.decoded(
                self.model,
                self.target_model,
                tpot=tpot,
                predicted=self.predicted_tpot,
                slo=self.objectives[1],
            )
        self._tell(ttft=first - self.routed_at, tpot=tpot, tokens=tokens, now=now, final=True)

    def _tell(
        self, *, ttft: float | None, tpot: float | None, tokens: int | None, now: float, final: bool
    ) -> None:
        for observer in self.policy.observers:
            observer.observe_response(
                self.request_id,
                self.endpoint_name,
                ttft=ttft,
                tpot=tpot,
                prompt_tokens=self.prompt_tokens if final else None,
                completion_tokens=tokens,
                now=now,
                final=final,
            )

    def _record_outcome(self, hostport: str, error: str | None) -> None:
        """Tell passive health how the endpoint that served the request did.

        A 5xx is the endpoint's failure, whether it answered it or Envoy did because the
        connection to it was refused or reset before a response (then the endpoint is
        Envoy's upstream address, or the one picked; there are no proxy retries). A
        response that completed below 500 is a success. A stream that ended early after
        a good status is neither: the EPP sees a client hanging up and a pod dying
        mid-stream the same way (Envoy cancels the ext_proc stream in both cases), so it
        blames no one; a dead pod then fails the next requests' connections instead.
        """
        status = self.status
        if not status:
            return
        if status >= 500:
            self.policy.ledger.record_outcome(hostport, ok=False, now=self.policy.clock())
        elif error is None:
            self.policy.ledger.record_outcome(hostport, ok=True, now=self.policy.clock())

    def _copy_usage(self, reader: UsageReader) -> None:
        found = reader.usage
        if found is not None:
            self.prompt_tokens = found.prompt_tokens
            self.completion_tokens = found.completion_tokens
            self.cached_tokens = found.cached_tokens
