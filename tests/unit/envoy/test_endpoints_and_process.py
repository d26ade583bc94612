"""The fallback EDS file and the Envoy process launcher (real binary)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import pytest

from inference_gateway.datastore import Datastore, DesiredState, PodInfo, PoolInfo
from inference_gateway.envoy.bootstrap import EDS_FILE_NAME
from inference_gateway.envoy.endpoints_file import EndpointsFile, fallback_hostports
from inference_gateway.envoy.process import EnvoyError, EnvoyProcess


def addresses(path: Path) -> list[tuple[str, int]]:
    doc = json.loads(path.read_text())
    out = []
    for group in doc["resources"][0].get("endpoints", []):
        for lb in group["lb_endpoints"]:
            sock = lb["endpoint"]["address"]["socket_address"]
            out.append((sock["address"], sock["port_value"]))
    return out


def test_write_replaces_the_file_and_skips_unchanged_sets(tmp_path: Path) -> None:
    eds = EndpointsFile(tmp_path)
    assert eds.write([("127.0.0.11", 8000)])
    assert not eds.write([("127.0.0.11", 8000)])
    assert eds.write([("127.0.0.11", 8000), ("127.0.0.12", 8000)])
    assert addresses(tmp_path / EDS_FILE_NAME) == [("127.0.0.11", 8000), ("127.0.0.12", 8000)]
    assert json.loads((tmp_path / EDS_FILE_NAME).read_text())["version_info"] == "2"
    assert eds.write([])
    assert addresses(tmp_path / EDS_FILE_NAME) == []
    assert sorted(os.listdir(tmp_path)) == [EDS_FILE_NAME]


def pool(name: str, app: str, mode: str) -> PoolInfo:
    return PoolInfo(name, "default", {"app": app}, (8000,), failure_mode=mode)  # type: ignore[arg-type]


def pod(name: str, app: str, ip: str) -> PodInfo:
    return PodInfo(name, "default", ip, labels={"app": app})


def test_fallback_is_the_first_fail_open_pool_and_follows_changes(tmp_path: Path) -> None:
    store = Datastore()
    store.sync(
        DesiredState(
            pools=(pool("a", "a", "FailClose"), pool("b", "b", "FailOpen")),
            pods=(pod("a0", "a", "127.0.0.11"), pod("b0", "b", "127.0.0.12")),
        )
    )
    assert fallback_hostports(store) == [("127.0.0.12", 8000)]
    EndpointsFile(tmp_path).follow(store)
    store.upsert_pod(pod("b1", "b", "127.0.0.13"))
    assert addresses(tmp_path / EDS_FILE_NAME) == [("127.0.0.12", 8000), ("127.0.0.13", 8000)]


async def test_a_burst_of_pod_events_in_one_loop_turn_is_one_write(tmp_path: Path) -> None:
    store = Datastore()
    store.sync(DesiredState(pools=(pool("b", "b", "FailOpen"),)))
    EndpointsFile(tmp_path).follow(store)
    path = tmp_path / EDS_FILE_NAME
    assert json.loads(path.read_text())["version_info"] == "1"
    for i in range(50):
        store.upsert_pod(pod(f"b{i}", "b", f"127.0.0.{11 + i}"))
    assert addresses(path) == []  # not yet: the write waits for the end of this turn
    # Callbacks run in the order they were scheduled: once this one has, so has the write.
    turn_over = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_soon(turn_over.set_result, None)
    await turn_over
    assert len(addresses(path)) == 50
    assert json.loads(path.read_text())["version_info"] == "2"


def test_without_fail_open_pools_the_first_pool_is_used() -> None:
    store = Datastore()
    store.sync(
        DesiredState(pools=(pool("z", "z", "FailClose"),), pods=(pod("z0", "z", "127.0.0.14"),))
    )
    assert fallback_hostports(store) == [("127.0.0.14", 8000)]
    assert fallback_hostports(Datastore()) == []


def admin_only() -> dict[str, object]:
    return {"admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}}}


async def test_start_waits_for_ready_and_stop_reaps(tmp_path: Path) -> None:
    envoy = EnvoyProcess(admin_only(), workdir=tmp_path)
    async with envoy:
        assert envoy.admin_url.startswith("http://127.0.0.1:")
        assert "LIVE" in await envoy.admin("/ready")
    assert envoy.returncode is not None
    assert envoy.exited.is_set()


async def test_bad_config_fails_start_with_envoys_own_words(tmp_path: Path) -> None:
    bad = {**admin_only(), "static_resources": {"clusters": [{"name": "x", "type": "NOPE"}]}}
    with pytest.raises(EnvoyError, match="exited"):
        async with EnvoyProcess(bad, workdir=tmp_path, ready_timeout=10):
            pass


async def test_unexpected_exit_is_noticed_and_logged(tmp_path: Path) -> None:
    async with EnvoyProcess(admin_only(), workdir=tmp_path) as envoy:
        assert envoy._proc is not None
        os.kill(envoy._proc.pid, signal.SIGKILL)
        await envoy.exited.wait()
        assert envoy.returncode == -signal.SIGKILL
