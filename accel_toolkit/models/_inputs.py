"""What a model's forward takes: tokenized sentences, or seeded synthetic inputs by shape.

:class:`ModelInputs` is the one input type every backend's forward reads. ``lengths`` holds
each row's real length (the attention mask is ``position < length``): the tokenizer pads a
batch to its longest sentence, and the mask keeps the padding out of attention and pooling.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from ..exceptions import ParameterError
from ._spec import ModelSpec
from ._weights import import_optional, minilm_dir

__all__ = ["ModelInputs", "check_texts", "synthetic_inputs", "tokenize"]


@dataclass(frozen=True)
class ModelInputs:
    """One batch for a forward.

    Attributes
    ----------
    data : numpy.ndarray
        ``text``: token ids ``[batch, seq]`` (int64); ``patch``: images
        ``[batch, 3, side, side]``; ``conv``: log-mel frames ``[batch, 80, 2 * seq]`` (float32).
    lengths : numpy.ndarray
        Real length of each row in tokens ([batch], int64); the rest is padding.
    type_ids : numpy.ndarray or None
        BERT token type ids ``[batch, seq]`` (text only).
    seq : int
        The sequence length the encoder layers see (padded).
    """

    data: np.ndarray
    lengths: np.ndarray
    type_ids: np.ndarray | None
    seq: int

    @property
    def batch(self) -> int:
        """Number of rows."""
        return int(self.lengths.shape[0])

    def mask(self) -> np.ndarray:
        """The attention mask ``[batch, seq]``: True for real tokens, False for padding."""
        return np.arange(self.seq)[None, :] < self.lengths[:, None]


def check_texts(texts: Any) -> list[str]:
    """``texts`` as a non-empty list of strings, or a :class:`ParameterError` saying why not."""
    if isinstance(texts, str):
        return [texts]
    if not isinstance(texts, Sequence) or isinstance(texts, bytes):
        raise ParameterError(
            f"embed() takes a list of strings, not {type(texts).__name__}; "
            f"pass e.g. ['a sentence', 'another one']."
        )
    texts = list(texts)
    if not texts:
        raise ParameterError("embed() got an empty list of sentences; pass at least one string.")
    bad = [(i, type(t).__name__) for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        i, kind = bad[0]
        raise ParameterError(
            f"embed() takes strings only, but item {i} is a {kind}; convert it "
            f"with str() or drop it ({len(bad)} non-string item(s) in all)."
        )
    return cast(list[str], texts)


@functools.cache
def _tokenizer(path: str) -> Any:
    tok = import_optional("tokenizers").Tokenizer.from_file(path)
    tok.no_truncation()  # the file truncates at 128; the model takes up to 512 positions
    tok.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest sentence of the batch
    return tok


def tokenize(spec: ModelSpec, texts: Any) -> ModelInputs:
    """Tokenize sentences for MiniLM, padded to the batch's longest."""
    texts = check_texts(texts)
    encs = _tokenizer(str(minilm_dir() / "tokenizer.json")).encode_batch(texts)
    ids = np.array([e.ids for e in encs], dtype=np.int64)
    mask = np.array([e.attention_mask for e in encs], dtype=np.int64)
    types = np.array([e.type_ids for e in encs], dtype=np.int64)
    lengths = mask.sum(axis=1)
    if ids.shape[1] > spec.max_positions:
        worst = int(np.argmax(lengths))
        raise ParameterError(
            f"Sentence {worst} is {int(lengths[worst])} tokens long, but {spec.name} has "
            f"{spec.max_positions} positions; shorten or split it (sentence-transformers "
            f"itself truncates all-MiniLM-L6-v2 at 256 tokens)."
        )
    return ModelInputs(ids, lengths, types, int(ids.shape[1]))


def synthetic_inputs(spec: ModelSpec, batch: int, seq: int, seed: int = 0) -> ModelInputs:
    """Seeded inputs of ``batch`` rows that the encoder sees as ``seq`` tokens (no padding)."""
    if batch < 1 or seq < 1:
        raise ParameterError(f"batch and seq must be at least 1, got batch={batch}, seq={seq}.")
    if seq > spec.max_positions:
        raise ParameterError(
            f"seq={seq} is longer than {spec.name}'s {spec.max_positions} "
            f"positions; use seq <= {spec.max_positions}."
        )
    rng = np.random.default_rng(seed)
    lengths = np.full(batch, seq, dtype=np.int64)
    if spec.front == "text":
        ids = rng.integers(1000, spec.vocab, size=(batch, seq), dtype=np.int64)
        ids[:, 0], ids[:, -1] = 101, 102  # [CLS] ... [SEP]
        return ModelInputs(ids, lengths, np.zeros_like(ids), seq)
    if spec.front == "patch":
        side = math.isqrt(seq - 1)
        if side < 1 or side * side != seq - 1:
            raise ParameterError(
                f"{spec.name} sees 1 + n*n tokens (class token and an n x n grid "
                f"of patches); seq={seq} is not of that form (224x224 is 197)."
            )
        px = side * spec.patch
        img = rng.standard_normal((batch, spec.channels, px, px)).astype(np.float32)
        return ModelInputs(img, lengths, None, seq)
    mel = rng.standard_normal((batch, spec.channels, 2 * seq)).astype(np.float32)
    return ModelInputs(mel, lengths, None, seq)
