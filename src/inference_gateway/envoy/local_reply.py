"""Envoy's own error replies rewritten into the gateway's one OpenAI error shape.

Envoy answers some requests itself: no healthy upstream (503 ``UH``), a refused or reset
upstream connection (503 ``UF``/``UC``/``URX``), an upstream timeout (504 ``UT``), no route
(404 ``NR``), oversized headers (431) and bodies (413), a failed ext_proc processor (see
``EXT_PROC_ERROR_STATUS``). Out of
the box those are ``text/plain`` (``upstream connect error or disconnect/reset before
headers...``), which an OpenAI SDK surfaces as a bare string. The connection manager's
``local_reply_config`` maps each to ``{"error": {"message", "type", "param", "code"}}``
with the same ``type`` per status as the EPP's errors (``requestcontrol.errors``), the
integer status as ``code`` (typed JSON: a lone ``%RESPONSE_CODE%`` renders as a number),
Envoy's own text as ``message``, and ``Retry-After`` on 429 and 503.

The EPP's answers are local replies too (an ext_proc ImmediateResponse goes through the
same ``sendLocalReply``), and they are already in that shape, so a mapper only matches a
reply that carries an Envoy response flag, which an ImmediateResponse never sets; and no
``body_format`` applies to unmatched replies, so those bodies pass through untouched.
Pod responses are not local replies and are never rewritten.
"""

from __future__ import annotations

from typing import Any

from inference_gateway.requestcontrol.errors import (
    RETRY_AFTER_SECONDS,
    RETRY_STATUSES,
    error_type,
)

EXT_PROC_ERROR_STATUS = 502
"""What the ext_proc filters answer when their processor fails (``status_on_error``): an
EPP or BBR down under FailClose, a broken stream, a message timeout. Envoy sets no response
flag on that reply, so it could not be told from the EPP's own answers; the EPP never
answers 502, so this status marks it, and the mapping turns it into a JSON 503."""
EXT_PROC_ERROR_MESSAGE = "the gateway's endpoint picker is unavailable"

MAPPED_STATUSES = (400, 403, 404, 408, 413, 429, 431, 500, 502, 503, 504)
"""Statuses Envoy generates itself in this gateway's configuration; any other flagged
local reply falls to the catch-all mapper (typed by class, 4xx or 5xx)."""


def _by_status(op: str, status: int) -> dict[str, Any]:
    compare = {"op": op, "value": {"default_value": status, "runtime_key": ""}}
    return {"status_code_filter": {"comparison": compare}}


def _flagged(op: str, status: int) -> dict[str, Any]:
    return {"and_filter": {"filters": [_by_status(op, status), {"response_flag_filter": {}}]}}


def _mapper(status: int, *, op: str = "EQ", message: str = "%LOCAL_REPLY_BODY%") -> dict[str, Any]:
    error = {
        "message": message,
        "type": error_type(status),
        "param": None,
        "code": "%RESPONSE_CODE%",
    }
    mapper: dict[str, Any] = {
        "filter": _flagged(op, status),
        "body_format_override": {
            "json_format": {"error": error},
            "content_type": "application/json",
        },
    }
    if op == "EQ" and status in RETRY_STATUSES:
        mapper["headers_to_add"] = [
            {
                "header": {"key": "retry-after", "value": str(RETRY_AFTER_SECONDS)},
                "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
            }
        ]
    return mapper


def local_reply_config() -> dict[str, Any]:
    """The ``HttpConnectionManager.local_reply_config`` every listener of the gateway uses.

    One mapper per status Envoy generates, then catch-alls for any other flagged 5xx and
    4xx reply (``error_type`` of 500 and 400).
    """
    mappers = [_mapper(status) for status in MAPPED_STATUSES]
    mappers += [_mapper(500, op="GE"), _mapper(400, op="GE")]
    # After the flagged 502 mapper: an unflagged 502 is an ext_proc failure, made a 503.
    unavailable = _mapper(503, message=EXT_PROC_ERROR_MESSAGE)
    unavailable["filter"] = _by_status("EQ", EXT_PROC_ERROR_STATUS)
    unavailable["status_code"] = 503
    mappers.append(unavailable)
    return {"mappers": mappers}
