"""Fixtures for scheduling tests; the builders themselves live in ``helpers``."""

from __future__ import annotations

import pytest

from inference_gateway.scheduling.registry import Registry, default_registry


@pytest.fixture
def registry() -> Registry:
    return default_registry()
