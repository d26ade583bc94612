"""The director: every decision between a buffered request body and an endpoint list.

``route`` parses the body, resolves the model (InferenceModel, weighted targets,
InferenceModelRewrite), sets criticality (InferenceModel, overridden by the
``x-gateway-inference-objective`` header), narrows candidates to the proxy's subset hint,
asks admission and then the scheduler, and re-serialises the body only when the model
name changes. It raises only ``GatewayError``: anything unexpected is logged with its
traceback and becomes a 500. The response half restores the requested model name and
reads token usage; ``finish`` releases the in-flight slot exactly once, records metrics and
reports the request's outcome for the endpoint that served it (passive health).
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from inference_gateway.datastore import Datastore, Endpoint, PoolInfo
from inference_gateway.requestcontrol import errors
from inference_gateway.requestcontrol.body import ParsedBody, parse_body, with_model
from inference_gateway.requestcontrol.flowcontrol.hook import FlowHook, Held
from inference_gateway.requestcontrol.ports import Admission, NullMetrics, RequestMetrics
from inference_gateway.requestcontrol.resolve import (
    criticality_for,
    in_subset,
    pool_for,
    target_for,
)
from inference_gateway.requestcontrol.response import ModelRestorer, UsageReader
from inference_gateway.requestcontrol.settings import DirectorSettings
from inference_gateway.requestcontrol.types import GatewayError, IncomingRequest, Routed
from inference_gateway.scheduling.explain import format_explanation
from inference_gateway.scheduling.types import (
    Decision,
    LLMRequest,
    NoCapacityError,
    NoEndpointsError,
    Scheduler,
)

log = logging.getLogger(__name__)

DEBUG_HEADER = "x-gateway-debug"
POOL_HEADER = "x-gateway-inference-pool"
"""The pool a route picked (body-based routing), honoured with ``DirectorSettings.pool_header``."""
REQUEST_ID_HEADER = "x-request-id"

_STATE_KEY = "requestcontrol"
_BODILESS_FAILURE_LIMIT = 3
_MAX_DEBUG_CHARS = 2048


@dataclass(slots=True)
class _Names:
    """What is known of a request so far, for the error metric's labels."""

    model: str = ""
    target: str = ""


@dataclass(slots=True)
class _Lifecycle:
    """The director's private per-request state, kept in ``Routed.state``."""

    hostport: str | None
    restorer: ModelRestorer | None
    usage: UsageReader | None = None
    finished: bool = False
    metered: bool = True


