"""The response path: give the client back the model name it asked for, and read usage.

Model restore is a byte replace of ``"model":"<target>"`` and ``"model": "<target>"`` (the
two spellings OpenAI-compatible servers emit) by the requested name. Streamed chunks may
cut a pattern in two, so each call holds back the shortest tail that could still be the
start of a pattern (at most one pattern length minus one byte, and only when that tail
begins with a quote that starts a pattern prefix) and prepends it to the next chunk; the
held bytes are flushed at end of stream. A client therefore sees at most ~40 bytes of a
chunk one chunk later, never reordered or lost.

Usage is read cheaply: a chunk is only JSON-decoded when it contains ``"usage":{`` (or
``"usage": {``). Buffered (non-streaming) bodies are decoded once at end of stream;
Server-Sent Events are split into ``data:`` lines, keeping a partial last line across
chunks. The last usage object seen wins (with vLLM's continuous usage stats the last one
is the complete count).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

_MARKERS = (b'"usage":{', b'"usage": {')


class ModelRestorer:
    """Streaming byte replacement of the target model name by the requested one."""

    __slots__ = ("_carry", "_keep", "_patterns")

    def __init__(self, target: str, requested: str) -> None:
        t = json.dumps(target, ensure_ascii=False).encode("utf-8")
        r = json.dumps(requested, ensure_ascii=False).encode("utf-8")
        self._patterns = ((b'"model":' + t, b'"model":' + r), (b'"model": ' + t, b'"model": ' + r))
        self._keep = max(len(p) for p, _ in self._patterns) - 1
        self._carry = b""

    def feed(self, chunk: bytes, end_of_stream: bool) -> bytes:
        data = self._carry + chunk if self._carry else chunk
        for old, new in self._patterns:
            if old in data:
                data = data.replace(old, new)
        if end_of_stream:
            self._carry = b""
            return data
        cut = self._partial_start(data)
        self._carry = data[cut:]
        return data[:cut]

    def _partial_start(self, data: bytes) -> int:
        """Index where a proper prefix of a pattern begins at the end of ``data``."""
        start = max(0, len(data) - self._keep)
        i = data.find(b'"', start)
        while i != -1:
            tail = data[i:]
            if any(old.startswith(tail) for old, _ in self._patterns):
                return i
            i = data.find(b'"', i + 1)
        return len(data)


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None


def usage_from(obj: object) -> Usage | None:
    """Token counts from a completion, chunk or Responses-API object, if it carries usage."""
    if not isinstance(obj, dict):
        return None
    usage = obj.get("usage")
    if not isinstance(usage, dict):
        inner = obj.get("response")
        usage = inner.get("usage") if isinstance(inner, dict) else None
        if not isinstance(usage, dict):
            return None
    details = (
        usage.get("prompt_tokens_details")
        or usage.get("prompt_token_details")
        or usage.get("input_tokens_details")
    )
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    return Usage(
        _int(usage.get("prompt_tokens", usage.get("input_tokens"))),
        _int(usage.get("completion_tokens", usage.get("output_tokens"))),
        _int(cached),
    )


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(slots=True)
class UsageReader:
    """Collects the usage of one response, streamed (SSE) or buffered (JSON)."""

    streaming: bool
    limit: int
    """Bytes of a buffered body (or of one partial SSE line) kept before giving up."""
    usage: Usage | None = None
    done: bool = False
    """True once end of stream was fed; later feeds are ignored."""
    _buf: bytearray = field(default_factory=bytearray)
    _overflow: bool = False

    def feed(self, chunk: bytes, end_of_stream: bool) -> None:
        if self.done:
            return
        if self.streaming:
            self._feed_sse(chunk)
        elif not self._overflow:
            self._buf += chunk
            if len(self._buf) > self.limit:
                self._overflow = True
                self._buf.clear()
        if end_of_stream:
            self.done = True
            self._finish()

    def _feed_sse(self, chunk: bytes) -> None:
        data = bytes(self._buf) + chunk if self._buf else chunk
        end = data.rfind(b"\n")
        rest = data[end + 1 :]
        # Servers send whole events per chunk, so the partial line is nearly always empty.
        self._buf = bytearray(rest) if len(rest) <= self.limit else bytearray()
        if end != -1 and any(m in data for m in _MARKERS):
            self._scan_lines(data[:end])

    def _scan_lines(self, lines: bytes) -> None:
        for line in lines.split(b"\n"):
            line = line.strip()
            if not line.startswith(b"data:") or not any(m in line for m in _MARKERS):
                continue
            found = usage_from(_decode(line[5:]))
            if found is not None:
                self.usage = found

    def _finish(self) -> None:
        if self.streaming:
            if self._buf:
                self._scan_lines(bytes(self._buf))
        elif self._buf and any(m in self._buf for m in _MARKERS):
            found = usage_from(_decode(bytes(self._buf)))
            if found is not None:
                self.usage = found
        self._buf.clear()


def _decode(raw: bytes) -> object:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None
