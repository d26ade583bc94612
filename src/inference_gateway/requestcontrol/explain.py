"""A one-line account of a scheduling decision, for the ``x-gateway-debug`` header and logs.

Header values must be printable ASCII on one line, so anything else is replaced and the
text is capped; the full explanation still goes to the DEBUG log.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from inference_gateway.scheduling.types import Decision

MAX_HEADER_CHARS = 2048


def format_explanation(decision: Decision) -> str:
    """``endpoint=<name>@<ip:port>; profile=<p>; <key>=<compact JSON>; ...``."""
    parts = []
    if decision.endpoints:
        primary = decision.primary
        parts.append(f"endpoint={primary.name}@{primary.hostport}")
        if len(decision.endpoints) > 1:
            rest = ",".join(e.hostport for e in decision.endpoints[1:])
            parts.append(f"fallbacks={rest}")
    parts.append(f"profile={decision.profile}")
    parts.extend(f"{k}={_compact(v)}" for k, v in decision.explanation.items())
    return "; ".join(parts)


def _compact(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        value = dict(value)
    try:
        return json.dumps(value, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        return str(value)


def header_safe(text: str) -> str:
    """``text`` as a header value: printable ASCII only, at most ``MAX_HEADER_CHARS``."""
    safe = "".join(c if " " <= c <= "~" else "?" for c in text[:MAX_HEADER_CHARS])
    return safe.strip()
