"""Row-wise normalizations: numerically stable softmax, layer and RMS normalization."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np

from ._spec import Arrays, Cost, KernelSpec, Param, Params, Tolerance
from ._util import uniform

EPS = 1e-5


def _rows_cols(default_cols: int = 128) -> tuple[Param, ...]:
    return (
        Param("rows", int, 64, minimum=1, maximum=1 << 20, test_max=24, doc="independent rows"),
        Param(
            "cols",
            int,
            default_cols,
            minimum=1,
            maximum=1 << 20,
            test_max=300,
            doc="length of the normalized (last) axis",
        ),
    )


def _softmax_inputs(p: Params, dtype: np.dtype, rng: np.random.Generator) -> dict[str, np.ndarray]:
    # A wide range so that the max-subtraction matters.
    return {"x": uniform(rng, (p["rows"], p["cols"]), dtype, scale=8.0)}


def _softmax(ops: SimpleNamespace, x: Arrays, p: Params) -> dict[str, Any]:
    xp = ops.xp
    z = x["x"] - xp.max(x["x"], axis=-1, keepdims=True)
    e = xp.exp(z)
    return {"y": e / xp.sum(e, axis=-1, keepdims=True)}


def _two_per_row(p: Params) -> int:
    return int(2 * p["rows"])  # softmax: a max and a sum; layernorm: two means


def _rowwise_cost(flops_per_elem: float, extra_vectors: int = 0) -> Callable[[Params, int], Cost]:
    def cost(p: Params, itemsize: int) -> Cost:
        n = p["rows"] * p["cols"]
        return Cost(
            flops=flops_per_elem * n, bytes=float((2 * n + extra_vectors * p["cols"]) * itemsize)
        )

    return cost


def _rows_presets() -> dict[str, list[dict[str, Any]]]:
    return {
        "tiny": [{"rows": 4, "cols": 16}, {"rows": 7, "cols": 130}],
        "small": [{"rows": 256, "cols": c} for c in (128, 512, 1024)],
        "medium": [{"rows": 4096, "cols": c} for c in (512, 1024, 4096)],
        "large": [{"rows": 16384, "cols": c} for c in (1024, 4096, 8192)],
    }


#: the CUDA row kernels' code paths: warp per row (cols <= 1024 floats), block per row (up to
#: 8192), looped (longer); vector widths 4, 2 and 1 (cols % 4, % 2)
ROW_EDGES: tuple[dict[str, Any], ...] = (
    {"rows": 9, "cols": 33},
    {"rows": 3, "cols": 2052},
    {"rows": 2, "cols": 8196},
    {"rows": 2, "cols": 2049},
)

TRANSCENDENTAL = {
    "float32": Tolerance(atol=1e-6, rtol=1e-4),
    "float16": Tolerance(atol=1e-3, rtol=1e-2),
}

SOFTMAX = KernelSpec(
    name="softmax",
    family="rowwise",
    description="Y = softmax(X) over the last axis, max-subtracted",
    params=_rows_cols(),
    presets=_rows_presets(),
    inputs=_softmax_inputs,
    impl=_softmax,
    cost=_rowwise_cost(5.0),
    tolerances=TRANSCENDENTAL,
    row_reductions=_two_per_row,
    edge_cases=ROW_EDGES,
    candidates={"rows": (4, 4096), "cols": (8, 4096), "max_flops": 5.0 * 2**21},
)


def _layernorm_inputs(
    p: Params, dtype: np.dtype, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    c = p["cols"]
    return {
        "x": uniform(rng, (p["rows"], c), dtype, scale=4.0),
        "gamma": (1.0 + uniform(rng, (c,), dtype, scale=0.5)).astype(dtype),
        "beta": uniform(rng, (c,), dtype, scale=0.5),
    }


def _wide(ops: SimpleNamespace, v: Any) -> Any:
    """``v`` in float32 if it is float16: squares of |x| > 256 overflow float16, so the
    row statistics are computed in float32 (as the shaders do) and rounded once at the end."""
    return v.astype(ops.xp.float32) if v.dtype == ops.xp.float16 else v


def _layernorm(ops: SimpleNamespace, x: Arrays, p: Params) -> dict[str, Any]:
    xp = ops.xp
    v = _wide(ops, x["x"])
    mean = xp.mean(v, axis=-1, keepdims=True)
    var = xp.mean((v - mean) ** 2, axis=-1, keepdims=True)
    y = (v - mean) / xp.sqrt(var + EPS) * x["gamma"] + x["beta"]
    return {"y": y.astype(x["x"].dtype)}


LAYERNORM = KernelSpec(
    name="layernorm",
    family="rowwise",
    description=f"Y = (X - mean) / sqrt(var + {EPS}) * gamma + beta over the last axis",
    params=_rows_cols(),
    presets=_rows_presets(),
    inputs=_layernorm_inputs,
    impl=_layernorm,
    cost=_rowwise_cost(8.0, extra_vectors=2),
    tolerances={
        "float32": Tolerance(atol=2e-5, rtol=1e-4),
        "float16": Tolerance(atol=1e-2, rtol=1e-2),
    },
    row_reductions=_two_per_row,
    edge_cases=ROW_EDGES,
)


def _rmsnorm_inputs(p: Params, dtype: np.dtype, rng: np.random.Generator) -> dict[str, np.ndarray]:
    c = p["cols"]
    return {
        "x": uniform(rng, (p["rows"], c), dtype, scale=4.0),
        "gamma": (1.0 + uniform(rng, (c,), dtype, scale=0.5)).astype(dtype),
    }


def _rmsnorm(ops: SimpleNamespace, x: Arrays, p: Params) -> dict[str, Any]:
    xp = ops.xp
    v = _wide(ops, x["x"])
    mean_square = xp.mean(v * v, axis=-1, keepdims=True)
    return {"y": (v / xp.sqrt(mean_square + EPS) * x["gamma"]).astype(x["x"].dtype)}


RMSNORM = KernelSpec(
    name="rmsnorm",
    family="rowwise",
    description=f"Y = X / sqrt(mean(X^2) + {EPS}) * gamma over the last axis",
    params=_rows_cols(),
    presets=_rows_presets(),
    inputs=_rmsnorm_inputs,
    impl=_rmsnorm,
    # a square and a sum per element, then a scaling by 1/rms and by gamma; reads x and gamma
    cost=_rowwise_cost(4.0, extra_vectors=1),
    tolerances={
        "float32": Tolerance(atol=2e-5, rtol=1e-4),
        "float16": Tolerance(atol=1e-2, rtol=1e-2),
    },
    row_reductions=lambda p: p["rows"],  # one mean per row
    edge_cases=ROW_EDGES,
    candidates={"rows": (4, 4096), "cols": (8, 4096), "max_flops": 4.0 * 2**21},
)
