"""List-then-watch, layered the way kopf does it.

``watch_forever`` never returns: it runs ``list_then_watch`` again after every failure,
waiting a step of the backoff tuple (reset by each successful list). ``list_then_watch``
LISTs (in pages), emits the existing objects as ``EXISTING`` and then the ``LISTED`` marker, and
WATCHes from the list's resourceVersion, following bookmarks; it returns when the server
says 410 Gone (the resourceVersion fell out of its history), so the outer loop lists
afresh. A consumer that compares what it holds with what a list brought after ``LISTED``
can therefore never miss a change made while no watch was connected.

A watch stream ends when the server's ``timeoutSeconds`` runs out or when it has been
silent for ``inactivity_timeout``; the watch then resumes from the last resourceVersion
seen, without listing again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

from inference_gateway.sources.kubernetes.client import KubeClient, Obj, Resource
from inference_gateway.sources.kubernetes.errors import Gone, NotFound, TransportError, from_status
from inference_gateway.sources.kubernetes.settings import KubeSettings

log = logging.getLogger(__name__)

EventType = Literal["EXISTING", "LISTED", "ADDED", "MODIFIED", "DELETED"]

# Streams that end before bringing anything, in a row, before we call the server broken.
_EMPTY_STREAMS_LIMIT = 3
# Events handed to the consumer before the loop gets a turn: applying one Pod (validate,
# convert, place in the datastore, start its scrape loop) costs ~30-100 us on a busy 2-core
# box, so 100 of them are a few ms, far below a 50 ms stall.
EVENTS_PER_TICK = 100


@dataclass(frozen=True, slots=True)
class Event:
    type: EventType
    object: Obj = field(default_factory=dict)


LISTED = Event("LISTED")


@dataclass(frozen=True, slots=True)
class WatchSpec:
    resource: Resource
    namespace: str
    field_selector: str | None = None
    optional: bool = False
    """A missing CRD (404) is then a warning: nothing exists, look again later."""

    def __str__(self) -> str:
        group = f".{self.resource.group}" if self.resource.group else ""
        return f"{self.resource.plural}{group} in {self.namespace}"


def _resource_version(obj: Obj) -> str | None:
    meta: Any = obj.get("metadata")
    rv = meta.get("resourceVersion") if isinstance(meta, dict) else None
    return rv if isinstance(rv, str) and rv else None


async def list_then_watch(client: KubeClient, spec: WatchSpec) -> AsyncIterator[Event]:
    rv = ""
    handled = 0
    pages = client.list_pages(spec.resource, spec.namespace, field_selector=spec.field_selector)
    async for items, page_rv in pages:
        rv = page_rv
        for item in items:
            yield Event("EXISTING", item)
            handled += 1
            if handled % EVENTS_PER_TICK == 0:
                # The consumer handles each event synchronously; without this a page of
                # thousands would be applied in one tick of the loop.
                await asyncio.sleep(0)
    yield LISTED
    empty_streams = 0
    while True:
        received = False
        try:
            async with client.watch(
                spec.resource,
                spec.namespace,
                resource_version=rv,
                field_selector=spec.field_selector,
            ) as stream:
                async for raw in stream:
                    received = True
                    kind, obj = raw.get("type"), raw.get("object")
                    obj = obj if isinstance(obj, dict) else {}
                    if kind == "ERROR":
                        error = from_status(obj)
                        if isinstance(error, Gone):
                            log.info("watch %s: %s; listing again", spec, error.message)
                            return
                        raise error
                    if kind not in ("ADDED", "MODIFIED", "DELETED", "BOOKMARK"):
                        log.warning("watch %s: unknown event type %r; skipped", spec, kind)
                        continue
                    rv = _resource_version(obj) or rv
                    if kind != "BOOKMARK":
                        yield Event(kind, obj)
                        handled += 1
                        if handled % EVENTS_PER_TICK == 0:
                            await asyncio.sleep(0)
        except Gone as e:
            log.info("watch %s: %s; listing again", spec, e.message)
            return
        empty_streams = 0 if received else empty_streams + 1
        if empty_streams >= _EMPTY_STREAMS_LIMIT:
            raise TransportError(0, f"watch {spec}: {empty_streams} streams in a row were empty")


async def watch_forever(
    client: KubeClient, spec: WatchSpec, settings: KubeSettings
) -> AsyncIterator[Event]:
    """Events of ``spec``'s objects until cancelled, surviving any failure."""
    backoff = settings.watch_backoff
    failures = 0
    while True:
        try:
            async for event in list_then_watch(client, spec):
                if event is LISTED:
                    failures = 0
                yield event
            continue
        except NotFound as e:
            if not spec.optional:
                error: Exception = e
            else:
                log.warning(
                    "%s: not served (CRD not installed?); looking again in %ss",
                    spec,
                    settings.missing_crd_retry,
                )
                yield LISTED
                await asyncio.sleep(settings.missing_crd_retry)
                continue
        except Exception as e:
            error = e
        delay = backoff[min(failures, len(backoff) - 1)]
        failures += 1
        log.warning("watch %s failed (%s); listing again in %ss", spec, error, delay)
        await asyncio.sleep(delay)
