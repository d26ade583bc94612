"""Published pool views: read without copying, cells updated in place, events stay local."""

from __future__ import annotations

from inference_gateway.datastore import Datastore, DesiredState, Metrics, PodInfo, PoolInfo
from tests.unit.datastore.test_store import Recorder

A = PoolInfo(name="a", namespace="ns", selector={"app": "vllm"}, target_ports=(8000,))
B = PoolInfo(name="b", namespace="ns", selector={"tier": "gold"}, target_ports=(8000,))
HP = "127.0.0.11:8000"


def pod(name: str, ip: str, **labels: str) -> PodInfo:
    return PodInfo(name=name, namespace="ns", address=ip, labels=labels or {"app": "vllm"})


def two_pools() -> Datastore:
    """``a`` selects every vllm pod; ``b`` only the gold ones, so ``x`` is in both."""
    ds = Datastore()
    ds.upsert_pool(A)
    ds.upsert_pool(B)
    ds.upsert_pod(pod("x", "127.0.0.11", app="vllm", tier="gold"))
    ds.upsert_pod(pod("y", "127.0.0.12"))
    return ds


def test_reading_a_view_twice_returns_the_same_tuple() -> None:
    ds = two_pools()
    assert ds.endpoints(A.key) is ds.endpoints(A.key)
    assert [e.name for e in ds.endpoints(A.key)] == ["x", "y"]
    assert [e.name for e in ds.endpoints(B.key)] == ["x"]


def test_scrape_in_flight_and_outcome_update_the_published_cell_in_place() -> None:
    ds = two_pools()
    view = ds.endpoints(A.key)
    ds.set_metrics(HP, Metrics(waiting=4, updated_at=2.0))
    ds.acquire(HP)
    ds.record_outcome(HP, ok=False, now=3.0)
    assert ds.endpoints(A.key) is view
    cell = view[0]
    assert (cell.metrics.waiting, cell.in_flight, cell.consecutive_failures) == (4, 1, 1)
    assert cell.last_failure_at == 3.0


def test_the_same_ip_port_in_two_pools_has_one_exact_in_flight_count() -> None:
    ds = two_pools()
    in_a, in_b = ds.endpoints(A.key)[0], ds.endpoints(B.key)[0]
    assert in_a is not in_b and (in_a.pool, in_b.pool) == (A.key, B.key)
    for _ in range(3):
        ds.acquire(HP)
    ds.release(HP)
    ds.set_metrics(HP, Metrics(running=7))
    assert (in_a.in_flight, in_b.in_flight, ds.in_flight(HP)) == (2, 2, 2)
    assert in_a.metrics is in_b.metrics
    ds.release(HP)
    ds.release(HP)
    ds.release(HP)
    assert (in_a.in_flight, in_b.in_flight, ds.in_flight(HP)) == (0, 0, 0)


def test_in_flight_survives_the_endpoint_leaving_and_coming_back() -> None:
    ds = two_pools()
    ds.acquire(HP)
    ds.delete_pod("ns/x")
    ds.upsert_pod(pod("x", "127.0.0.11", app="vllm", tier="gold"))
    assert ds.endpoints(A.key)[0].in_flight == 1
    ds.release(HP)
    assert ds.endpoints(B.key)[0].in_flight == 0


def test_a_pod_event_swaps_only_the_views_it_changes() -> None:
    ds = two_pools()
    view_a, view_b = ds.endpoints(A.key), ds.endpoints(B.key)
    ds.upsert_pod(pod("z", "127.0.0.13"))
    assert ds.endpoints(B.key) is view_b
    assert ds.endpoints(A.key) is not view_a
    assert [e.name for e in ds.endpoints(A.key)] == ["x", "y", "z"]
    view_a = ds.endpoints(A.key)
    ds.delete_pod("ns/y")
    assert ds.endpoints(B.key) is view_b
    assert [e.name for e in ds.endpoints(A.key)] == ["x", "z"]


def test_cells_of_untouched_pods_are_kept_across_a_pod_event() -> None:
    ds = two_pools()
    x_before = ds.endpoints(A.key)[0]
    ds.upsert_pod(pod("w", "127.0.0.10"))
    assert [e.name for e in ds.endpoints(A.key)] == ["w", "x", "y"]
    assert ds.endpoints(A.key)[1] is x_before


def test_a_pod_changing_labels_moves_between_pools_without_losing_metrics() -> None:
    ds = two_pools()
    ds.set_metrics(HP, Metrics(waiting=2))
    rec = Recorder()
    ds.add_listener(rec)
    rec.added.clear()
    ds.upsert_pod(pod("x", "127.0.0.11", app="vllm"))
    assert [e.name for e in ds.endpoints(B.key)] == []
    assert ds.endpoints(A.key)[0].metrics.waiting == 2
    assert (rec.added, rec.removed) == ([], [])


def test_an_address_handed_from_one_pod_to_another_in_a_sync_keeps_its_metrics() -> None:
    rec = Recorder()
    ds = Datastore(listeners=[rec])
    ds.sync(DesiredState(pools=(A,), pods=(pod("old", "127.0.0.11"),)))
    ds.set_metrics(HP, Metrics(waiting=9))
    ds.sync(DesiredState(pools=(A,), pods=(pod("new", "127.0.0.11"),)))
    assert [(e.name, e.metrics.waiting) for e in ds.endpoints(A.key)] == [("new", 9)]
    assert (rec.added, rec.removed) == ([HP], [])


def test_a_sync_that_changes_nothing_keeps_every_view() -> None:
    state = DesiredState(pools=(A, B), pods=(pod("x", "127.0.0.11", tier="gold", app="vllm"),))
    ds = Datastore()
    ds.sync(state)
    views = ds.endpoints(A.key), ds.endpoints(B.key)
    ds.sync(state)
    assert ds.endpoints(A.key) is views[0] and ds.endpoints(B.key) is views[1]


def test_deleting_a_pool_stops_its_endpoints_only_where_no_other_pool_holds_them() -> None:
    rec = Recorder()
    ds = two_pools()
    ds.add_listener(rec)
    ds.set_metrics(HP, Metrics(waiting=1))
    ds.delete_pool(B.key)
    assert ds.endpoints(B.key) == ()
    assert rec.removed == [] and ds.metrics(HP) == Metrics(waiting=1)
    ds.delete_pool(A.key)
    assert sorted(rec.removed) == [HP, "127.0.0.12:8000"]
    assert ds.metrics(HP) is None and ds.all_endpoints() == ()


def test_sync_steps_apply_a_step_of_pods_at_a_time_and_tell_listeners_as_they_go() -> None:
    rec = Recorder()
    ds = Datastore(listeners=[rec])
    pods = tuple(pod(f"p{i}", f"127.0.0.{11 + i}") for i in range(5))
    steps = ds.sync_steps(DesiredState(pools=(A,), pods=pods), step=2)
    next(steps)
    assert [e.name for e in ds.endpoints(A.key)] == ["p0", "p1"]
    assert rec.added == ["127.0.0.11:8000", "127.0.0.12:8000"]
    assert sum(1 for _ in steps) == 1  # after p3; p4 is applied as the generator ends
    assert [e.name for e in ds.endpoints(A.key)] == ["p0", "p1", "p2", "p3", "p4"]
    assert len(rec.added) == 5
