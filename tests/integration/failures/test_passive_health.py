"""A pod answering 5xx is avoided (passive health), and used again once it recovers."""

from __future__ import annotations

from pathlib import Path

from tests.integration.failures.conftest import (
    Load,
    gateway,
    health_config,
    pods,
    poll,
    total_in_flight,
)

SCALE = 0.05
CLIENTS = 4


async def run_with_a_failing_pod(tmp: Path, plugins: str, requests: int) -> tuple[int, int, int]:
    """(500s seen by clients, requests pod-0 answered, its consecutive failures at the end)."""
    async with gateway(tmp, pods(3), plugins=plugins, time_scale=SCALE) as c:
        c.pod("pod-0").fail_status = 500
        async with Load(c, clients=CLIENTS) as load:
            await load.until(requests)
        await poll(lambda: total_in_flight(c) == 0, "in-flight slots released")
        statuses = load.statuses()
        assert set(statuses) <= {200, 500}
        hostport = c.endpoints()["pod-0"].hostport
        return statuses[500], load.served()["pod-0"], c.gateway.datastore.failures(hostport)


async def test_a_pod_answering_500_gets_almost_no_traffic(tmp_path: Path) -> None:
    (tmp_path / "health").mkdir()
    (tmp_path / "rr").mkdir()
    errors, served, failures = await run_with_a_failing_pod(tmp_path / "health", "default", 90)
    # ejected after 3 failures in a row; requests already on their way may add one each
    assert 3 <= errors <= 3 + CLIENTS
    assert served == errors and failures == errors
    rr_errors, _, _ = await run_with_a_failing_pod(tmp_path / "rr", "round-robin", 90)
    assert rr_errors >= 25  # a plain Service keeps sending a third of the traffic there
    assert errors * 3 < rr_errors


async def test_an_ejected_pod_is_tried_again_and_used_once_it_recovers(tmp_path: Path) -> None:
    config = health_config(base=0.2, cap=0.4)
    async with gateway(tmp_path, pods(3), plugins=config, time_scale=SCALE) as c:
        bad = c.pod("pod-0")
        hostport = c.endpoints()["pod-0"].hostport
        ds = c.gateway.datastore
        bad.fail_status = 500
        async with Load(c, clients=CLIENTS) as load:
            await poll(lambda: ds.failures(hostport) >= 4, "a failed retry after the ejection")
            failing = load.statuses()[500]
            bad.fail_status = None
            mark = len(load.outcomes)
            await poll(lambda: served_ok(load, "pod-0", mark), "pod-0 to serve a 200 again")
            assert ds.failures(hostport) == 0
            await load.until(90)
        assert failing >= 3
        recovered = load.outcomes[mark:]
        assert {o.status for o in recovered} <= {200, 500}
        assert sum(o.status == 500 for o in recovered) <= CLIENTS
        tail = load.served(recovered[-60].started)
        assert tail["pod-0"] >= 10  # back in rotation, not merely probed


def served_ok(load: Load, pod: str, start: int) -> bool:
    return any(o.served_by == pod and o.status == 200 for o in load.outcomes[start:])
