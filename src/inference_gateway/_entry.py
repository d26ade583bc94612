"""Console-script entry: quiets gRPC's C core before anything imports it.

gRPC reads ``GRPC_VERBOSITY`` and ``GRPC_ENABLE_FORK_SUPPORT`` once, at import, and prints a
fork-handler notice each time we start Envoy as a child process unless told otherwise; the
command's own modules import gRPC, so the defaults must be set before they load.
"""

from __future__ import annotations

import os


def _quiet_grpc() -> None:
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")


def main() -> None:
    _quiet_grpc()
    from inference_gateway.cli import main as cli_main

    cli_main()


def epp_main() -> None:
    """``inference-gateway-epp``: the EPP alone (the image's entrypoint, upstream's args)."""
    _quiet_grpc()
    from inference_gateway.cli.epp_cmd import main as epp

    epp()