class Director:
    def __init__(
        self,
        datastore: Datastore,
        scheduler: Scheduler,
        *,
        metrics: RequestMetrics | None = None,
        admission: Admission | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        settings: DirectorSettings | None = None,
        explain: Callable[[Decision], str] = format_explanation,
        flow: FlowHook | None = None,
    ) -> None:
        self.datastore = datastore
        self.scheduler = scheduler
        self.metrics: RequestMetrics = metrics if metrics is not None else NullMetrics()
        self.admission = admission
        self.rng = rng if rng is not None else random.Random()
        self.clock = clock
        self.settings = settings if settings is not None else DirectorSettings()
        self.explain = explain
        self.flow = flow
        """Flow control (issue 16): None when the ``flowControl`` feature gate is off."""

    # --- request ----------------------------------------------------------------------
    def route(self, request: IncomingRequest) -> Routed:
        names = _Names()
        try:
            return self._route(request, names)
        except Held:
            raise
        except GatewayError as e:
            self.metrics.request_failed(names.model, names.target, e.reason)
            raise
        except Exception as e:
            log.exception("routing failed unexpectedly (model=%r)", names.model)
            err = errors.internal()
            self.metrics.request_failed(names.model, names.target, err.reason)
            raise err from e

    def _route(self, request: IncomingRequest, names: _Names) -> Routed:
        started = self.clock()
        if not request.body:
            return self._route_bodiless(request, started)
        parsed = parse_body(request.path, request.body)
        names.model = model = parsed.model
        headers = request.headers
        info = self.datastore.model(model)
        pool = self._routed_pool(request)
        if pool is None:
            pool = pool_for(self.datastore, model, info)
        elif info is None or info.pool_key != pool.key:
            raise errors.model_not_found(model)
        names.target = target = target_for(self.datastore, model, info, pool, headers, self.rng)
        default = self.settings.default_criticality
        criticality = criticality_for(self.datastore, info, pool, headers, default)
        candidates = self._candidates(model, pool, request)
        llm = LLMRequest(
            request_id=self._request_id(headers),
            model=model,
            target_model=target,
            criticality=criticality,
            prompt=parsed.prompt,
            headers=headers,
        )
        if self.flow is not None:  # flow control (issue 16): go now, or raise Held to wait
            candidates = self.flow.check(
                request,
                llm,
                pool,
                candidates,
                resume=lambda _: self._resume(request, parsed, llm, pool, started, names),
                abandon=lambda routed: self.finish(routed, error="cancelled"),
            )
        decision = self._schedule(llm, candidates)
        return self._routed(request, parsed, llm, pool, decision, started)

    def _resume(
        self,
        request: IncomingRequest,
        parsed: ParsedBody,
        llm: LLMRequest,
        pool: PoolInfo,
        started: float,
        names: _Names,
    ) -> Routed:
        """Schedule a request flow control held, on the pool as it is now."""
        try:
            candidates = self._candidates(llm.model, pool, request)
            assert self.flow is not None
            decision = self._schedule(llm, self.flow.narrow(candidates))
            return self._routed(request, parsed, llm, pool, decision, started)
        except GatewayError as e:
            self.metrics.request_failed(names.model, names.target, e.reason)
            raise

    def _request_id(self, headers: Mapping[str, str]) -> str:
        # Not drawn from ``self.rng``: that would make tie-breaks depend on whether clients
        # send ids, and a seeded run would repeat ids across restarts.
        return headers.get(REQUEST_ID_HEADER) or str(uuid.uuid4())

    def _route_bodiless(self, request: IncomingRequest, started: float) -> Routed:
        """No body, no model (``GET /v1/models``, probes): any ready endpoint, as upstream.

        Without a model there is nothing to rewrite or meter, so only in-flight is counted.
        """
        chosen_pool = self._routed_pool(request)
        pools = sorted(self.datastore.pools(), key=lambda p: p.key)
        if chosen_pool is not None:
            pools = [chosen_pool]
        endpoints = self.datastore.endpoints(pools[0].key) if pools else ()
        hint = request.subset_hint
        if hint is not None and self.settings.subset_filter:
            endpoints = tuple(in_subset(endpoints, hint))
        if not endpoints:
            raise errors.service_unavailable("no ready endpoints")
        # No scheduler runs here, so passive health is applied directly: skip endpoints on a
        # failing streak (the default profile's ejection threshold) unless all of them are.
        healthy = [e for e in endpoints if e.consecutive_failures < _BODILESS_FAILURE_LIMIT]
        if healthy:
            endpoints = tuple(healthy)
        chosen = endpoints[self.rng.randrange(len(endpoints))]
        routed = Routed(
            request_id=self._request_id(request.headers),
            model="",
            target_model="",
            endpoints=(chosen.hostport,),
            body=None,
            pool=pools[0].key,
            needs_response_body=False,
            started_at=started,
        )
        routed.state[_STATE_KEY] = _Lifecycle(chosen.hostport, None, metered=False)
        self.datastore.acquire(chosen.hostport)
        return routed

    def _routed_pool(self, request: IncomingRequest) -> PoolInfo | None:
        """The pool named by the route (``POOL_HEADER``), when honoured and present."""
        key = request.headers.get(POOL_HEADER) if self.settings.pool_header else None
        if not key:
            return None
        pool = self.datastore.pool(key)
        if pool is None:
            raise errors.service_unavailable(f"pool {key} chosen by the route does not exist")
        return pool

    def _candidates(self, model: str, pool: PoolInfo, request: IncomingRequest) -> list[Endpoint]:
        endpoints = self.datastore.endpoints(pool.key)
        if not endpoints:
            raise errors.service_unavailable(f"no ready endpoints for model {model}")
        hint = request.subset_hint
        if hint is None or not self.settings.subset_filter:
            return list(endpoints)
        chosen = in_subset(endpoints, hint)
        if not chosen:
            raise errors.service_unavailable(
                f"no ready endpoints for model {model} in the proxy's endpoint subset"
            )
        return chosen

    def _schedule(self, llm: LLMRequest, candidates: list[Endpoint]) -> Decision:
        now = self.clock()
        try:
            if self.admission is not None:
                self.admission.admit(llm, candidates, now)
            decision = self.scheduler.schedule(llm, candidates, now)
        except NoCapacityError as e:
            self.metrics.scheduled(self.clock() - now, success=False)
            raise errors.resource_exhausted(
                str(e) or f"no capacity for model {llm.model} ({llm.criticality.value})"
            ) from e
        except NoEndpointsError as e:
            self.metrics.scheduled(self.clock() - now, success=False)
            raise errors.service_unavailable(f"no ready endpoints for model {llm.model}") from e
        self.metrics.scheduled(self.clock() - now, success=bool(decision.endpoints))
        if not decision.endpoints:
            raise errors.internal("the scheduler returned no endpoint")
        return decision

    def _routed(
        self,
        request: IncomingRequest,
        parsed: ParsedBody,
        llm: LLMRequest,
        pool: PoolInfo,
        decision: Decision,
        started: float,
    ) -> Routed:
        model, target = llm.model, llm.target_model
        body = with_model(parsed.data, target) if target != model else None
        extra: dict[str, str] = {}
        if log.isEnabledFor(logging.DEBUG) or self._debug_requested(request.headers):
            text = self.explain(decision)
            log.debug("request %s model=%s target=%s: %s", llm.request_id, model, target, text)
            if self._debug_requested(request.headers):
                extra[DEBUG_HEADER] = _header_safe(text)
        rewrite = target != model
        routed = Routed(
            request_id=llm.request_id,
            model=model,
            target_model=target,
            endpoints=tuple(e.hostport for e in decision.endpoints),
            body=body,
            pool=pool.key,
            criticality=llm.criticality.value,
            streaming=parsed.streaming,
            needs_response_body=rewrite or self.settings.account_usage,
            extra_headers=extra,
            started_at=started,
        )
        hostport = routed.endpoints[0]
        routed.state[_STATE_KEY] = _Lifecycle(
            hostport=hostport, restorer=ModelRestorer(target, model) if rewrite else None
        )
        self.metrics.request_routed(model, target, len(request.body))
        self.datastore.acquire(hostport)
        return routed

    def _debug_requested(self, headers: Mapping[str, str]) -> bool:
        return self.settings.debug_header and headers.get(DEBUG_HEADER, "").lower() == "true"

    # --- response ---------------------------------------------------------------------
    def response_started(
        self, routed: Routed, status: int, headers: Mapping[str, str], served_by: str | None
    ) -> Mapping[str, str]:
        routed.status = status
        if "text/event-stream" in headers.get("content-type", "").lower():
            routed.streaming = True
        lc = _lifecycle(routed)
        if served_by:
            routed.served_by = served_by
            if lc is not None and not lc.finished and lc.hostport not in (None, served_by):
                # The proxy retried on a fallback: the in-flight slot follows the request.
                self.datastore.release(lc.hostport)
                self.datastore.acquire(served_by)
                lc.hostport = served_by
        return routed.extra_headers

    def response_chunk(self, routed: Routed, chunk: bytes, end_of_stream: bool) -> bytes:
        routed.response_bytes += len(chunk)
        lc = _lifecycle(routed)
        if lc is None:
            return chunk
        if self.settings.account_usage:
            if lc.usage is None:
                lc.usage = UsageReader(
                    streaming=routed.streaming, limit=self.settings.max_usage_buffer_bytes
                )
            lc.usage.feed(chunk, end_of_stream)
            _copy_usage(lc.usage, routed)
        if lc.restorer is None:
            return chunk
        return lc.restorer.feed(chunk, end_of_stream)

    def finish(self, routed: Routed, *, error: str | None = None) -> None:
        lc = _lifecycle(routed)
        if lc is None or lc.finished:
            return
        lc.finished = True
        if lc.hostport is not None:
            self.datastore.release(lc.hostport)
            if self.flow is not None:  # flow control (issue 16): a slot is free
                self.flow.flow.wake()
            self._record_outcome(lc.hostport, routed.status, error)
        if not lc.metered:
            return
        if lc.usage is not None and not lc.usage.done:
            # The response ended without an end-of-stream chunk (trailers, disconnect).
            lc.usage.feed(b"", True)
            _copy_usage(lc.usage, routed)
        code = error
        if code is None and routed.status and not 200 <= routed.status < 300:
            code = "ModelServerError"
        if code is not None:
            self.metrics.request_failed(routed.model, routed.target_model, code)
        elif routed.status:
            self.metrics.request_completed(
                routed.model,
                routed.target_model,
                seconds=self.clock() - routed.started_at,
                response_bytes=routed.response_bytes,
                prompt_tokens=routed.prompt_tokens,
                completion_tokens=routed.completion_tokens,
                cached_tokens=routed.cached_tokens,
            )
        self.metrics.request_ended(routed.model)

    def _record_outcome(self, hostport: str, status: int, error: str | None) -> None:
        """Tell passive health how the endpoint that served the request did.

        A 5xx is the endpoint's failure, whether it answered it or Envoy did because the
        connection to it was refused or reset before a response (then the endpoint is
        Envoy's upstream address, or the one picked; there are no proxy retries). A
        response that completed below 500 is a success. A stream that ended early after
        a good status is neither: the EPP sees a client hanging up and a pod dying
        mid-stream the same way (Envoy cancels the ext_proc stream in both cases), so it
        blames no one; a dead pod then fails the next requests' connections instead.
        """
        if not status:
            return
        if status >= 500:
            self.datastore.record_outcome(hostport, ok=False, now=self.clock())
        elif error is None:
            self.datastore.record_outcome(hostport, ok=True, now=self.clock())


def _copy_usage(reader: UsageReader, routed: Routed) -> None:
    found = reader.usage
    if found is not None:
        routed.prompt_tokens = found.prompt_tokens
        routed.completion_tokens = found.completion_tokens
        routed.cached_tokens = found.cached_tokens


def _lifecycle(routed: Routed) -> _Lifecycle | None:
    lc = routed.state.get(_STATE_KEY)
    return lc if isinstance(lc, _Lifecycle) else None


def _header_safe(text: str) -> str:
    """Printable ASCII on one line, capped: whatever an injected ``explain`` returns."""
    return "".join(c if " " <= c <= "~" else "?" for c in text[:_MAX_DEBUG_CHARS]).strip()
