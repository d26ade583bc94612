"""The director: the one pipeline from a buffered request to a routed request.

``route`` runs every stage of a request, in upstream's order: parse the body once, resolve
the model (InferenceModel, weighted targets, InferenceModelRewrite) and criticality
(InferenceModel, overridden by the ``x-gateway-inference-objective`` header), narrow the
candidates to the proxy's subset hint, then the request-control plugins' prepare-data and
admission points, admission proper (flow control when its feature gate is on, else the
saturation detector's capacity gate), scheduling, and the pre-request point, which may
answer the request itself. The result is a ``Routed`` that owns the rest of the request's
life (its response stages and ``finish``). Requests without a body are ``bodiless``.

When no plugin has a request-side point and flow control lets the request go at once,
``route`` runs synchronously and returns the ``Routed`` itself, so the default path costs
no task and no await. Otherwise it returns a ``PendingRoute`` the caller awaits (or closes,
which gives up the request's place in the flow-control queue). Either way it raises only
``GatewayError``: anything unexpected is logged with its traceback and becomes a 500.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from inference_gateway.datastore import Datastore, Endpoint, PoolInfo
from inference_gateway.requestcontrol import errors
from inference_gateway.requestcontrol.bodiless import route_bodiless
from inference_gateway.requestcontrol.body import ParsedBody, parse_body, with_model
from inference_gateway.requestcontrol.capacity import Capacity, Stalled
from inference_gateway.requestcontrol.debug_header import DEBUG_HEADER, debug_requested, header_safe
from inference_gateway.requestcontrol.extensions.runner import ExtensionChain, RequestExtensions
from inference_gateway.requestcontrol.flowcontrol.hook import FlowHook, Held
from inference_gateway.requestcontrol.flowcontrol.types import FAIRNESS_HEADERS
from inference_gateway.requestcontrol.ports import CapacityGate, NullMetrics, RequestMetrics
from inference_gateway.requestcontrol.request_ids import RequestIds
from inference_gateway.requestcontrol.resolve import (
    candidates_for,
    criticality_for,
    pool_for,
    routed_pool,
    target_for,
)
from inference_gateway.requestcontrol.response import ModelRestorer
from inference_gateway.requestcontrol.routed import PendingRoute, ResponsePolicy, Routed
from inference_gateway.requestcontrol.settings import DirectorSettings
from inference_gateway.requestcontrol.types import GatewayError, IncomingRequest
from inference_gateway.scheduling.explain import format_explanation
from inference_gateway.scheduling.observe import ResponseObserver, first_predictor, objectives
from inference_gateway.scheduling.types import (
    Decision,
    LLMRequest,
    NoCapacityError,
    NoEndpointsError,
    Scheduler,
)

log = logging.getLogger(__name__)

POOL_HEADER = "x-gateway-inference-pool"
"""The pool a route picked (body-based routing), honoured with ``DirectorSettings.pool_header``."""
REQUEST_ID_HEADER = "x-request-id"

_GATEWAY_ONLY = FAIRNESS_HEADERS
"""Request headers that steer the gateway and are not the model server's business."""

RouteResult = Routed | PendingRoute
"""What ``Director.route`` returns: the routed request, or a route to await."""


@dataclass(slots=True)
class _Names:
    """What is known of a request so far, for the error metric's labels."""

    model: str = ""
    target: str = ""


@dataclass(slots=True)
class _Resolved:
    """A request between resolution and scheduling."""

    request: IncomingRequest
    parsed: ParsedBody
    llm: LLMRequest
    pool: PoolInfo
    candidates: Sequence[Endpoint]
    started: float


