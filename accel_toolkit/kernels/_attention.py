"""Scaled dot-product attention, optionally causal."""

from __future__ import annotations

import math

from ._spec import Cost, KernelSpec, Param, Tolerance
from ._util import uniform


def _inputs(p, dtype, rng):
    shape = (p["batch"], p["heads"], p["seq"], p["head_dim"])
    return {k: uniform(rng, shape, dtype) for k in ("q", "k", "v")}


def _attention(ops, x, p):
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


def _cost(p, itemsize: int) -> Cost:
    b, h, s, d = p["batch"], p["heads"], p["seq"], p["head_dim"]
    flops = b * h * (4.0 * s * s * d + 5.0 * s * s)
    return Cost(flops=flops, bytes=float(4 * b * h * s * d * itemsize))


def _score_passes(p) -> int:
    """Elements :func:`_attention` passes through elementwise functions: the scores,
    scaled, shifted by their row max, exponentiated and divided, and masked by ``where``
    when causal."""
    return p["batch"] * p["heads"] * p["seq"] ** 2 * (4 + bool(p["causal"]))


def _cfg(b, h, s, d, causal=False):
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
    tolerances={"float32": Tolerance(atol=2e-6, rtol=1e-4), "float16": Tolerance(atol=2e-3, rtol=1e-2)},
    reduction=lambda p: max(p["seq"], p["head_dim"]),
    row_reductions=lambda p: 2 * p["batch"] * p["heads"] * p["seq"],  # softmax's max and sum
    ufunc_elements=_score_passes,
)
