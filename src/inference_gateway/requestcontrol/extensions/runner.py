"""Runs the configured request-control plugins around the director, and enforces their contract.

The handler drives one ``RequestExtensions`` per request::

    ext = chain.for_request(incoming)          # None: nothing configured, or no JSON body
    answer = await ext.before_route()          # prepare-data, then admission (may raise)
    routed = director.route(incoming)
    answer = await ext.after_route(routed)     # pre-request; an answer replaces forwarding
    added = ext.response_header(status, hdrs)  # headers to add for the client
    ext.response_body(chunk, end_of_stream)    # the bytes the client gets

The framework, not the plugins, applies each plugin's ``timeout`` (``asyncio.timeout``)
and ``failureMode``: with ``open`` a timeout or unexpected exception is logged and the
plugin is skipped; with ``closed`` the request is refused with 503
``extension_unavailable`` (the check it depends on is unavailable, and a retry may work).
A ``GatewayError`` raised on purpose (a safety refusal) always propagates. Response-side
hooks are synchronous and always fail open: the response is already under way.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import Any, cast

from inference_gateway.requestcontrol.body import api_kind
from inference_gateway.requestcontrol.extensions.base import (
    Admission,
    ImmediateAnswer,
    PrepareData,
    PreRequest,
    RequestContext,
    ResponseBody,
    ResponseHeader,
    points_of,
    prompt_text,
)
from inference_gateway.requestcontrol.types import GatewayError, IncomingRequest, Routed
from inference_gateway.scheduling.framework import PluginHandle

log = logging.getLogger(__name__)

Observer = Callable[[str, str, str, float], None]
"""Receives ``(extension point, plugin type, plugin name, seconds)`` after each async call."""


def extension_unavailable(name: str, why: str) -> GatewayError:
    return GatewayError(
        503,
        f"request check {name!r} is unavailable ({why})",
        code="extension_unavailable",
        reason="ServiceUnavailable",
    )


class ExtensionChain:
    """Every configured request-control plugin, grouped by extension point, in config order."""

    def __init__(
        self,
        plugins: Sequence[object],
        *,
        observer: Observer | None = None,
        perf_counter: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.plugins = tuple(plugins)
        self.prepare = [p for p in self.plugins if isinstance(p, PrepareData)]
        self.admission = [p for p in self.plugins if isinstance(p, Admission)]
        self.pre_request = [p for p in self.plugins if isinstance(p, PreRequest)]
        self.response_headers = [p for p in self.plugins if isinstance(p, ResponseHeader)]
        self.response_bodies = [p for p in self.plugins if isinstance(p, ResponseBody)]
        self.observer = observer
        self.perf_counter = perf_counter

    def __bool__(self) -> bool:
        return bool(self.plugins)

    async def start(self) -> None:
        """Start every plugin; a failure closes the ones already started and propagates."""
        started: list[object] = []
        try:
            for plugin in self.plugins:
                start = getattr(plugin, "start", None)
                if callable(start):
                    await start()
                started.append(plugin)
        except BaseException:
            await _close_all(reversed(started))
            raise

    async def close(self) -> None:
        await _close_all(reversed(self.plugins))

    def for_request(self, request: IncomingRequest) -> RequestExtensions | None:
        """The per-request runner, or None when no plugin applies to this request.

        A body that is not a JSON object with a ``model`` gives None: the director refuses
        it with the proper 400 right after.
        """
        if not self.plugins or not request.body:
            return None
        try:
            data = json.loads(request.body)
        except (ValueError, RecursionError):
            return None
        model = data.get("model") if isinstance(data, dict) else None
        if not isinstance(model, str) or not model:
            return None
        api = api_kind(request.path)
        ctx = RequestContext(
            headers=request.headers,
            body=data,
            api=api,
            model=model,
            streaming=data.get("stream") is True,
            prompt=prompt_text(api, data),
        )
        return RequestExtensions(self, ctx)

    async def call(
        self, point: str, plugin: object, fn: Callable[[], object]
    ) -> tuple[bool, object]:
        """Run one plugin call under its timeout and failure mode: ``(ran, result)``."""
        name = str(getattr(plugin, "name", type(plugin).__name__))
        timeout = cast(float | None, getattr(plugin, "timeout", None))
        start = self.perf_counter()
        try:
            async with asyncio.timeout(timeout or None):
                result = fn()
                if inspect.isawaitable(result):
                    result = await result
            return True, result
        except GatewayError:
            raise
        except Exception as e:
            why = "timed out" if isinstance(e, TimeoutError) else f"failed: {e!r}"
            if getattr(plugin, "failure_mode", "open") == "closed":
                log.warning("%s %s %s; failing closed", point, name, why)
                raise extension_unavailable(name, why) from e
            slow = isinstance(e, TimeoutError)
            log.warning("%s %s %s; failing open", point, name, why, exc_info=not slow)
            return False, None
        finally:
            if self.observer is not None:
                kind = str(getattr(plugin, "type", type(plugin).__name__))
                self.observer(point, kind, name, self.perf_counter() - start)


class RequestExtensions:
    """The chain applied to one request; the handler calls it in protocol order."""

    def __init__(self, chain: ExtensionChain, ctx: RequestContext) -> None:
        self.chain = chain
        self.ctx = ctx

    @property
    def needs_response_body(self) -> bool:
        return self.ctx.capture_response

    async def before_route(self) -> None:
        """Prepare-data plugins, then admission plugins; may raise ``GatewayError``."""
        ctx = self.ctx
        for prep in self.chain.prepare:
            await self.chain.call("prepare_data", prep, partial(prep.prepare_data, ctx))
        for adm in self.chain.admission:
            await self.chain.call("admit", adm, partial(adm.admit, ctx))

    async def after_route(self, routed: Routed) -> ImmediateAnswer | None:
        """Pre-request plugins; the first answer wins and the request is not forwarded.

        On an answer the handler must still ``director.finish(routed)`` (the director has
        counted the request in flight) and send the answer as an ImmediateResponse.
        """
        ctx = self.ctx
        ctx.target_model = routed.target_model
        ctx.endpoint = routed.endpoints[0] if routed.endpoints else None
        endpoint = ctx.endpoint or ""
        for pre in self.chain.pre_request:
            ran, answer = await self.chain.call(
                "pre_request", pre, partial(pre.pre_request, ctx, endpoint)
            )
            if ran and isinstance(answer, ImmediateAnswer):
                return answer
        return None

    def response_header(self, status: int, headers: Mapping[str, str]) -> dict[str, str]:
        self.ctx.status = status
        added: dict[str, str] = {}
        for plugin in self.chain.response_headers:
            try:
                more = plugin.response_header(self.ctx, status, headers)
            except Exception:
                log.exception("response_header %s failed; ignored", plugin.name)
                continue
            if more:
                added.update(more)
        return added

    def response_body(self, chunk: bytes, end_of_stream: bool) -> None:
        for plugin in self.chain.response_bodies:
            try:
                plugin.response_body(self.ctx, chunk, end_of_stream)
            except Exception:
                log.exception("response_body %s failed; ignored", plugin.name)


async def _close_all(plugins: Iterable[object]) -> None:
    for plugin in plugins:
        close = getattr(plugin, "close", None)
        if not callable(close):
            continue
        try:
            await close()
        except Exception:
            log.exception("closing request-control plugin %r failed", plugin)


def build_chain(
    plugins: Iterable[Any],
    *,
    handle: PluginHandle | None = None,
    observer: Observer | None = None,
) -> ExtensionChain:
    """One instance of every configured plugin that implements a request-control point.

    ``plugins`` are ``scheduling.config.PluginConfig`` entries (``SchedulerConfig.plugins
    .values()``): anything with ``name``, ``cls`` and ``params``. Scheduling plugins are
    skipped; scheduling profiles never refer to these.
    """
    handle = handle or PluginHandle(rng=random.Random())
    built = [p.cls(p.name, p.params, handle) for p in plugins if points_of(p.cls)]
    return ExtensionChain(built, observer=observer)
