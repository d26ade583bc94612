from __future__ import annotations

import json

import pytest

from inference_gateway.requestcontrol import GatewayError, error_body, payload_too_large
from inference_gateway.requestcontrol.body import api_kind, parse_body, with_model


@pytest.mark.parametrize(
    ("body", "message", "code"),
    [
        (b"{not json", "request body is not valid JSON", "invalid_json"),
        (b"\xff\xfe\x00", "request body is not valid JSON", "invalid_json"),
        (b"[1, 2]", "request body must be a JSON object", "invalid_json"),
        (b'{"messages": []}', "model not found in request body", "missing_model"),
        (b'{"model": 3, "messages": [{}]}', "model not found in request body", "missing_model"),
        (b"[" * 100_000 + b"]" * 100_000, "request body is not valid JSON", "invalid_json"),
    ],
)
def test_unusable_bodies_are_400(body: bytes, message: str, code: str) -> None:
    with pytest.raises(GatewayError) as info:
        parse_body("/v1/chat/completions", body)
    assert (info.value.status, info.value.message, info.value.code) == (400, message, code)
    assert info.value.reason == "BadRequest"


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/chat/completions", {"model": "m"}, "messages"),
        ("/v1/chat/completions", {"model": "m", "messages": []}, "messages"),
        ("/v1/chat/completions", {"model": "m", "messages": "hi"}, "messages"),
        ("/v1/completions", {"model": "m"}, "prompt"),
        ("/v1/completions", {"model": "m", "prompt": ""}, "prompt"),
        ("/v1/completions", {"model": "m", "prompt": [1, "a"]}, "prompt"),
        ("/v1/completions", {"model": "m", "prompt": [True]}, "prompt"),
    ],
)
def test_api_shape_is_validated_per_path(path: str, body: object, param: str) -> None:
    with pytest.raises(GatewayError) as info:
        parse_body(path, json.dumps(body).encode())
    assert info.value.status == 400
    assert info.value.param == param


@pytest.mark.parametrize(
    ("prompt", "text"),
    [
        ("Hello", "Hello"),
        (["Hel", "lo"], "Hello"),
        ([1, 2, 3], "[1,2,3]"),
        ([[1, 2], [3]], "[[1,2],[3]]"),
    ],
)
def test_completion_prompt_text(prompt: object, text: str) -> None:
    parsed = parse_body("/v1/completions", json.dumps({"model": "m", "prompt": prompt}).encode())
    assert (parsed.api, parsed.prompt) == ("completions", text)


def test_chat_prompt_is_compact_json_of_messages_and_stream_flag() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "é"}], "stream": True}
    parsed = parse_body("/v1/chat/completions?x=1", json.dumps(body).encode())
    assert parsed.api == "chat"
    assert parsed.streaming is True
    assert parsed.prompt == '[{"role":"user","content":"é"}]'


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/v1/chat/completions", "chat"),
        ("/v1/completions", "completions"),
        ("/openai/v1/chat/completions/", "chat"),
        ("/v1/embeddings", "other"),
        ("/v1/responses", "other"),
        ("/", "other"),
    ],
)
def test_api_kind_by_path_suffix(path: str, kind: str) -> None:
    assert api_kind(path) == kind


def test_other_paths_need_only_a_model() -> None:
    parsed = parse_body("/v1/embeddings", b'{"model": "e5", "input": "x", "stream": "yes"}')
    assert (parsed.model, parsed.api, parsed.streaming, parsed.prompt) == ("e5", "other", False, "")


def test_with_model_keeps_everything_else_and_key_order() -> None:
    data = {"a": 1, "model": "x", "z": "ü"}
    out = with_model(data, "y")
    assert out == '{"a":1,"model":"y","z":"ü"}'.encode()
    assert data["model"] == "x"


def test_with_model_survives_lone_surrogates() -> None:
    parsed = parse_body("/v1/embeddings", b'{"model": "x", "input": "\\ud800"}')
    out = with_model(parsed.data, "y")
    assert json.loads(out) == {"model": "y", "input": "\ud800"}


@pytest.mark.parametrize(
    ("err", "status", "etype", "code"),
    [
        (
            GatewayError(400, "bad", code="invalid_json", reason="BadRequest"),
            400,
            "invalid_request_error",
            "invalid_json",
        ),
        (payload_too_large(10), 413, "invalid_request_error", "request_too_large"),
        (
            GatewayError(429, "busy", code="rate_limit_exceeded"),
            429,
            "rate_limit_error",
            "rate_limit_exceeded",
        ),
        (GatewayError(503, "none"), 503, "server_error", None),
        (GatewayError(500, "boom", error_type="custom"), 500, "custom", None),
    ],
)
def test_error_body_is_openai_shaped(
    err: GatewayError, status: int, etype: str, code: str | None
) -> None:
    decoded = json.loads(error_body(err))
    assert err.status == status
    assert decoded == {
        "error": {"message": err.message, "type": etype, "param": err.param, "code": code}
    }


def test_payload_too_large_reason() -> None:
    err = payload_too_large(1024)
    assert (err.status, err.reason) == (413, "PayloadTooLarge")
    assert "1024" in err.message


def test_settings_are_frozen_and_strict() -> None:
    from pydantic import ValidationError

    from inference_gateway.requestcontrol import DirectorSettings

    settings = DirectorSettings()
    assert settings.max_body_bytes == 10 * 1024 * 1024
    assert settings.account_usage is True
    with pytest.raises(ValidationError):
        DirectorSettings(max_body_byte=1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        settings.account_usage = False  # type: ignore[misc]
