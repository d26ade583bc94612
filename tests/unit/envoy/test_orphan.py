"""A gateway process that is killed outright must not leave its Envoy running."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
from pathlib import Path

CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from inference_gateway.envoy.process import EnvoyProcess

    async def main():
        bootstrap = {"admin": {"address": {"socket_address": {
            "address": "127.0.0.1", "port_value": 0}}}}
        async with EnvoyProcess(bootstrap, workdir=Path(sys.argv[1])) as envoy:
            print(envoy._proc.pid, flush=True)
            await asyncio.Event().wait()

    asyncio.run(main())
    """
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "State:\tZ" in status.read_text())


async def test_envoy_dies_with_a_killed_parent(tmp_path: Path) -> None:
    parent = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, str(tmp_path), stdout=asyncio.subprocess.PIPE
    )
    assert parent.stdout is not None
    line = await asyncio.wait_for(parent.stdout.readline(), 30)
    envoy_pid = int(line)
    assert _alive(envoy_pid)
    parent.send_signal(signal.SIGKILL)
    await parent.wait()
    async with asyncio.timeout(10):
        while _alive(envoy_pid):  # noqa: ASYNC110 - another process: nothing to await
            await asyncio.sleep(0.05)
