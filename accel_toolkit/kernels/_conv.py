"""2-D convolution, NCHW input, FCkk weights, square kernel, stride and zero padding."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from ..exceptions import ParameterError
from ._spec import Arrays, Cost, KernelSpec, Param, Params, Tolerance
from ._util import uniform


def out_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output extent of one spatial axis."""
    return (size + 2 * padding - kernel) // stride + 1


def _out_hw(p: Params) -> tuple[int, int]:
    """Output height and width of a resolved conv2d configuration."""
    k, s, pad = p["kernel"], p["stride"], p["padding"]
    return out_size(p["H"], k, s, pad), out_size(p["W"], k, s, pad)


def _validate(p: Params) -> None:
    for axis in ("H", "W"):
        padded = p[axis] + 2 * p["padding"]
        if p["kernel"] > padded:
            raise ParameterError(
                f"conv2d: kernel={p['kernel']} is larger than the padded input "
                f"({axis}={p[axis]} + 2*padding={p['padding']} = {padded}); use a smaller kernel, "
                f"more padding or a larger {axis}."
            )


def _inputs(p: Params, dtype: np.dtype, rng: np.random.Generator) -> dict[str, np.ndarray]:
    fan_in = p["C"] * p["kernel"] ** 2
    return {
        "x": uniform(rng, (p["N"], p["C"], p["H"], p["W"]), dtype),
        "w": uniform(rng, (p["F"], p["C"], p["kernel"], p["kernel"]), dtype, scale=fan_in**-0.5),
    }


def _conv2d(ops: SimpleNamespace, x: Arrays, p: Params) -> dict[str, Any]:
    """im2col + one batched GEMM (numpy and CuPy alike): the patches of every output pixel
    are gathered into a ``(N, C*k*k, OH*OW)`` matrix and multiplied by ``W`` as
    ``(F, C*k*k)``, so the work runs in BLAS instead of ``k*k`` small passes."""
    xp = ops.xp
    k, s, pad = p["kernel"], p["stride"], p["padding"]
    inp, w = x["x"], x["w"]
    if pad:
        inp = xp.pad(inp, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = _out_hw(p)
    n, c, f = p["N"], p["C"], p["F"]
    cols = xp.stack(
        [
            inp[:, :, i : i + s * (oh - 1) + 1 : s, j : j + s * (ow - 1) + 1 : s]
            for i in range(k)
            for j in range(k)
        ],
        axis=2,
    )  # (N, C, k*k, OH, OW)
    cols = cols.reshape(n, c * k * k, oh * ow)
    y = xp.matmul(w.reshape(f, c * k * k), cols)  # (N, F, OH*OW)
    return {"y": y.reshape(n, f, oh, ow)}


def _cost(p: Params, itemsize: int) -> Cost:
    oh, ow = _out_hw(p)
    n, c, f, k = p["N"], p["C"], p["F"], p["kernel"]
    flops = 2.0 * n * f * oh * ow * c * k * k
    nbytes = (n * c * p["H"] * p["W"] + f * c * k * k + n * f * oh * ow) * itemsize
    return Cost(flops=flops, bytes=float(nbytes))


def _scratch(p: Params, itemsize: int) -> float:
    """Bytes :func:`_conv2d` moves through its im2col matrix (written by ``stack``, read by
    the GEMM): ``k*k`` times the input at stride 1, a quarter of it for a 1x1 convolution
    at stride 2, which the input size alone cannot tell apart. (The padded copy of the
    input is left out: counting it made the speed predictor no better.)"""
    oh, ow = _out_hw(p)
    return float(2.0 * p["N"] * p["C"] * p["kernel"] ** 2 * oh * ow * itemsize)


def _gemm(p: Params) -> tuple[int, int, int, int]:
    """:func:`_conv2d`'s GEMM, one per image: ``W (F, C*k*k) @ cols (C*k*k, OH*OW)``."""
    oh, ow = _out_hw(p)
    return p["N"], p["F"], oh * ow, p["C"] * p["kernel"] ** 2


def _cfg(
    n: int, c: int, h: int, f: int, k: int, s: int = 1, pad: int | None = None
) -> dict[str, Any]:
    return {
        "N": n,
        "C": c,
        "H": h,
        "W": h,
        "F": f,
        "kernel": k,
        "stride": s,
        "padding": k // 2 if pad is None else pad,
    }


CONV2D = KernelSpec(
    name="conv2d",
    family="conv",
    description="Y[N,F,OH,OW] = conv2d(X[N,C,H,W], W[F,C,k,k]), stride, zero padding",
    params=(
        Param("N", int, 1, minimum=1, maximum=1024, test_max=2, doc="batch"),
        Param("C", int, 8, minimum=1, maximum=4096, test_max=6, doc="input channels"),
        Param("H", int, 16, minimum=1, maximum=8192, test_max=12, doc="input height"),
        Param("W", int, 16, minimum=1, maximum=8192, test_max=12, doc="input width"),
        Param("F", int, 8, minimum=1, maximum=4096, test_max=6, doc="output channels (filters)"),
        Param("kernel", int, 3, minimum=1, maximum=15, test_max=5, doc="square kernel size"),
        Param("stride", int, 1, minimum=1, maximum=8, test_max=3, doc="stride"),
        Param("padding", int, 1, minimum=0, maximum=8, test_max=3, doc="zero padding per side"),
    ),
    presets={
        "tiny": [_cfg(1, 3, 8, 4, 3), _cfg(2, 4, 7, 5, 3, s=2, pad=0)],
        "small": [_cfg(1, 16, 32, 16, 3), _cfg(1, 32, 32, 32, 3), _cfg(1, 16, 64, 32, 5)],
        "medium": [_cfg(1, 64, 56, 64, 3), _cfg(4, 64, 56, 64, 3), _cfg(1, 128, 28, 128, 3)],
        "large": [_cfg(8, 64, 112, 64, 3), _cfg(8, 256, 28, 256, 3)],
    },
    inputs=_inputs,
    impl=_conv2d,
    cost=_cost,
    scratch=_scratch,
    gemm=_gemm,
    tolerances={
        "float32": Tolerance(atol=2e-6, rtol=1e-4),
        "float16": Tolerance(atol=2e-3, rtol=1e-2),
    },
    reduction=lambda p: p["C"] * p["kernel"] ** 2,
    validate=_validate,
    # two block rows of filters, H != W; an even kernel at stride 2 without padding
    edge_cases=(
        {"N": 1, "C": 3, "H": 9, "W": 11, "F": 70, "kernel": 3, "stride": 1, "padding": 1},
        {"N": 2, "C": 2, "H": 6, "W": 5, "F": 3, "kernel": 2, "stride": 2, "padding": 0},
    ),
    candidates={
        "N": [1, 2],
        "C": (1, 48),
        "H": (6, 56),
        "F": (1, 48),
        "kernel": [1, 3, 5],
        "stride": [1, 2],
        "max_flops": 6e7,
    },
    candidate_ties={"W": lambda c: c["H"], "padding": lambda c: c["kernel"] // 2},
)
