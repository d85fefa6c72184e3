"""Model architectures: the shapes of each model and the registry of names.

A model is a small graph of the library's kernels (linear, linear_gelu, layernorm, attention,
pooling) with weights; :class:`ModelSpec` says which graph and what sizes::

    >>> from accel_toolkit.models import get_model_spec
    >>> get_model_spec("minilm-l6").hidden
    384
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from ..exceptions import UnknownModelError

__all__ = ["MODELS", "ModelSpec", "UnknownModelError", "get_model_spec", "model_names"]


@dataclass(frozen=True)
class ModelSpec:
    """The architecture of one model.

    Parameters
    ----------
    name : str
        Registry name, e.g. ``"minilm-l6"``; results store it as ``kernel = 'model:<name>'``.
    front : str
        Front end: ``"text"`` (token, position and type embeddings), ``"patch"`` (ViT's
        16x16 patches and a class token) or ``"conv"`` (Whisper's two 1-D convolutions).
    hidden, heads, layers, ffn : int
        Width, attention heads, encoder layers and feed-forward width.
    max_positions : int
        Length of the position table: the longest sequence the model takes.
    eps : float
        LayerNorm epsilon.
    pre_norm : bool
        LayerNorm before attention and FFN (ViT, Whisper) or after the residual (BERT).
    random_weights : bool
        True where the weights are seeded random numbers (speed only, no meaning).
    """

    name: str
    front: str
    hidden: int
    heads: int
    layers: int
    ffn: int
    max_positions: int
    eps: float
    pre_norm: bool
    random_weights: bool
    vocab: int = 0
    type_vocab: int = 0
    patch: int = 0
    channels: int = 0
    description: str = ""

    @property
    def head_dim(self) -> int:
        """Width of one attention head."""
        return self.hidden // self.heads

    @property
    def label(self) -> str:
        """The name, marked ``(random weights)`` where the weights are random."""
        return f"{self.name} (random weights)" if self.random_weights else self.name

    def default_seq(self) -> int:
        """The sequence length the model is usually run at."""
        return {"text": 128, "patch": 197, "conv": 1500}[self.front]


MINILM_L6 = ModelSpec(
    name="minilm-l6",
    front="text",
    hidden=384,
    heads=12,
    layers=6,
    ffn=1536,
    max_positions=512,
    eps=1e-12,
    pre_norm=False,
    random_weights=False,
    vocab=30522,
    type_vocab=2,
    description="sentence-transformers all-MiniLM-L6-v2: BERT encoder, mean pooling, L2 norm",
)
VIT_B16 = ModelSpec(
    name="vit-b16",
    front="patch",
    hidden=768,
    heads=12,
    layers=12,
    ffn=3072,
    max_positions=197,
    eps=1e-12,
    pre_norm=True,
    random_weights=True,
    patch=16,
    channels=3,
    description="ViT-B/16 (224x224 image, 196 patches + class token); seeded random weights",
)
WHISPER_TINY_ENCODER = ModelSpec(
    name="whisper-tiny-encoder",
    front="conv",
    hidden=384,
    heads=6,
    layers=4,
    ffn=1536,
    max_positions=1500,
    eps=1e-5,
    pre_norm=True,
    random_weights=True,
    channels=80,
    description="Whisper tiny encoder (80 mel bins, two conv1d, 1500 frames); "
    "seeded random weights",
)

MODELS: dict[str, ModelSpec] = {m.name: m for m in (MINILM_L6, VIT_B16, WHISPER_TINY_ENCODER)}


def model_names() -> list[str]:
    """Names of every model, in registry order."""
    return list(MODELS)


def get_model_spec(name: str) -> ModelSpec:
    """The architecture of model ``name``; an unknown name suggests the nearest one."""
    try:
        return MODELS[name]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(name), list(MODELS), n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownModelError(
            f"Unknown model {name!r}.{hint} Known models: {', '.join(MODELS)}."
        ) from None
