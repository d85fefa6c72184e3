"""Elementwise kernels: GELU and the add-mul-relu chain."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from ._linalg import gelu
from ._spec import Arrays, Cost, KernelSpec, Param, Params, Tolerance
from ._util import uniform


def _n_param() -> tuple[Param, ...]:
    return (
        Param(
            "n", int, 1 << 16, minimum=1, maximum=1 << 28, test_max=5000, doc="number of elements"
        ),
    )


def _presets() -> dict[str, list[dict[str, Any]]]:
    return {
        "tiny": [{"n": 64}, {"n": 1000}],
        "small": [{"n": 1 << 14}, {"n": 1 << 16}, {"n": 1 << 18}],
        "medium": [{"n": 1 << 20}, {"n": 1 << 22}],
        "large": [{"n": 1 << 24}, {"n": 1 << 26}],
    }


GELU = KernelSpec(
    name="gelu",
    family="elementwise",
    description="Y = x * Phi(x), exact (erf) GELU",
    params=_n_param(),
    presets=_presets(),
    inputs=lambda p, dtype, rng: {"x": uniform(rng, (p["n"],), dtype, scale=4.0)},
    impl=lambda ops, x, p: {"y": gelu(ops, x["x"])},
    cost=lambda p, itemsize: Cost(flops=10.0 * p["n"], bytes=2.0 * p["n"] * itemsize),
    tolerances={
        "float32": Tolerance(atol=1e-6, rtol=1e-5),
        "float16": Tolerance(atol=2e-3, rtol=1e-2),
    },
    edge_cases=({"n": 3}, {"n": 1031}),  # shorter than one vector; a tail after the vectors
)


def _chain(ops: SimpleNamespace, x: Arrays, p: Params) -> dict[str, Any]:
    return {"y": ops.xp.maximum((x["a"] + x["b"]) * x["c"], 0)}


ADD_MUL_RELU = KernelSpec(
    name="add_mul_relu",
    family="elementwise",
    description="Y = relu((A + B) * C), an elementwise chain",
    params=_n_param(),
    presets=_presets(),
    inputs=lambda p, dtype, rng: {k: uniform(rng, (p["n"],), dtype) for k in ("a", "b", "c")},
    impl=_chain,
    cost=lambda p, itemsize: Cost(flops=3.0 * p["n"], bytes=4.0 * p["n"] * itemsize),
    tolerances={
        "float32": Tolerance(atol=1e-7, rtol=1e-6),
        "float16": Tolerance(atol=1e-3, rtol=2e-3),
    },
    edge_cases=({"n": 3}, {"n": 1031}),
)
