"""The ``inline`` gRPC transport: HTTP/2 and gRPC framing on an ``asyncio.Protocol``.

Every ext_proc message is decoded, handled and answered inside ``data_received``, with no
task, queue or future per message or per stream; see ``connection`` for why and how much.
"""

from inference_gateway.extproc._inline.backend import InlineBackend

__all__ = ["InlineBackend"]
