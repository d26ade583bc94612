"""Placeholder; filled in by the part that owns these commands."""

from __future__ import annotations

import typer


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add this module's commands to ``app`` (and benchmarks to ``bench``)."""
