"""Upstream's EPP command line, as Go's ``flag`` and ``pflag`` parse it, in front of click.

Upstream's manifests and Helm chart pass arguments the way Go flag packages read them:
booleans as ``--flag``, ``--flag=true`` or ``--flag=false`` (never ``--flag false``),
durations as ``50ms`` or ``1m30s``, and (Go's ``flag``, up to v1.0) long flags with one dash.
``GoFlagsCommand`` rewrites those spellings into click's before click parses (``--x=false``
becomes ``--no-x``), so every chart of v1.0-v1.5 starts the command unchanged. v1.5.0's chart
writes some values with literal quotes (``--total-queued-requests-metric="sglang:..."``, a YAML
list item with no shell to remove them); the quotes are removed and that is logged.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

import typer
from typer.core import TyperCommand

log = logging.getLogger(__name__)

_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}
_UNITS["h"] = 3600.0
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def go_bool(text: str) -> bool:
    """``strconv.ParseBool``: the spellings Go accepts, nothing else."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"invalid boolean {text!r} (Go accepts true/false/1/0/t/f)")


def go_duration(text: str) -> float:
    """``time.ParseDuration`` in seconds: ``50ms``, ``1m30s``, ``-1.5h``; ``0`` alone is 0."""
    body = text.strip()
    sign = -1.0 if body.startswith("-") else 1.0
    body = body.lstrip("+-")
    if body == "0":
        return 0.0
    total, pos = 0.0, 0
    while pos < len(body):
        m = _DURATION_PART.match(body, pos)
        if m is None:
            raise ValueError(f"invalid duration {text!r} (for example 50ms, 5s, 1m30s)")
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not body:
        raise ValueError(f"invalid duration {text!r}")
    return sign * total


def duration_option(value: str | None) -> float | None:
    """A typer ``parser`` turning a Go duration into seconds (None stays None)."""
    if value is None:
        return None
    try:
        return go_duration(value)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None


def normalise(args: Iterable[str], bools: set[str], longs: set[str]) -> list[str]:
    """Go flag spellings -> click's. ``bools``: flag names (no dashes) that click declares
    as ``--x/--no-x``; ``longs``: every long flag name, for the one-dash form."""
    out: list[str] = []
    pending_bool: str | None = None
    for arg in args:
        if pending_bool is not None:
            name, pending_bool = pending_bool, None
            if arg in _TRUE or arg in _FALSE:
                # "--flag false": Go would set the flag and stop at "false"; a values file
                # that renders a bool flag as two items means the value, so it is read as one.
                out[-1] = f"--{name}" if go_bool(arg) else f"--no-{name}"
                continue
        if arg == "--":
            out.append(arg)
            continue
        if arg.startswith("-") and not arg.startswith("--") and len(arg) > 2:
            name = arg[1:].partition("=")[0]
            if name in longs:
                arg = "-" + arg  # Go's flag package takes -name as --name
        if not arg.startswith("--") or "=" not in arg:
            if arg.startswith("--") and arg[2:] in bools:
                pending_bool = arg[2:]
            out.append(arg)
            continue
        name, _, value = arg[2:].partition("=")
        if name in bools:
            try:
                out.append(f"--{name}" if go_bool(value) else f"--no-{name}")
            except ValueError as e:
                raise typer.BadParameter(str(e), param_hint=f"--{name}") from None
            continue
        if len(value) >= 2 and value[0] == value[-1] == '"':
            log.warning("--%s: removed the quotes around %s (a chart quirk)", name, value)
            value = value[1:-1]
        out.append(f"--{name}={value}")
    return out


class GoFlagsCommand(TyperCommand):
    """A typer command that reads Go flag spellings too (see the module docstring)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        # Typer vendors its own click: read the options by their attributes, not their class.
        bools: set[str] = set()
        longs: set[str] = set()
        for param in self.params:
            opts: list[str] = list(getattr(param, "opts", ()))
            names = [o[2:] for o in opts if o.startswith("--")]
            longs.update(names)
            longs.update(o[1:] for o in opts if o.startswith("-") and len(o) > 2)
            if getattr(param, "is_flag", False) and getattr(param, "secondary_opts", None):
                bools.update(names)
        result: list[str] = super().parse_args(ctx, normalise(args, bools, longs))
        return result


class IgnoredFlags:
    """Upstream flags that change nothing here: each is logged once, when it was given."""

    def __init__(self) -> None:
        self._logged: set[str] = set()

    def report(self, given: dict[str, Any], why: dict[str, str]) -> list[str]:
        """Log each given (not None) flag of ``given``; returns the names logged now."""
        now: list[str] = []
        for name, value in given.items():
            if value is None or name in self._logged:
                continue
            self._logged.add(name)
            now.append(name)
            log.info("--%s=%s accepted and ignored: %s", name, value, why.get(name, "no effect"))
        return now
