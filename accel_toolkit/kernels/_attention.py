"""Scaled dot-product attention, optionally causal."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import numpy as np

from ._spec import Arrays, Cost, KernelSpec, Param, Params, Tolerance
from ._util import uniform


def _inputs(p: Params, dtype: np.dtype, rng: np.random.Generator) -> dict[str, np.ndarray]:
    shape = (p["batch"], p["heads"], p["seq"], p["head_dim"])
    return {k: uniform(rng, shape, dtype) for k in ("q", "k", "v")}


def _attention(ops: SimpleNamespace, x: Arrays, p: Params) -> dict[str, Any]:
    xp = ops.xp
    q, k, v = x["q"], x["k"], x["v"]
    s = xp.matmul(q, xp.swapaxes(k, -1, -2)) * (1.0 / math.sqrt(p["head_dim"]))
    if p["causal"]:
        n = p["seq"]
        mask = xp.triu(xp.ones((n, n), dtype=bool), k=1)
        s = xp.where(mask, -xp.inf, s)
    s = s - xp.max(s, axis=-1, keepdims=True)
    e = xp.exp(s)
    w = e / xp.sum(e, axis=-1, keepdims=True)
    return {"o": xp.matmul(w, v)}


def _cost(p: Params, itemsize: int) -> Cost:
    b, h, s, d = p["batch"], p["heads"], p["seq"], p["head_dim"]
    flops = b * h * (4.0 * s * s * d + 5.0 * s * s)
    return Cost(flops=flops, bytes=float(4 * b * h * s * d * itemsize))


def _score_passes(p: Params) -> int:
    """Elements :func:`_attention` passes through elementwise functions: the scores,
    scaled, shifted by their row max, exponentiated and divided, and masked by ``where``
    when causal."""
    return int(p["batch"] * p["heads"] * p["seq"] ** 2 * (4 + bool(p["causal"])))


def _cfg(b: int, h: int, s: int, d: int, causal: bool = False) -> dict[str, Any]:
    return {"batch": b, "heads": h, "seq": s, "head_dim": d, "causal": causal}


ATTENTION = KernelSpec(
    name="attention",
    family="attention",
    description="O = softmax(Q K^T / sqrt(d) [+ causal mask]) V",
    params=(
        Param("batch", int, 1, minimum=1, maximum=1024, test_max=2, doc="batch"),
        Param("heads", int, 4, minimum=1, maximum=256, test_max=3, doc="attention heads"),
        Param("seq", int, 64, minimum=1, maximum=1 << 16, test_max=40, doc="sequence length"),
        Param("head_dim", int, 32, minimum=1, maximum=512, test_max=40, doc="head dimension"),
        Param("causal", bool, False, doc="mask future positions"),
    ),
    presets={
        "tiny": [_cfg(1, 2, 16, 8), _cfg(1, 2, 13, 8, causal=True)],
        "small": [_cfg(1, 4, 64, 32), _cfg(1, 4, 128, 32, True), _cfg(1, 8, 128, 64)],
        "medium": [_cfg(1, 8, 256, 64), _cfg(2, 8, 512, 64, True), _cfg(1, 12, 512, 64)],
        "large": [_cfg(4, 12, 1024, 64), _cfg(4, 16, 2048, 64, True)],
    },
    inputs=_inputs,
    impl=_attention,
    cost=_cost,
    tolerances={
        "float32": Tolerance(atol=2e-6, rtol=1e-4),
        "float16": Tolerance(atol=2e-3, rtol=1e-2),
    },
    reduction=lambda p: max(p["seq"], p["head_dim"]),
    row_reductions=lambda p: 2 * p["batch"] * p["heads"] * p["seq"],  # softmax's max and sum
    ufunc_elements=_score_passes,
    # several key tiles, a partial query block, head_dim not a power of two
    edge_cases=(
        {"batch": 1, "heads": 1, "seq": 37, "head_dim": 40, "causal": True},
        {"batch": 1, "heads": 2, "seq": 35, "head_dim": 20, "causal": False},
    ),
    candidates={
        "batch": [1, 2],
        "heads": (1, 12),
        "seq": (8, 384),
        "head_dim": (8, 128),
        "causal": [False, True],
        "max_flops": 3e8,
    },
)
