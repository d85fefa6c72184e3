"""Symmetric per-channel int8 quantization, dequantization and the int8 matmul.

Conventions (the same on every backend):

* a channel is a row: ``scale[r] = max(|x[r, :]|) / 127`` (1.0 for an all-zero row);
* ``q = clamp(round_half_even(x / scale), -127, 127)`` as int8;
* ``dequantize(q, scale) = q * scale[:, None]``;
* ``matmul_int8(A, B, sa, sb) = (A @ B accumulated in int32) * sa[:, None] * sb[None, :]``
  with ``sa`` per row of A and ``sb`` per column of B.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from ._spec import Arrays, Cost, KernelSpec, Param, Params, Tolerance
from ._util import int8s, uniform


def _rc() -> tuple[Param, ...]:
    return (
        Param("rows", int, 64, minimum=1, maximum=1 << 20, test_max=24, doc="channels"),
        Param("cols", int, 256, minimum=1, maximum=1 << 20, test_max=300, doc="values per channel"),
    )


def _presets() -> dict[str, list[dict[str, Any]]]:
    return {
        "tiny": [{"rows": 4, "cols": 16}, {"rows": 5, "cols": 77}],
        "small": [{"rows": 256, "cols": c} for c in (256, 1024)],
        "medium": [{"rows": 4096, "cols": c} for c in (1024, 4096)],
        "large": [{"rows": 16384, "cols": 4096}],
    }


def _quantize(ops: SimpleNamespace, x: Arrays, p: Params) -> dict[str, Any]:
    xp = ops.xp
    v = x["x"]
    amax = xp.max(xp.abs(v), axis=-1)
    scale = xp.where(amax > 0, amax / 127.0, 1.0).astype(v.dtype)
    q = xp.clip(xp.rint(v / scale[:, None]), -127, 127).astype(xp.int8)
    return {"q": q, "scale": scale}


QUANT_TOL = {
    "q": {"float32": Tolerance(atol=1.0, rtol=0.0), "float16": Tolerance(atol=1.0, rtol=0.0)},
}

QUANTIZE_INT8 = KernelSpec(
    name="quantize_int8",
    family="quant",
    description="Q, scale = symmetric per-row int8 quantization of X",
    params=_rc(),
    presets=_presets(),
    inputs=lambda p, dtype, rng: {"x": uniform(rng, (p["rows"], p["cols"]), dtype, scale=3.0)},
    impl=_quantize,
    cost=lambda p, itemsize: Cost(
        flops=4.0 * p["rows"] * p["cols"],
        bytes=float(p["rows"] * p["cols"] * (itemsize + 1) + p["rows"] * itemsize),
    ),
    tolerances={
        "float32": Tolerance(atol=1e-7, rtol=1e-5),
        "float16": Tolerance(atol=1e-4, rtol=2e-3),
    },
    output_dtypes={"q": "int8"},
    # one rounding step: x/scale may land on the other side of .5 by one ulp on a GPU
    output_tolerances=QUANT_TOL,
    row_reductions=lambda p: p["rows"],  # the max of |x| per row
    edge_cases=({"rows": 9, "cols": 33}, {"rows": 3, "cols": 2052}, {"rows": 2, "cols": 8196}),
)


def _dq_inputs(p: Params, dtype: np.dtype, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "q": int8s(rng, (p["rows"], p["cols"])),
        "scale": (np.asarray(rng.random(p["rows"], dtype="float32")) * 0.05 + 1e-3).astype(dtype),
    }


DEQUANTIZE_INT8 = KernelSpec(
    name="dequantize_int8",
    family="quant",
    description="X = Q * scale[:, None] (per-row int8 dequantization)",
    params=_rc(),
    presets=_presets(),
    inputs=_dq_inputs,
    impl=lambda ops, x, p: {"x": x["q"].astype(x["scale"].dtype) * x["scale"][:, None]},
    cost=lambda p, itemsize: Cost(
        flops=1.0 * p["rows"] * p["cols"],
        bytes=float(p["rows"] * p["cols"] * (itemsize + 1) + p["rows"] * itemsize),
    ),
    tolerances={
        "float32": Tolerance(atol=1e-7, rtol=1e-6),
        "float16": Tolerance(atol=1e-4, rtol=2e-3),
    },
    edge_cases=({"rows": 3, "cols": 6},),
)


def _mm8_inputs(p: Params, dtype: np.dtype, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "a": int8s(rng, (p["M"], p["K"])),
        "b": int8s(rng, (p["K"], p["N"])),
        "scale_a": (np.asarray(rng.random(p["M"], dtype="float32")) * 0.02 + 1e-3).astype(dtype),
        "scale_b": (np.asarray(rng.random(p["N"], dtype="float32")) * 0.02 + 1e-3).astype(dtype),
    }


def _matmul_int8(ops: SimpleNamespace, x: Arrays, p: Params) -> dict[str, Any]:
    xp = ops.xp
    acc = xp.matmul(x["a"].astype(xp.int32), x["b"].astype(xp.int32))
    fdt = x["scale_a"].dtype
    # int32 sums overflow float16: scale in float32, then round once to the output dtype.
    wide = xp.float32 if fdt == xp.float16 else fdt
    c = acc.astype(wide) * x["scale_a"].astype(wide)[:, None] * x["scale_b"].astype(wide)[None, :]
    return {"c": c.astype(fdt)}


MATMUL_INT8 = KernelSpec(
    name="matmul_int8",
    family="gemm",
    description="C = (int8 A @ int8 B, int32 accumulate) * scale_a[:, None] * scale_b[None, :]",
    params=(
        Param("M", int, 64, minimum=1, maximum=1 << 16, test_max=40, doc="rows of A"),
        Param("N", int, 64, minimum=1, maximum=1 << 16, test_max=40, doc="columns of B"),
        Param("K", int, 64, minimum=1, maximum=1 << 16, test_max=64, doc="inner dimension"),
    ),
    presets={
        "tiny": [{"M": 16, "N": 16, "K": 16}, {"M": 7, "N": 9, "K": 13}],
        "small": [{"M": s, "N": s, "K": s} for s in (64, 128, 256)],
        "medium": [{"M": s, "N": s, "K": s} for s in (512, 1024)],
        "large": [{"M": s, "N": s, "K": s} for s in (2048, 4096)],
    },
    inputs=_mm8_inputs,
    impl=_matmul_int8,
    cost=lambda p, itemsize: Cost(
        flops=2.0 * p["M"] * p["N"] * p["K"],
        bytes=float(
            p["M"] * p["K"] + p["K"] * p["N"] + (p["M"] * p["N"] + p["M"] + p["N"]) * itemsize
        ),
    ),
    # The integer accumulation is exact; only the two float scalings round.
    tolerances={
        "float32": Tolerance(atol=1e-7, rtol=1e-5),
        "float16": Tolerance(atol=1e-3, rtol=2e-3),
    },
    edge_cases=({"M": 70, "N": 65, "K": 37},),  # partial 64 x 64 tiles, K not a multiple of 4
)
