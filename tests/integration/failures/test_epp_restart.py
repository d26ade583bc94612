"""The EPP stopping and starting again under steady load through a real Envoy.

FailOpen: a planned restart (health NOT_SERVING first, stop once Envoy has noticed) loses
no request; Envoy sends the traffic to the fallback cluster meanwhile and back through the
EPP once it is healthy again. An abrupt stop fails the requests Envoy sends before its
health check notices: in FULL_DUPLEX_STREAMED Envoy can fail open only before the first
body chunk went to the processor (envoyproxy/envoy#41276), and a refused connection is
found out after that. FailClose: only 5xx while the EPP is away, 200 again after.

Envoy's workers see a health change of the EPP cluster up to ``update_merge_window``
(default 1 s) after its admin does when another change came shortly before, so "back"
is judged by requests routed through the EPP again, not by the admin's health flag.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.integration.failures.conftest import (
    Load,
    apoll,
    envoy_sees_epp,
    gateway,
    pods,
    poll,
    restart_epp,
    total_in_flight,
)
from tests.integration.scheduling.conftest import Cluster

SCALE = 0.1
FIVE_XX: set[int | str] = {500, 502, 503, 504}


async def test_fail_open_planned_restart_under_load_loses_no_request(tmp_path: Path) -> None:
    async with gateway(tmp_path, pods(2), failure_mode="FailOpen", time_scale=SCALE) as c:
        epp = c.gateway.epp
        assert epp.server is not None
        async with Load(c, clients=8) as load:
            await load.until(40)
            await epp.server.set_serving(False)
            await apoll(lambda: envoy_marked_epp_down(c), "Envoy to mark the EPP down")
            t_down = time.monotonic()
            await epp.stop_grpc(grace=2.0)
            await load.until(60)
            t_start = time.monotonic()
            await restart_epp(c)
            await poll(lambda: routed_again(load, t_start), "requests through the EPP again")
            await load.until(40)
        assert load.statuses() == {200: len(load.outcomes)}
        bypassed = [o for o in load.outcomes if t_down < o.started and o.at < t_start]
        assert len(bypassed) >= 30 and not any(o.via_epp for o in bypassed)
        assert {o.served_by for o in bypassed} == {"pod-0", "pod-1"}
        assert all(o.via_epp for o in load.outcomes[-20:])
        assert total_in_flight(c) == 0


async def test_fail_open_abrupt_stop_fails_only_until_envoy_notices(tmp_path: Path) -> None:
    async with gateway(tmp_path, pods(2), failure_mode="FailOpen", time_scale=SCALE) as c:
        async with Load(c, clients=8) as load:
            await load.until(40)
            t_stop = time.monotonic()
            await c.gateway.epp.stop_grpc()
            await apoll(lambda: envoy_marked_epp_down(c), "Envoy to mark the EPP down")
            t_down = time.monotonic()
            await load.until(60)
        failed = [o for o in load.outcomes if o.status != 200]
        assert {o.status for o in failed} <= {503}
        assert all(o.started < t_down for o in failed)
        after = [o for o in load.outcomes if o.started > t_down]
        assert len(after) >= 50 and all(o.status == 200 and not o.via_epp for o in after)
        assert all(o.status == 200 for o in load.outcomes if o.at < t_stop)


async def test_fail_close_gives_only_5xx_while_the_epp_is_down_then_200s(tmp_path: Path) -> None:
    async with gateway(tmp_path, pods(2), failure_mode="FailClose", time_scale=SCALE) as c:
        async with Load(c, clients=8) as load:
            await load.until(40)
            t_stop = time.monotonic()
            await c.gateway.epp.stop_grpc()
            t_stopped = time.monotonic()
            await load.until(40)
            t_start = time.monotonic()
            await restart_epp(c)
            await poll(lambda: routed_again(load, t_start), "requests through the EPP again")
            await load.until(40)
        assert all(o.status == 200 for o in load.outcomes if o.at < t_stop)
        while_down = [o for o in load.outcomes if t_stopped < o.started and o.at < t_start]
        assert len(while_down) >= 30 and {o.status for o in while_down} <= FIVE_XX
        assert {o.status for o in load.outcomes} <= {200} | FIVE_XX
        assert all(o.via_epp for o in load.outcomes if o.status == 200)
        assert all(o.status == 200 for o in load.outcomes[-20:])
        assert total_in_flight(c) == 0


def routed_again(load: Load, since: float) -> bool:
    return any(o.via_epp and o.started > since for o in load.outcomes)


async def envoy_marked_epp_down(c: Cluster) -> bool:
    return not await envoy_sees_epp(c)
