"""One TCP port free on several loopback addresses, for pods that share a port number.

Pods on 127.0.0.11, .12, ... conventionally listen on the same port (as pods in a cluster
share a ``targetPort``), so the port is found by binding it on every address in turn.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence

_ATTEMPTS = 50


def shared_free_port(hosts: Sequence[str]) -> int:
    """A port free on every host (bound and released; a small race remains).

    Raises ``OSError`` when the first address cannot be bound at all (a missing loopback
    alias) and ``RuntimeError`` when no port is free everywhere.
    """
    for _ in range(_ATTEMPTS):
        with socket.socket() as first:
            first.bind((hosts[0], 0))
            port = int(first.getsockname()[1])
            if all(_free(h, port) for h in hosts[1:]):
                return port
    raise RuntimeError(f"no port free on all of {', '.join(hosts)}")


def _free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True