class Director:
    def __init__(
        self,
        datastore: Datastore,
        scheduler: Scheduler,
        *,
        metrics: RequestMetrics | None = None,
        admission: CapacityGate | None = None,
        extensions: ExtensionChain | None = None,
        flow: FlowHook | None = None,
        observers: Sequence[ResponseObserver] = (),
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        settings: DirectorSettings | None = None,
        explain: Callable[[Decision], str] = format_explanation,
        stalled: Stalled | None = None,
    ) -> None:
        self.datastore = datastore
        self.scheduler = scheduler
        self.metrics: RequestMetrics = metrics if metrics is not None else NullMetrics()
        self.admission = admission
        self.extensions = extensions if extensions else None
        """Request-control plugins (None when none is configured)."""
        self.flow = flow
        """Flow control (None unless the ``flowControl`` feature gate is on)."""
        self.rng = rng if rng is not None else random.Random()
        self.clock = clock
        self.settings = s = settings if settings is not None else DirectorSettings()
        self.explain = explain
        self.stalled = stalled
        """Seconds of (since, now) the EPP's own loop was stalled (``LoopLagMonitor``)."""
        self.policy = ResponsePolicy(
            ledger=datastore,
            metrics=self.metrics,
            clock=clock,
            account_usage=s.account_usage,
            max_usage_buffer_bytes=s.max_usage_buffer_bytes,
            on_release=flow.flow.wake if flow is not None else None,
            observers=tuple(observers),
            predictor=first_predictor(observers),
        )
        self._async = self.extensions is not None and self.extensions.has_request_stages
        self._ids = RequestIds()
        self._capacity = Capacity(admission, clock) if admission is not None else None

    # --- the pipeline -------------------------------------------------------------------
    def route(self, request: IncomingRequest) -> RouteResult:
        """Route ``request``: a ``Routed``, or a coroutine for one when plugins must run."""
        names = _Names()
        try:
            if not request.body:
                return self._route_bodiless(request)
            resolved = self._resolve(request, names)
            chain = self.extensions
            ext = chain.begin(request.headers, resolved.parsed) if chain is not None else None
            if ext is not None and self._async:
                return PendingRoute(self._route_async(resolved, ext, names))
            routed = self._admit(resolved, ext)
            if isinstance(routed, Held):
                flow, ticket = routed.flow, routed.ticket
                return PendingRoute(self._route_held(routed, names), lambda: flow.cancel(ticket))
            return routed
        except Exception as e:
            raise self._failed(e, names) from errors.cause_of(e)

    def route_now(self, request: IncomingRequest) -> Routed:
        """``route`` for a director with no request-side plugin (tests, benchmarks)."""
        routed = self.route(request)
        if isinstance(routed, Routed):
            return routed
        routed.close()
        raise TypeError("request-control plugins are configured: await route() instead")

    async def _route_async(
        self, resolved: _Resolved, ext: RequestExtensions, names: _Names
    ) -> Routed:
        try:
            ext.ctx.target_model = resolved.llm.target_model
            await ext.before_route()
            admitted = self._admit(resolved, ext)
            routed = await admitted.wait() if isinstance(admitted, Held) else admitted
        except Exception as e:
            raise self._failed(e, names) from errors.cause_of(e)
        try:
            answer = await ext.after_route(routed.target_model, routed.endpoints[0])
        except BaseException as e:
            routed.finish(error=errors.code_of(e))
            if isinstance(e, Exception):
                raise self._failed(e, names, counted=True) from errors.cause_of(e)
            raise
        if answer is not None:
            routed.answer = answer
            routed.finish()
        return routed

    async def _route_held(self, held: Held, names: _Names) -> Routed:
        """Wait in flow control; the dispatcher schedules the request when it is its turn."""
        try:
            return await held.wait()
        except Exception as e:
            raise self._failed(e, names) from errors.cause_of(e)

    def _admit(self, resolved: _Resolved, ext: RequestExtensions | None) -> Routed | Held:
        """Flow control, when on: schedule now, or ``Held`` until the dispatcher's turn."""
        flow = self.flow
        if flow is None:
            return self._schedule(resolved, ext)
        try:
            resolved.candidates = flow.check(
                resolved.request,
                resolved.llm,
                resolved.pool,
                list(resolved.candidates),
                resume=lambda _ticket: self._resume(resolved, ext),
                abandon=_abandon,
            )
        except Held as held:
            return held
        return self._schedule(resolved, ext)

    def _resume(self, resolved: _Resolved, ext: RequestExtensions | None) -> Routed:
        """Schedule a request flow control held, on the pool as it is now."""
        assert self.flow is not None
        request, llm = resolved.request, resolved.llm
        resolved.candidates = self.flow.narrow(
            list(self._candidates(llm.model, resolved.pool, request))
        )
        return self._schedule(resolved, ext)

    def _failed(self, e: Exception, names: _Names, *, counted: bool = False) -> GatewayError:
        """The ``GatewayError`` to raise for ``e``, counted once in the error metric."""
        if isinstance(e, GatewayError):
            err = e
        else:
            log.error("routing failed unexpectedly (model=%r)", names.model, exc_info=e)
            err = errors.internal()
        if not counted:
            self.metrics.request_failed(names.model, names.target, err.reason)
        return err

    def _resolve(self, request: IncomingRequest, names: _Names) -> _Resolved:
        started = self.clock()
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
        return _Resolved(request, parsed, llm, pool, candidates, started)

    def _schedule(self, resolved: _Resolved, ext: RequestExtensions | None) -> Routed:
        """The capacity gate, the scheduler, and the routed request holding its slot."""
        llm = resolved.llm
        now = self.clock()
        try:
            if self._capacity is not None:
                self._capacity.admit(llm, resolved.candidates, now, self.stalled)
            decision = self.scheduler.schedule(llm, resolved.candidates, now)
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
        return self._routed(resolved, decision, ext)

    def _routed(
        self, resolved: _Resolved, decision: Decision, ext: RequestExtensions | None
    ) -> Routed:
        llm, request = resolved.llm, resolved.request
        model, target = llm.model, llm.target_model
        rewrite = target != model
        extra: dict[str, str] = {}
        debug = debug_requested(request.headers, enabled=self.settings.debug_header)
        if debug or log.isEnabledFor(logging.DEBUG):
            text = self.explain(decision)
            log.debug("request %s model=%s target=%s: %s", llm.request_id, model, target, text)
            if debug:
                extra[DEBUG_HEADER] = header_safe(text)
        hostport = decision.endpoints[0].hostport
        routed = Routed(
            self.policy,
            request_id=llm.request_id,
            model=model,
            target_model=target,
            endpoints=tuple(e.hostport for e in decision.endpoints),
            body=with_model(resolved.parsed.data, target) if rewrite else None,
            pool=resolved.pool.key,
            criticality=llm.criticality.value,
            streaming=resolved.parsed.streaming,
            extra_headers=extra,
            remove_headers=tuple(h for h in _GATEWAY_ONLY if h in request.headers),
            started_at=resolved.started,
            hostport=hostport,
            restorer=ModelRestorer(target, model) if rewrite else None,
            extensions=ext,
            endpoint_name=decision.endpoints[0].name,
            routed_at=self.clock(),
            objectives=objectives(request.headers),
        )
        self.metrics.request_routed(model, target, len(request.body))
        self.datastore.acquire(hostport)
        return routed

    # --- requests without a body ----------------------------------------------------------
    def _route_bodiless(self, request: IncomingRequest) -> Routed:
        """No body, no model (probes, other GETs, ``GET /v1/models``): ``bodiless``."""
        chosen = self._routed_pool(request)
        return route_bodiless(
            request,
            self.datastore,
            self.policy,
            pool=chosen,
            request_id=self._request_id(request.headers),
            subset_filter=self.settings.subset_filter,
            rng=self.rng,
        )

    # --- helpers --------------------------------------------------------------------------
    def _request_id(self, headers: Mapping[str, str]) -> str:
        return headers.get(REQUEST_ID_HEADER) or self._ids.next()

    def _routed_pool(self, request: IncomingRequest) -> PoolInfo | None:
        """The pool named by the route (``POOL_HEADER``), when honoured and present."""
        key = request.headers.get(POOL_HEADER) if self.settings.pool_header else None
        return routed_pool(self.datastore, key) if key else None

    def _candidates(
        self, model: str, pool: PoolInfo, request: IncomingRequest
    ) -> Sequence[Endpoint]:
        hint = request.subset_hint if self.settings.subset_filter else None
        return candidates_for(self.datastore, model, pool, hint)


def _abandon(routed: Routed) -> None:
    """A request dispatched after its client left: give its slot back at once."""
    routed.finish(error="cancelled")
