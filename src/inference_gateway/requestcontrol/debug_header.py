"""``x-gateway-debug``: why the gateway routed a request, returned to a client that asks.

The director writes the scheduler's explanation here and flow control prefixes its queueing
note; the text comes from pluggable ``explain`` functions and client-chosen names, so it is
made header-safe (printable ASCII on one line, capped) before it leaves.
"""

from __future__ import annotations

from collections.abc import Mapping

DEBUG_HEADER = "x-gateway-debug"

_MAX_DEBUG_CHARS = 2048


def debug_requested(headers: Mapping[str, str], *, enabled: bool) -> bool:
    """Whether the client asked for the header (``x-gateway-debug: true``) and it is on."""
    return enabled and headers.get(DEBUG_HEADER, "").lower() == "true"


def header_safe(text: str) -> str:
    """Printable ASCII on one line, capped: whatever an injected ``explain`` returns."""
    return "".join(c if " " <= c <= "~" else "?" for c in text[:_MAX_DEBUG_CHARS]).strip()
