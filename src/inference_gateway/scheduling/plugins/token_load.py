"""Upstream's ``token-load-scorer`` and the producer it reads, ``inflight-load-producer``.

The producer counts, per pod, the estimated tokens of the gateway's requests in flight:
added when a request is picked, released by its final response report. (Upstream's also
counts the requests; the datastore's in-flight count is that here.) The estimate is
upstream's: input tokens at 4 characters each (at least 1) plus 1.5 times as many output
tokens. Upstream sizes the input from the request body's bytes; here it is the prompt text
the scheduler sees (the chat messages' text), which leaves out the JSON around it. The
scorer gives 1 - min(1, tokens / ``queueThresholdTokens``): an idle pod scores 1, one at the
threshold (4 Mi tokens: 128 requests of 32 K) or beyond scores 0.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from pydantic import BaseModel

from inference_gateway.datastore.types import Endpoint
from inference_gateway.scheduling.framework import CycleState, Params, Plugin, PluginHandle
from inference_gateway.scheduling.types import LLMRequest

CHARS_PER_TOKEN = 4.0
OUTPUT_RATIO = 1.5
DEFAULT_THRESHOLD_TOKENS = 4_194_304
MAX_PENDING = 65_536
"""Picked requests awaiting their final report; the oldest are released beyond this."""


def estimated_tokens(request: LLMRequest) -> int:
    """Upstream's ``SimpleTokenEstimator``: input tokens plus 1.5x as many output tokens."""
    inputs = max(1, round(len(request.prompt) / CHARS_PER_TOKEN))
    return inputs + round(inputs * OUTPUT_RATIO)


class InFlightLoadProducer(Plugin):
    TYPE = "inflight-load-producer"

    def __init__(self, name: str, params: BaseModel, handle: PluginHandle) -> None:
        super().__init__(name, params, handle)
        self.tokens: dict[str, int] = {}
        self._pending: OrderedDict[str, tuple[str, int]] = OrderedDict()

    def produce(
        self, request: LLMRequest, endpoints: Sequence[Endpoint], cycle_state: CycleState
    ) -> None:
        """Nothing per cycle: the counts are kept as requests come and go."""

    def on_picked(self, request: LLMRequest, endpoint: Endpoint, cycle_state: CycleState) -> None:
        if request.request_id in self._pending:
            self._release(request.request_id)  # the same id picked again (a retry)
        pod, tokens = endpoint.name, estimated_tokens(request)
        self._pending[request.request_id] = (pod, tokens)
        self.tokens[pod] = self.tokens.get(pod, 0) + tokens
        while len(self._pending) > MAX_PENDING:
            self._release(next(iter(self._pending)))

    def observe_response(
        self,
        request_id: str,
        endpoint_name: str,
        *,
        ttft: float | None,
        tpot: float | None,
        prompt_tokens: int | None,
        completion_tokens: int | None,
        now: float,
        final: bool = True,
    ) -> None:
        if final and request_id in self._pending:
            self._release(request_id)

    def _release(self, request_id: str) -> None:
        pod, tokens = self._pending.pop(request_id)
        if pod in self.tokens:
            self.tokens[pod] = max(0, self.tokens[pod] - tokens)

    def forget(self, endpoint_name: str) -> None:
        """A pod left the pool: its counts go (its requests' reports then release nothing)."""
        self.tokens.pop(endpoint_name, None)


class TokenLoadParams(Params):
    queueThresholdTokens: int = DEFAULT_THRESHOLD_TOKENS
    """Tokens in flight at which a pod scores 0; 0 or less means the default, as upstream."""


class TokenLoadScorer(Plugin):
    TYPE = "token-load-scorer"
    Params = TokenLoadParams
    NEEDS = ((("inflight-load-producer",), "inflight-load-producer"),)

    def __init__(self, name: str, params: BaseModel, handle: PluginHandle) -> None:
        super().__init__(name, params, handle)
        assert isinstance(params, TokenLoadParams)
        threshold = params.queueThresholdTokens
        self.threshold = float(threshold if threshold > 0 else DEFAULT_THRESHOLD_TOKENS)
        found = handle.plugin_of_type(("inflight-load-producer",))
        self._load = found.tokens if isinstance(found, InFlightLoadProducer) else {}

    def score(
        self, request: LLMRequest, endpoints: Sequence[Endpoint], cycle_state: CycleState
    ) -> list[float]:
        get, limit = self._load.get, self.threshold
        return [1.0 - min(1.0, get(e.name, 0) / limit) for e in endpoints]
