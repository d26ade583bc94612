"""A recurring condition logs its first occurrence, then one line per period that counts
what it stands for; a deferred argument is built only for a line that is written."""

from __future__ import annotations

import logging

import pytest

from inference_gateway.throttled_log import Deferred, Throttled


def test_one_line_per_period_counting_the_rest(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    built: set[int] = set()

    def describe(call: int) -> Deferred:
        def build() -> str:
            built.add(call)
            return "why"

        return Deferred(build)

    say = Throttled(logging.getLogger("throttle-test"), every=10.0, clock=lambda: now[0])
    caplog.set_level(logging.WARNING, "throttle-test")
    written = []
    for call, t in enumerate((0.0, 1.0, 5.0, 9.9, 10.0, 10.5, 30.0)):
        now[0] = t
        written.append(say("refused: %s", describe(call)))
    assert written == [True, False, False, False, True, False, True]
    assert [r.getMessage() for r in caplog.records] == [
        "refused: why",
        "refused: why (and 3 more since the last such line)",
        "refused: why (and 1 more since the last such line)",
    ]
    assert built == {0, 4, 6}
