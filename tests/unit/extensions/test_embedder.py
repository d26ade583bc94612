"""The numpy MiniLM forward pass against an independent reference and basic semantics."""

from __future__ import annotations

import numpy as np
import pytest

from inference_gateway.requestcontrol.extensions.semantic_cache.embedder import (
    MAX_SEQ_LENGTH,
    EmbedderUnavailable,
    MiniLMEmbedder,
)

# First five dimensions of all-MiniLM-L6-v2("hello world") as published in fastembed's test
# suite (tests/test_text_onnx_embeddings.py, CANONICAL_VECTOR_VALUES), computed there with
# ONNX Runtime; our numpy pass gives [-0.034477, 0.031023, 0.006735, 0.026109, -0.039362].
HELLO_WORLD_REFERENCE = [-0.034478, 0.03102, 0.00673, 0.02611, -0.039362]


def test_matches_the_onnx_reference_vector(embedder: MiniLMEmbedder) -> None:
    vec = embedder.embed(["hello world"])[0]
    assert vec.shape == (384,)
    np.testing.assert_allclose(vec[:5], HELLO_WORLD_REFERENCE, atol=1e-4)


def test_vectors_are_unit_length_and_deterministic(embedder: MiniLMEmbedder) -> None:
    texts = ["How do I bake bread?", "The stock market fell today", "x"]
    first = embedder.embed(texts)
    again = embedder.embed(texts)
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(first, again)
    assert first.dtype == np.float32


def test_paraphrases_are_closer_than_unrelated_sentences(embedder: MiniLMEmbedder) -> None:
    bread, paraphrase, stocks = embedder.embed(
        ["How do I bake bread?", "What is the way to bake bread?", "The stock market fell today"]
    )
    similar = float(bread @ paraphrase)
    unrelated = float(bread @ stocks)
    assert similar > 0.9
    assert unrelated < 0.3
    assert similar - unrelated > 0.6


def test_padding_in_a_batch_does_not_change_a_vector(embedder: MiniLMEmbedder) -> None:
    short = "bread"
    batch = embedder.embed([short, "a much longer sentence that forces padding of the first"])
    alone = embedder.embed([short])
    np.testing.assert_allclose(batch[0], alone[0], atol=1e-5)


def test_token_count_sees_past_the_window(embedder: MiniLMEmbedder) -> None:
    assert embedder.count_tokens("hello world") == 4
    assert embedder.count_tokens("word " * 300) == 302
    assert embedder.embed(["word " * 300]).shape == (1, 384)
    assert MAX_SEQ_LENGTH == 256


def test_empty_input_gives_an_empty_matrix(embedder: MiniLMEmbedder) -> None:
    assert embedder.embed([]).shape == (0, 384)


def test_missing_model_files_are_reported(tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    with pytest.raises(EmbedderUnavailable, match="cannot load"):
        MiniLMEmbedder(tmp_path)
