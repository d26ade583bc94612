"""One real MiniLM embedder for the whole session (loading takes about half a second)."""

from __future__ import annotations

import pytest

from inference_gateway.requestcontrol.extensions.semantic_cache.embedder import (
    MiniLMEmbedder,
    limit_blas_threads,
)


@pytest.fixture(scope="session")
def embedder() -> MiniLMEmbedder:
    limit_blas_threads(1)
    return MiniLMEmbedder()
