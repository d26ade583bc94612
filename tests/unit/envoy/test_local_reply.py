"""Envoy's local replies mapped to the one error shape (live: tests/integration/openai)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from inference_gateway.envoy.bootstrap import EnvoySettings, build_bootstrap
from inference_gateway.envoy.local_reply import (
    EXT_PROC_ERROR_STATUS,
    MAPPED_STATUSES,
    local_reply_config,
)


def _status_filter(mapper: dict[str, Any]) -> tuple[str, int]:
    by_status, flagged = mapper["filter"]["and_filter"]["filters"]
    assert flagged == {"response_flag_filter": {}}  # never the EPP's own (unflagged) answers
    compare = by_status["status_code_filter"]["comparison"]
    return compare["op"], compare["value"]["default_value"]


def test_every_mapper_writes_the_one_shape_with_the_status_as_integer_code() -> None:
    *mappers, ext_proc_failed = local_reply_config()["mappers"]
    assert ext_proc_failed["filter"]["status_code_filter"]["comparison"]["value"] == {
        "default_value": EXT_PROC_ERROR_STATUS,
        "runtime_key": "",
    }
    assert ext_proc_failed["status_code"] == 503
    error = ext_proc_failed["body_format_override"]["json_format"]["error"]
    assert (error["type"], error["code"]) == ("ServiceUnavailableError", "%RESPONSE_CODE%")
    assert [_status_filter(m) for m in mappers] == [
        *(("EQ", s) for s in MAPPED_STATUSES),
        ("GE", 500),
        ("GE", 400),
    ]
    for mapper in [*mappers, ext_proc_failed]:
        body = mapper["body_format_override"]
        assert body["content_type"] == "application/json"
        error = body["json_format"]["error"]
        assert set(error) == {"message", "type", "param", "code"}
    for mapper in mappers:
        error = mapper["body_format_override"]["json_format"]["error"]
        assert (error["message"], error["code"], error["param"]) == (
            "%LOCAL_REPLY_BODY%",
            "%RESPONSE_CODE%",
            None,
        )


@pytest.mark.parametrize(
    ("status", "kind", "retry"),
    [
        (503, "ServiceUnavailableError", True),
        (429, "RateLimitError", True),
        (504, "GatewayTimeoutError", False),
        (404, "NotFoundError", False),
        (431, "RequestHeaderFieldsTooLargeError", False),
    ],
)
def test_types_and_retry_after_per_status(status: int, kind: str, retry: bool) -> None:
    mapper = next(m for m in local_reply_config()["mappers"] if _status_filter(m) == ("EQ", status))
    assert mapper["body_format_override"]["json_format"]["error"]["type"] == kind
    headers = [h["header"] for h in mapper.get("headers_to_add", [])]
    assert headers == ([{"key": "retry-after", "value": "1"}] if retry else [])


def test_ext_proc_failures_use_the_marked_status(tmp_path: Path) -> None:
    bootstrap = build_bootstrap(EnvoySettings(port=8081, admin_port=9901), eds_dir=tmp_path)
    manager = bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
    filters = manager["typed_config"]["http_filters"]
    ext_proc = next(f for f in filters if f["name"] == "envoy.filters.http.ext_proc")
    assert ext_proc["typed_config"]["status_on_error"] == {"code": EXT_PROC_ERROR_STATUS}


def test_every_listener_of_the_bootstrap_maps_local_replies(tmp_path: Path) -> None:
    settings = EnvoySettings(port=8081, admin_port=9901, direct_listener=True, direct_port=8082)
    bootstrap = build_bootstrap(settings, eds_dir=tmp_path)
    listeners = bootstrap["static_resources"]["listeners"]
    assert len(listeners) == 2
    for listener in listeners:
        manager = listener["filter_chains"][0]["filters"][0]["typed_config"]
        assert manager["local_reply_config"] == local_reply_config()
