"""Dense linear algebra: matmul, batched_matmul and the fused linear + bias + GELU."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import numpy as np

from ._spec import Arrays, Cost, KernelSpec, Param, Params, Tolerance
from ._util import DIM_MAX, uniform

F32_GEMM = {"float32": Tolerance(atol=2e-6, rtol=1e-4), "float16": Tolerance(atol=2e-3, rtol=1e-2)}


def _matmul_inputs(p: Params, dtype: np.dtype, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {"a": uniform(rng, (p["M"], p["K"]), dtype), "b": uniform(rng, (p["K"], p["N"]), dtype)}


def _matmul(ops: SimpleNamespace, x: Arrays, p: Params) -> dict[str, Any]:
    return {"c": ops.xp.matmul(x["a"], x["b"])}


def _mnk(p: Params) -> tuple[int, int, int]:
    return p["M"], p["N"], p["K"]


def _gemm(p: Params) -> tuple[int, int, int, int]:
    """One GEMM per batch item: ``(calls, M, N, K)``."""
    return (p.get("B", 1), *_mnk(p))


def _gemm_cost(p: Params, itemsize: int) -> Cost:
    m, n, k = _mnk(p)
    b = p.get("B", 1)
    return Cost(flops=2.0 * b * m * n * k, bytes=float(b * (m * k + k * n + m * n) * itemsize))


def _dims(test_max: int = 48) -> tuple[Param, ...]:
    return (
        Param("M", int, 64, minimum=1, maximum=DIM_MAX, test_max=test_max, doc="rows of A and C"),
        Param(
            "N", int, 64, minimum=1, maximum=DIM_MAX, test_max=test_max, doc="columns of B and C"
        ),
        Param("K", int, 64, minimum=1, maximum=DIM_MAX, test_max=test_max, doc="inner dimension"),
    )


def _square(*sizes: int) -> list[dict[str, Any]]:
    return [{"M": s, "N": s, "K": s} for s in sizes]


MATMUL = KernelSpec(
    name="matmul",
    family="gemm",
    description="C[M,N] = A[M,K] @ B[K,N]",
    params=_dims(),
    presets={
        "tiny": [{"M": 16, "N": 16, "K": 16}, {"M": 33, "N": 17, "K": 9}],
        "small": _square(64, 128, 256),
        "medium": _square(256, 512, 768, 1024),
        "large": _square(1024, 2048, 4096),
    },
    inputs=_matmul_inputs,
    impl=_matmul,
    cost=_gemm_cost,
    tolerances=F32_GEMM,
    reduction=lambda p: p["K"],
    gemm=_gemm,
    # partial 128 x 128 tiles; the simple kernel (N % 4 != 0 or K % 4 != 0) at tiny sizes
    edge_cases=({"M": 130, "N": 132, "K": 20}, {"M": 5, "N": 8, "K": 12}, {"M": 3, "N": 7, "K": 5}),
    candidates={"M": (8, 640), "N": (8, 640), "K": (8, 640), "max_flops": 2 * 512.0**3},
)


def _bmm_inputs(p: Params, dtype: np.dtype, rng: np.random.Generator) -> dict[str, np.ndarray]:
    b = p["B"]
    return {
        "a": uniform(rng, (b, p["M"], p["K"]), dtype),
        "b": uniform(rng, (b, p["K"], p["N"]), dtype),
    }


BATCHED_MATMUL = KernelSpec(
    name="batched_matmul",
    family="gemm",
    description="C[B,M,N] = A[B,M,K] @ B[B,K,N]",
    params=(Param("B", int, 4, minimum=1, maximum=4096, test_max=4, doc="batch"), *_dims(32)),
    presets={
        "tiny": [{"B": 2, "M": 16, "N": 8, "K": 12}, {"B": 3, "M": 5, "N": 7, "K": 9}],
        "small": [{"B": 8, "M": s, "N": s, "K": s} for s in (32, 64, 128)],
        "medium": [{"B": 16, "M": s, "N": s, "K": s} for s in (128, 256, 512)],
        "large": [{"B": 32, "M": s, "N": s, "K": s} for s in (512, 1024)],
    },
    inputs=_bmm_inputs,
    impl=_matmul,
    cost=_gemm_cost,
    tolerances=F32_GEMM,
    reduction=lambda p: p["K"],
    gemm=_gemm,
    edge_cases=({"B": 2, "M": 9, "N": 12, "K": 8},),
)


def gelu(ops: SimpleNamespace, x: Any) -> Any:
    """Exact (erf) GELU, the definition WebNN and PyTorch's default use."""
    return 0.5 * x * (1.0 + ops.erf(x * (1.0 / math.sqrt(2.0))))


def _linear_inputs(p: Params, dtype: np.dtype, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "x": uniform(rng, (p["M"], p["K"]), dtype),
        "w": uniform(rng, (p["K"], p["N"]), dtype, scale=1.0 / math.sqrt(p["K"])),
        "bias": uniform(rng, (p["N"],), dtype),
    }


def _linear_gelu(ops: SimpleNamespace, x: Arrays, p: Params) -> dict[str, Any]:
    y = ops.xp.matmul(x["x"], x["w"]) + x["bias"]
    return {"y": gelu(ops, y)}


def _linear_cost(p: Params, itemsize: int) -> Cost:
    m, n, k = _mnk(p)
    return Cost(
        flops=2.0 * m * n * k + 10.0 * m * n,
        bytes=float((m * k + k * n + n + m * n) * itemsize),
    )


LINEAR_GELU = KernelSpec(
    name="linear_gelu",
    family="gemm",
    description="Y = GELU(X @ W + bias), fused",
    params=_dims(),
    presets={
        "tiny": [{"M": 16, "N": 16, "K": 16}, {"M": 9, "N": 21, "K": 13}],
        "small": [{"M": 128, "N": 256, "K": 128}, {"M": 256, "N": 512, "K": 256}],
        "medium": [{"M": 512, "N": 2048, "K": 512}, {"M": 1024, "N": 1024, "K": 1024}],
        "large": [{"M": 2048, "N": 4096, "K": 1024}, {"M": 4096, "N": 4096, "K": 4096}],
    },
    inputs=_linear_inputs,
    impl=_linear_gelu,
    cost=_linear_cost,
    tolerances={
        "float32": Tolerance(atol=1e-5, rtol=1e-4),
        "float16": Tolerance(atol=3e-3, rtol=1e-2),
    },
    reduction=lambda p: p["K"],
    gemm=_gemm,
    edge_cases=({"M": 130, "N": 36, "K": 8},),
)
