"""The level-triggered mirror: a relist deletes whatever the list no longer has."""

from __future__ import annotations

from typing import Any

from inference_gateway.api import ApiObject, Pod
from inference_gateway.datastore import Datastore
from inference_gateway.sources import convert
from inference_gateway.sources.convert import Record
from inference_gateway.sources.kubernetes.mirror import Mirror
from inference_gateway.sources.kubernetes.watching import LISTED, Event


def pod(name: str, app: str = "vllm") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": app}},
        "status": {"podIP": "127.0.0.11", "conditions": [{"type": "Ready", "status": "True"}]},
    }


def only_vllm(obj: ApiObject) -> Record | None:
    if isinstance(obj, Pod) and obj.metadata.labels.get("app") == "vllm":
        return convert.pod(obj)
    return None


def make() -> tuple[Mirror, Datastore]:
    store = Datastore()
    return Mirror(
        "pods", convert=only_vllm, upsert=store.upsert_pod, delete=store.delete_pod
    ), store


def names(store: Datastore) -> list[str]:
    return sorted(p.name for p in store.pods())


def test_relist_deletes_what_is_gone() -> None:
    mirror, store = make()
    for name in ("a", "b", "c"):
        mirror.handle(Event("EXISTING", pod(name)))
    mirror.handle(LISTED)
    assert mirror.listed and names(store) == ["a", "b", "c"]
    mirror.handle(Event("ADDED", pod("d")))
    mirror.handle(Event("EXISTING", pod("a")))
    mirror.handle(Event("EXISTING", pod("d")))
    mirror.handle(LISTED)
    assert names(store) == ["a", "d"]


def test_empty_list_deletes_everything() -> None:
    mirror, store = make()
    mirror.handle(Event("ADDED", pod("a")))
    mirror.handle(LISTED)
    assert names(store) == []


def test_filtered_objects_are_absent_and_unreadable_ones_keep_the_last_good() -> None:
    mirror, store = make()
    mirror.handle(Event("ADDED", pod("a")))
    mirror.handle(Event("MODIFIED", pod("a", app="other")))
    assert names(store) == []
    mirror.handle(Event("ADDED", pod("b")))
    broken = pod("b")
    broken["status"]["conditions"] = "not-a-list"
    mirror.handle(Event("MODIFIED", broken))
    assert names(store) == ["b"]  # reported and counted, not dropped
    assert mirror.unreadable_total == 1
    mirror.handle(Event("EXISTING", broken))  # a relist of the same unreadable version
    mirror.handle(LISTED)
    assert names(store) == ["b"]
    mirror.handle(Event("ADDED", broken | {"metadata": {"name": "c", "namespace": "default"}}))
    assert names(store) == ["b"]  # never readable: never served


def test_delete_and_nameless_events() -> None:
    mirror, store = make()
    mirror.handle(Event("ADDED", pod("a")))
    mirror.handle(Event("DELETED", pod("a")))
    mirror.handle(Event("DELETED", pod("never-seen")))
    mirror.handle(Event("ADDED", {"metadata": {}}))
    assert names(store) == []
