"""``single-profile-handler``: run every profile once; the one result is the primary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from inference_gateway.scheduling.framework import CycleState, Plugin, ProfileResult
from inference_gateway.scheduling.types import LLMRequest


class SingleProfileHandler(Plugin):
    TYPE = "single-profile-handler"

    def pick_profiles(
        self,
        request: LLMRequest,
        profiles: Sequence[str],
        results: Mapping[str, ProfileResult | None],
        cycle_state: CycleState,
    ) -> list[str]:
        return [] if results else list(profiles)

    def process_results(
        self, request: LLMRequest, results: Mapping[str, ProfileResult | None]
    ) -> str:
        if len(results) != 1:
            raise ValueError(
                f"single-profile-handler needs exactly one profile, got {len(results)}"
            )
        return next(iter(results))
