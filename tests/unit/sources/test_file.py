"""The standalone YAML source: load, hot reload, rejected edits, rename-replace, shutdown."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from inference_gateway.api import ObjectError
from inference_gateway.datastore import Datastore
from inference_gateway.sources import FileSource, load_file

POOL = """
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferencePool
metadata: {name: pool}
spec:
  selector: {app: vllm}
  targetPortNumber: 8000
  extensionRef: {name: epp}
"""
MODEL = """
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferenceModel
metadata: {name: m}
spec: {modelName: %s, poolRef: {name: pool}}
"""
POD = """
apiVersion: v1
kind: Pod
metadata: {name: %s, labels: {app: vllm}}
status:
  podIP: %s
  conditions: [{type: Ready, status: "True"}]
"""
SERVICE = """
apiVersion: v1
kind: Service
metadata: {name: ignored}
"""


def config(*pods: str, model: str = "llama") -> str:
    docs = [POOL, MODEL % model, SERVICE]
    docs += [POD % (f"pod{i}", ip) for i, ip in enumerate(pods)]
    return "---".join(docs)


async def wait(source: FileSource, predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):
        await source.wait_until(predicate)


def hostports(store: Datastore) -> list[str]:
    return sorted(f"{e.address}:{e.port}" for e in store.endpoints("default/pool"))


def test_load_file_skips_unknown_kinds(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(config("127.0.0.11", "127.0.0.12"))
    state = load_file(path)
    assert [p.key for p in state.pools] == ["default/pool"]
    assert [m.model_name for m in state.models] == ["llama"]
    assert sorted(p.address for p in state.pods) == ["127.0.0.11", "127.0.0.12"]
    assert "v1/Service" in caplog.text


def test_load_file_error_names_object_field_and_rule(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(config("127.0.0.11").replace("targetPortNumber: 8000", "targetPortNumber: 0"))
    with pytest.raises(ObjectError) as info:
        load_file(path)
    message = str(info.value)
    assert "InferencePool default/pool" in message
    assert "spec.targetPortNumber" in message
    assert "between 1 and 65535" in message


async def test_missing_file_is_an_error(tmp_path: Path) -> None:
    store = Datastore()
    with pytest.raises(FileNotFoundError):
        async with FileSource(tmp_path / "absent.yaml", store):
            pass
    assert not store.synced


async def test_initial_load_marks_synced(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(config("127.0.0.11"))
    store = Datastore()
    async with FileSource(path, store) as source:
        assert store.synced
        assert hostports(store) == ["127.0.0.11:8000"]
        assert store.model("llama") is not None
        assert source.reloads == 0


async def test_edit_is_picked_up(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(config("127.0.0.11"))
    store = Datastore()
    async with FileSource(path, store) as source:
        path.write_text(config("127.0.0.11", "127.0.0.12", model="qwen"))
        await wait(source, lambda: source.reloads >= 1)
        assert hostports(store) == ["127.0.0.11:8000", "127.0.0.12:8000"]
        assert store.model("qwen") is not None and store.model("llama") is None


async def test_rename_replace_is_picked_up_repeatedly(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(config("127.0.0.11"))
    store = Datastore()
    async with FileSource(path, store) as source:
        for n, ips in enumerate([("127.0.0.12",), ("127.0.0.13", "127.0.0.14")], start=1):
            tmp = tmp_path / f".gw.yaml.swp{n}"
            tmp.write_text(config(*ips))
            os.replace(tmp, path)
            await wait(source, lambda: source.reloads >= n)  # noqa: B023 (awaited here)
            assert hostports(store) == sorted(f"{ip}:8000" for ip in ips)


async def test_invalid_edit_keeps_last_good_state(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(config("127.0.0.11"))
    store = Datastore()
    seen: list[Exception] = []
    async with FileSource(path, store, on_error=seen.append) as source:
        path.write_text(config("127.0.0.12").replace("modelName: llama", "modelName: [x"))
        await wait(source, lambda: source.errors >= 1)
        assert isinstance(seen[0], ObjectError) and "invalid YAML" in str(seen[0])
        path.write_text(config("127.0.0.12").replace("{name: epp}", "{name: epp, bogus: 1}"))
        await wait(source, lambda: source.errors >= 2)
        assert "spec.extensionRef.bogus: is not a known field" in str(source.last_error)
        assert hostports(store) == ["127.0.0.11:8000"]
        assert store.model("llama") is not None
        assert source.reloads == 0
        path.write_text(config("127.0.0.13"))
        await wait(source, lambda: source.reloads >= 1)
        assert hostports(store) == ["127.0.0.13:8000"]


async def test_deleted_file_keeps_state_until_it_returns(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(config("127.0.0.11"))
    store = Datastore()
    async with FileSource(path, store) as source:
        path.unlink()
        await wait(source, lambda: source.errors >= 1)
        assert isinstance(source.last_error, FileNotFoundError)
        assert hostports(store) == ["127.0.0.11:8000"]
        path.write_text(config("127.0.0.12"))
        await wait(source, lambda: source.reloads >= 1)
        assert hostports(store) == ["127.0.0.12:8000"]


async def test_edit_of_another_file_in_the_directory_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(config("127.0.0.11"))
    store = Datastore()
    async with FileSource(path, store) as source:
        (tmp_path / "other.yaml").write_text("not: [valid")
        path.write_text(config("127.0.0.12"))
        await wait(source, lambda: source.reloads >= 1)
        assert source.errors == 0


async def test_configmap_style_symlink_swap_is_picked_up(tmp_path: Path) -> None:
    """A ConfigMap volume swaps a ``..data`` symlink; no event names the file itself."""
    for n, ip in enumerate(["127.0.0.11", "127.0.0.12"]):
        (tmp_path / f"v{n}").mkdir()
        (tmp_path / f"v{n}" / "gw.yaml").write_text(config(ip))
    (tmp_path / "..data").symlink_to("v0")
    path = tmp_path / "gw.yaml"
    path.symlink_to("..data/gw.yaml")
    store = Datastore()
    async with FileSource(path, store, poll_interval=0.1) as source:
        (tmp_path / "..data_tmp").symlink_to("v1")
        os.replace(tmp_path / "..data_tmp", tmp_path / "..data")
        await wait(source, lambda: source.reloads >= 1)
        assert hostports(store) == ["127.0.0.12:8000"]
