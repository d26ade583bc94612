from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from inference_gateway.observability import setup_logging
from inference_gateway.observability.logging import JsonFormatter


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_carry_extras_and_tracebacks() -> None:
    record = logging.LogRecord("gw", logging.ERROR, __file__, 1, "routed %s", ("x",), None)
    record.request_id = "r1"
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    line = json.loads(JsonFormatter().format(record))
    assert (line["level"], line["logger"], line["msg"], line["request_id"]) == (
        "error",
        "gw",
        "routed x",
        "r1",
    )
    assert "ValueError: boom" in line["exc"]
    assert line["ts"].endswith("+00:00")


def test_setup_logging_installs_one_handler(
    restore_root: None, capsys: pytest.CaptureFixture[str]
) -> None:
    setup_logging("debug", json=True)
    setup_logging("DEBUG", json=True)
    root = logging.getLogger()
    assert len(root.handlers) == 1 and root.level == logging.DEBUG
    logging.getLogger("t").debug("hello", extra={"k": 1})
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert (line["msg"], line["k"]) == ("hello", 1)
    with pytest.raises(ValueError):
        setup_logging("loud", json=False)
