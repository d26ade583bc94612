"""The file source survives files it cannot read for a while, keeping the last good state."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from inference_gateway.datastore import Datastore
from inference_gateway.sources import FileSource
from tests.unit.sources.test_file import config, hostports, wait


def replace(path: Path, make: Callable[[Path], object]) -> None:
    """Swap ``path`` for what ``make`` builds next to it in one rename, as editors save,
    so the watcher never reads a half-made state."""
    tmp = path.with_name(".tmp-" + path.name)
    make(tmp)
    os.replace(tmp, path)


def make_unreadable(path: Path, how: str) -> None:
    if how == "directory":  # read_text raises IsADirectoryError, an OSError like EACCES/EMFILE
        (path.parent / "a-directory").mkdir(exist_ok=True)
        replace(path, lambda tmp: tmp.symlink_to(path.parent / "a-directory"))
    else:  # caught mid-write: bytes that are not UTF-8
        broken = config("127.0.0.12").encode()[:-40] + b"\xff\xfe\xfa"
        replace(path, lambda tmp: tmp.write_bytes(broken))


def make_readable(path: Path, text: str) -> None:
    replace(path, lambda tmp: tmp.write_text(text))


@pytest.mark.parametrize("how", ["directory", "bad-utf8"])
async def test_a_transient_read_error_keeps_the_last_good_state_and_the_watch(
    tmp_path: Path, how: str
) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(config("127.0.0.11"))
    store = Datastore()
    seen: list[Exception] = []
    async with FileSource(path, store, on_error=seen.append, poll_interval=0.05) as source:
        make_unreadable(path, how)
        await wait(source, lambda: source.errors >= 1)
        expected = IsADirectoryError if how == "directory" else UnicodeDecodeError
        assert isinstance(seen[0], expected)
        assert hostports(store) == ["127.0.0.11:8000"]
        assert store.model("llama") is not None
        make_readable(path, config("127.0.0.13"))
        await wait(source, lambda: source.reloads >= 1)
        assert hostports(store) == ["127.0.0.13:8000"]
        # Still watching: the next edit is picked up too.
        make_readable(path, config("127.0.0.14"))
        await wait(source, lambda: source.reloads >= 2)
        assert hostports(store) == ["127.0.0.14:8000"]
        assert source.errors == 1


async def test_a_run_of_read_errors_is_reported_once(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(config("127.0.0.11"))
    store = Datastore()
    async with FileSource(path, store, poll_interval=0.05) as source:
        make_unreadable(path, "directory")
        await wait(source, lambda: source.errors >= 1)
        for _ in range(3):  # three more failed reads, as the polls would make
            assert not await source.reload()
        assert source.errors == 1
        make_readable(path, config("127.0.0.11"))
        assert await source.reload()
        assert hostports(store) == ["127.0.0.11:8000"]


async def test_reloads_run_one_at_a_time_so_the_last_read_wins(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(config("127.0.0.11"))
    store = Datastore()
    many = [f"127.0.{i // 200}.{i % 200 + 1}" for i in range(900)]  # slow to parse and apply
    async with FileSource(path, store) as source:
        make_readable(path, config(*many))
        first = asyncio.create_task(source.reload())
        await asyncio.sleep(0)  # the first reload has read the big file
        make_readable(path, config("127.0.0.99"))
        second = asyncio.create_task(source.reload())
        await asyncio.wait_for(asyncio.gather(first, second), 30)
        # Unserialised, the small file's reload finished first and the big one overwrote it.
        assert hostports(store) == ["127.0.0.99:8000"]
