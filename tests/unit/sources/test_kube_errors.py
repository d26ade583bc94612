"""HTTP statuses and watch ERROR events map to our own errors, once."""

from __future__ import annotations

import pytest

from inference_gateway.sources.kubernetes.errors import (
    ApiError,
    Conflict,
    Gone,
    NotFound,
    ServerError,
    TooManyRequests,
    TransportError,
    from_response,
    from_status,
    transient,
)


@pytest.mark.parametrize(
    ("status", "kind", "retry"),
    [
        (404, NotFound, False),
        (409, Conflict, False),
        (410, Gone, False),
        (429, TooManyRequests, True),
        (500, ServerError, True),
        (503, ServerError, True),
        (403, ApiError, False),
    ],
)
def test_from_response(status: int, kind: type[ApiError], retry: bool) -> None:
    error = from_response(status, "Reason", '{"kind":"Status","message":"boom"}', {})
    assert type(error) is kind
    assert (error.status, error.message, transient(error)) == (status, "boom", retry)


def test_retry_after_and_body_truncation() -> None:
    error = from_response(429, "Too Many Requests", "x" * 5000, {"Retry-After": "7"})
    assert isinstance(error, TooManyRequests)
    assert error.retry_after == 7.0
    assert error.message == "Too Many Requests"
    assert len(error.body) == 500
    odd = from_response(429, "", "", {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert isinstance(odd, TooManyRequests) and odd.retry_after == 1.0


def test_from_status_event() -> None:
    gone = from_status({"kind": "Status", "code": 410, "message": "too old resource version"})
    assert isinstance(gone, Gone) and gone.message == "too old resource version"
    assert type(from_status({"kind": "Status"})) is ApiError
    assert transient(TransportError(0, "reset"))
