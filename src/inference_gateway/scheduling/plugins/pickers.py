"""Pickers turn scored candidates into an ordered list of endpoints.

``max-score-picker`` breaks ties uniformly at random with the injected RNG. Upstream
shuffles then stable-sorts; sorting on ``(-score, random key)`` gives the same
distribution, and for the usual single pick we skip sorting and choose among the maxima.
``round-robin-picker`` is the one stateful picker: it remembers the last name it chose and
takes the next name in sorted order, so membership changes never make it skip or repeat.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from pydantic import BaseModel, Field

from inference_gateway.datastore.types import Endpoint
from inference_gateway.scheduling.framework import CycleState, Params, Plugin, PluginHandle
from inference_gateway.scheduling.types import LLMRequest


class PickerParams(Params):
    maxNumOfEndpoints: int = Field(default=1, ge=1)


class _Picker(Plugin):
    Params = PickerParams

    def __init__(self, name: str, params: BaseModel, handle: PluginHandle) -> None:
        super().__init__(name, params, handle)
        assert isinstance(params, PickerParams)
        self.count = params.maxNumOfEndpoints
        self.rng: random.Random = handle.rng


class MaxScorePicker(_Picker):
    TYPE = "max-score-picker"

    def pick(
        self,
        request: LLMRequest,
        endpoints: Sequence[Endpoint],
        scores: Sequence[float],
        cycle_state: CycleState,
    ) -> list[Endpoint]:
        if self.count == 1:
            best = max(scores)
            if scores.count(best) == 1:
                return [endpoints[scores.index(best)]]
            tied = [e for e, s in zip(endpoints, scores, strict=True) if s == best]
            return [self.rng.choice(tied)]
        rnd = self.rng.random
        keyed = sorted(((-s, rnd(), i) for i, s in enumerate(scores)))
        return [endpoints[i] for _, _, i in keyed[: self.count]]


class RandomPicker(_Picker):
    TYPE = "random-picker"

    def pick(
        self,
        request: LLMRequest,
        endpoints: Sequence[Endpoint],
        scores: Sequence[float],
        cycle_state: CycleState,
    ) -> list[Endpoint]:
        if self.count == 1:
            return [self.rng.choice(endpoints)]
        return self.rng.sample(list(endpoints), min(self.count, len(endpoints)))


class WeightedRandomPicker(_Picker):
    """A-Res weighted sampling without replacement: key = U ** (1 / score), top keys win."""

    TYPE = "weighted-random-picker"

    def pick(
        self,
        request: LLMRequest,
        endpoints: Sequence[Endpoint],
        scores: Sequence[float],
        cycle_state: CycleState,
    ) -> list[Endpoint]:
        if all(s <= 0.0 for s in scores):
            return self.rng.sample(list(endpoints), min(self.count, len(endpoints)))
        rnd = self.rng.random
        keys = [
            (math.log(1.0 - rnd()) / s if s > 0.0 else -math.inf, i) for i, s in enumerate(scores)
        ]
        keys.sort(reverse=True)
        return [endpoints[i] for _, i in keys[: self.count]]


class RoundRobinPicker(_Picker):
    TYPE = "round-robin-picker"

    def __init__(self, name: str, params: BaseModel, handle: PluginHandle) -> None:
        super().__init__(name, params, handle)
        self.last: str | None = None

    def pick(
        self,
        request: LLMRequest,
        endpoints: Sequence[Endpoint],
        scores: Sequence[float],
        cycle_state: CycleState,
    ) -> list[Endpoint]:
        last = self.last
        if self.count == 1:
            after = [e for e in endpoints if last is None or e.name > last]
            chosen = min(after or endpoints, key=_name)
            self.last = chosen.name
            return [chosen]
        ordered = sorted(endpoints, key=_name)
        start = next((i for i, e in enumerate(ordered) if last is not None and e.name > last), 0)
        rotated = (ordered[start:] + ordered[:start])[: self.count]
        self.last = rotated[0].name
        return rotated


def _name(e: Endpoint) -> str:
    return e.name
