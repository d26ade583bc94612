"""Usage-limit policies: how full the pool may get before a band stops dispatching.

Upstream (v1.5 ``UsageLimitPolicy``, ``flowControl.usageLimitPolicyPluginRef``) gives each
priority a ceiling in [0, 1]; a band dispatches only while the pool's saturation (the
detector's) is below its ceiling, so lower bands can be stopped short of full to keep
headroom for higher ones that arrive later. Upstream ships one policy,
``static-usage-limit-policy``: the same ``threshold`` (default 1.0, no gating) for every
band, and its contract lets a policy map each priority to its own ceiling.
``priority-usage-limit-policy`` (ours) is that map: ``thresholds`` per priority and a
``defaultThreshold`` for the others. Both are pure functions of the priority.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from pydantic import BaseModel, Field

from inference_gateway.scheduling.framework import Params, Plugin, PluginHandle


class UsageLimitPolicy(Protocol):
    gates: bool
    """False when every ceiling is 1.0 or more: no band is stopped short of full."""

    def ceiling(self, priority: int) -> float: ...


class StaticParams(Params):
    threshold: float = Field(default=1.0, ge=0.0)


class StaticUsageLimitPolicy(Plugin):
    TYPE = "static-usage-limit-policy"
    Params = StaticParams

    def __init__(
        self, name: str = TYPE, params: BaseModel | None = None, handle: PluginHandle | None = None
    ) -> None:
        p = params if params is not None else StaticParams()
        assert isinstance(p, StaticParams)
        self.name = name
        self.threshold = p.threshold
        self.gates = p.threshold < 1.0

    def ceiling(self, priority: int) -> float:
        return self.threshold


class BandThreshold(BaseModel):
    priority: int
    threshold: float = Field(ge=0.0)


class PriorityParams(Params):
    thresholds: list[BandThreshold] = []
    defaultThreshold: float = Field(default=1.0, ge=0.0)


class PriorityUsageLimitPolicy(Plugin):
    TYPE = "priority-usage-limit-policy"
    Params = PriorityParams

    def __init__(
        self, name: str = TYPE, params: BaseModel | None = None, handle: PluginHandle | None = None
    ) -> None:
        p = params if params is not None else PriorityParams()
        assert isinstance(p, PriorityParams)
        self.name = name
        self.default = p.defaultThreshold
        self.by_priority = {t.priority: t.threshold for t in p.thresholds}
        self.gates = min([self.default, *self.by_priority.values()]) < 1.0

    def ceiling(self, priority: int) -> float:
        return self.by_priority.get(priority, self.default)


NO_LIMIT = StaticUsageLimitPolicy()
USAGE_LIMIT_POLICIES: dict[str, type[StaticUsageLimitPolicy | PriorityUsageLimitPolicy]] = {
    StaticUsageLimitPolicy.TYPE: StaticUsageLimitPolicy,
    PriorityUsageLimitPolicy.TYPE: PriorityUsageLimitPolicy,
}


class _BandView(Protocol):
    @property
    def count(self) -> int: ...

    @property
    def priority(self) -> int: ...


def dispatch_ceiling(usage: UsageLimitPolicy, bands: Iterable[_BandView]) -> float:
    """The usage limit the next dispatch must stay under, ``bands`` highest first: the
    lowest ceiling from the top band down to the first with a request (upstream stops at
    the first band whose ceiling the pool is over, empty or not, so no lower band
    overtakes it)."""
    if not usage.gates:
        return 1.0
    ceiling = 1.0
    for band in bands:
        ceiling = min(ceiling, usage.ceiling(band.priority))
        if band.count:
            break
    return ceiling
