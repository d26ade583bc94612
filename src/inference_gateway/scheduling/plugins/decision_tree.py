"""``decision-tree-filter``: the legacy filter tree as one composite filter.

A node runs ``current``. A non-empty result is success and flows into ``nextOnSuccess``;
an empty result is failure and the node's *original input* flows into ``nextOnFailure``.
``nextOnSuccessOrFailure`` takes whichever set the rule above produced. A missing branch
returns the current result as it is (so a failure with no failure branch yields nothing).
Each step is appended to the cycle's filter trace so a decision can be explained.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, model_validator

from inference_gateway.datastore.types import Endpoint
from inference_gateway.scheduling.framework import (
    TRACE_KEY,
    CycleState,
    Filter,
    Params,
    Plugin,
    PluginHandle,
)
from inference_gateway.scheduling.types import LLMRequest


class TreeRef(Params):
    """Exactly one of a filter plugin's name or a nested tree."""

    pluginRef: str | None = None
    decisionTree: DecisionTreeParams | None = None

    @model_validator(mode="after")
    def _one_of(self) -> TreeRef:
        if (self.pluginRef is None) == (self.decisionTree is None):
            raise ValueError("give exactly one of pluginRef or decisionTree")
        return self


class DecisionTreeParams(Params):
    current: TreeRef
    nextOnSuccess: TreeRef | None = None
    nextOnFailure: TreeRef | None = None
    nextOnSuccessOrFailure: TreeRef | None = None

    @model_validator(mode="after")
    def _branches(self) -> DecisionTreeParams:
        if self.nextOnSuccessOrFailure is not None and (
            self.nextOnSuccess is not None or self.nextOnFailure is not None
        ):
            raise ValueError("nextOnSuccessOrFailure excludes nextOnSuccess and nextOnFailure")
        return self

    def plugin_refs(self, prefix: str = "") -> Iterator[tuple[str, str]]:
        """Every referenced plugin name with its key path, for the config loader."""
        for key in ("current", "nextOnSuccess", "nextOnFailure", "nextOnSuccessOrFailure"):
            ref: TreeRef | None = getattr(self, key)
            if ref is None:
                continue
            if ref.pluginRef is not None:
                yield f"{prefix}{key}.pluginRef", ref.pluginRef
            elif ref.decisionTree is not None:
                yield from ref.decisionTree.plugin_refs(f"{prefix}{key}.decisionTree.")


TreeRef.model_rebuild()


@dataclass(frozen=True, slots=True)
class _Node:
    current: Filter | _Node
    on_success: Filter | _Node | None
    on_failure: Filter | _Node | None

    def run(
        self, request: LLMRequest, endpoints: Sequence[Endpoint], cycle_state: CycleState
    ) -> list[Endpoint]:
        result = _apply(self.current, request, endpoints, cycle_state)
        if result:
            nxt, given = self.on_success, result
        else:
            nxt, given = self.on_failure, list(endpoints)
        return result if nxt is None else _apply(nxt, request, given, cycle_state)


def _apply(
    step: Filter | _Node,
    request: LLMRequest,
    endpoints: Sequence[Endpoint],
    cycle_state: CycleState,
) -> list[Endpoint]:
    if isinstance(step, _Node):
        return step.run(request, endpoints, cycle_state)
    out = step.filter(request, endpoints, cycle_state)
    cycle_state.setdefault(TRACE_KEY, []).append((step.name, len(endpoints), len(out)))
    return out


def _build(params: DecisionTreeParams, handle: PluginHandle) -> _Node:
    def ref(r: TreeRef | None) -> Filter | _Node | None:
        if r is None:
            return None
        if r.decisionTree is not None:
            return _build(r.decisionTree, handle)
        plugin = handle.plugin(r.pluginRef or "")
        if not isinstance(plugin, Filter):
            raise TypeError(f"plugin {r.pluginRef!r} is not a filter")
        return plugin

    current = ref(params.current)
    assert current is not None
    if params.nextOnSuccessOrFailure is not None:
        both = ref(params.nextOnSuccessOrFailure)
        return _Node(current=current, on_success=both, on_failure=both)
    return _Node(
        current=current,
        on_success=ref(params.nextOnSuccess),
        on_failure=ref(params.nextOnFailure),
    )


class DecisionTreeFilter(Plugin):
    TYPE = "decision-tree-filter"
    Params = DecisionTreeParams

    def __init__(self, name: str, params: BaseModel, handle: PluginHandle) -> None:
        super().__init__(name, params, handle)
        assert isinstance(params, DecisionTreeParams)
        self.root = _build(params, handle)

    def filter(
        self, request: LLMRequest, endpoints: Sequence[Endpoint], cycle_state: CycleState
    ) -> list[Endpoint]:
        return self.root.run(request, endpoints, cycle_state)
