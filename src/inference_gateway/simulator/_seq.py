"""One request's state inside the engine, shared by the scheduler, the decode batch and the engine.

Separate so that those three can name the same record without importing one another: the
scheduler admits and preempts a ``Seq``, the decode batch counts it while it decodes, and
the engine moves it through steps and finishes it.
"""

from __future__ import annotations

from inference_gateway.simulator.records import RequestRecord, SimRequest

WAITING, PREFILL, DECODE, DONE = 0, 1, 2, 3


class Seq:
    """A request being served.

    ``n``/``m`` are prompt and output tokens; ``t`` the tokens generated before the latest
    (re)admission; ``computed`` the tokens with KV; ``held`` the leading hashed blocks it
    references and ``private`` its unhashed ones. While decoding, its token count is
    ``gstep - anchor``, ``cls`` is its length's residue modulo the block size and ``ver``
    tells a live finish-heap entry from a stale one.
    """

    __slots__ = (
        "adapter", "anchor", "cls", "computed", "hashes", "held", "key", "m", "n", "private",
        "rec", "req", "state", "t", "ver",
    )  # fmt: skip

    def __init__(self, req: SimRequest, rec: RequestRecord, key: int) -> None:
        self.req, self.rec, self.key = req, rec, key
        self.n, self.m, self.adapter = req.prompt_tokens, req.output_tokens, req.adapter
        self.t = 0
        self.state = WAITING
        self.hashes: tuple[int, ...] | None = None
        self.held = self.private = self.computed = self.anchor = self.cls = self.ver = 0
