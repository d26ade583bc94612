"""Level-triggered mirroring of one kind of object into the datastore.

A ``Mirror`` remembers which keys it has put into the datastore. Watch events upsert or
delete one key; after a (re)list, every key it holds that the list did not bring is
deleted, so whatever changed while no watch was connected is caught up. Objects that belong
to another pool count as absent. An object that fails validation is reported (a warning and
``unreadable_total``) and its last good version stays: an edit we cannot read must not make a
served pool vanish, which the API server, having accepted the edit, would not do either.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from inference_gateway.api import ApiObject, ObjectError, parse_object
from inference_gateway.datastore.objects import object_key
from inference_gateway.sources.convert import Record
from inference_gateway.sources.kubernetes.watching import Event

log = logging.getLogger(__name__)


def raw_key(obj: dict[str, Any]) -> str | None:
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
        return None
    return object_key(str(meta.get("namespace") or "default"), meta["name"])


class Mirror:
    def __init__(
        self,
        name: str,
        *,
        convert: Callable[[ApiObject], Record | None],
        upsert: Callable[[Any], None],
        delete: Callable[[str], None],
    ) -> None:
        self.name = name
        self._convert = convert
        self._upsert = upsert
        self._delete = delete
        self._known: set[str] = set()
        self._listing: set[str] | None = None
        self.listed = False
        """True once a first list (or "CRD not installed") has been applied."""
        self.unreadable_total = 0
        """Objects (versions) that failed validation; their last good version was kept."""

    def handle(self, event: Event) -> None:
        if event.type == "LISTED":
            current = self._listing or set()
            for stale in self._known - current:
                self._delete(stale)
            self._known = current
            self._listing = None
            self.listed = True
            return
        key = raw_key(event.object)
        if key is None:
            log.warning("%s: event without metadata.name; skipped", self.name)
            return
        if event.type == "DELETED":
            self._forget(key)
            return
        if event.type == "EXISTING" and self._listing is None:
            self._listing = set()
        try:
            obj = parse_object(event.object)
        except ObjectError as e:
            self.unreadable_total += 1
            kept = "keeping its last good version" if key in self._known else "not served"
            log.warning("%s: cannot read %s (%s): %s", self.name, key, kept, e)
            if key in self._known and self._listing is not None and event.type == "EXISTING":
                self._listing.add(key)
            return
        record = self._convert(obj)
        if record is None:
            self._forget(key)
            return
        self._upsert(record)
        self._known.add(key)
        if self._listing is not None and event.type == "EXISTING":
            self._listing.add(key)

    def _forget(self, key: str) -> None:
        if key in self._known:
            self._known.discard(key)
            self._delete(key)
