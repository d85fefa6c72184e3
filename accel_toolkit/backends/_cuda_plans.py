"""Which CUDA kernel of ``shaders/cuda/`` runs a configuration, and how it is launched.

Pure Python (no CuPy): a :class:`Plan` names the source file, the C++ name expression of the
template instance (``"softmax_cached<float, 4, 2, 32>"``), grid, block, the argument list and
the outputs to allocate. :func:`expressions` lists every instance a plan can ask for, so the
sources can be compiled ahead (``tests/test_cuda_backend.py`` checks them with ``nvcc``).

Conventions of the ``.cu`` files: float16 is stored as ``half_t`` (raw IEEE bits, float32
math); int8 as ``signed char``; every array is C-contiguous; one ``__global__`` template per
kernel variant, instantiated through NVRTC name expressions.

The registry :data:`CUDA_PLANS` holds, for each kernel name, a :class:`CudaKernel`: the
function that plans its launches and the one that lists the template instances it may ask
for. The registrations are the explicit calls at the end of this module.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._assets import asset_dir
from ..exceptions import UnsupportedKernelError
from ..kernels import Registry
from ..kernels._conv import out_size
from ..kernels._normalization import EPS

__all__ = [
    "CUDA_PLANS",
    "CudaKernel",
    "Launch",
    "Plan",
    "cuda_source",
    "expressions",
    "plan",
    "source_path",
]

#: the float dtypes and their C++ storage types
CTYPES = {"float32": "float", "float16": "half_t"}
_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"\s*$', re.M)
THREADS = 256
_NC = (1, 2, 4, 8)  # register vectors per thread of the cached row kernels


def source_path(file: str) -> Path:
    """Path of ``shaders/cuda/<file>``."""
    p = asset_dir("shaders") / "cuda" / file
    if not p.is_file():
        raise FileNotFoundError(f"No CUDA source {file!r} in {p.parent}.")
    return p


def cuda_source(file: str) -> str:
    """The source of ``file`` with its local ``#include "x.cuh"`` lines inlined (once each).

    CuPy caches compiled modules by source text, so inlining the headers makes the cache
    key change whenever a header does.
    """
    seen: set[str] = set()

    def expand(name: str) -> str:
        if name in seen:
            return ""
        seen.add(name)
        text = source_path(name).read_text(encoding="utf-8")
        text = text.replace("#pragma once", "")
        return _INCLUDE.sub(lambda m: expand(m.group(1)) + f"\n// ---- end of {m.group(1)}\n", text)

    return expand(file)


@dataclass(frozen=True)
class Launch:
    """One kernel launch: ``args`` are array names (str) or numpy scalars, in order."""

    file: str
    expr: str
    grid: tuple[int, int, int]
    block: tuple[int, int, int]
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Plan:
    """The launches of one configuration and the outputs they write."""

    launches: tuple[Launch, ...]
    outputs: Mapping[str, tuple[tuple[int, ...], str]] = field(default_factory=dict)

    @property
    def expressions(self) -> list[str]:
        return [x.expr for x in self.launches]


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _pow2_at_least(n: int) -> int:
    return 1 << max(0, math.ceil(math.log2(max(1, n))))


def _vw(cols: int) -> int:
    return 4 if cols % 4 == 0 else 2 if cols % 2 == 0 else 1


def _rows_variant(name: str, t: str, rows: int, cols: int) -> tuple[str, tuple[int, int, int]]:
    """Expression and grid of a row-wise kernel: warp per row, block per row, or looped."""
    vw = _vw(cols)
    nvec = cols // vw
    if nvec <= 32 * _NC[-1]:
        nc = _pow2_at_least(_cdiv(nvec, 32))
        return f"{name}_cached<{t}, {vw}, {nc}, 32>", (_cdiv(rows, THREADS // 32), 1, 1)
    if nvec <= THREADS * _NC[-1]:
        nc = _pow2_at_least(_cdiv(nvec, THREADS))
        return f"{name}_cached<{t}, {vw}, {nc}, {THREADS}>", (rows, 1, 1)
    return f"{name}_looped<{t}, {vw}>", (rows, 1, 1)


def _i32(*xs: int) -> tuple[np.int32, ...]:
    return tuple(np.int32(x) for x in xs)


def _gemm(
    file: str, prefix: str, t: str, m: int, n: int, k: int, batch: int, arrays: tuple[str, ...]
) -> Launch:
    if k % 4 == 0 and n % 4 == 0:
        return Launch(
            file,
            f"{prefix}_tile128<{t}>",
            (_cdiv(n, 128), _cdiv(m, 128), batch),
            (THREADS, 1, 1),
            (*arrays, *_i32(m, n, k)),
        )
    return Launch(
        file,
        f"{prefix}_simple<{t}>",
        (_cdiv(n, 16), _cdiv(m, 16), batch),
        (THREADS, 1, 1),
        (*arrays, *_i32(m, n, k)),
    )


def _stride_grid(nvec: int, sm_count: int) -> tuple[int, int, int]:
    return (max(1, min(_cdiv(nvec, THREADS), sm_count * 32)), 1, 1)


PlanFn = Callable[[Mapping[str, Any], str, str, int], Plan]


@dataclass(frozen=True)
class CudaKernel:
    """How one kernel runs on CUDA.

    Attributes
    ----------
    plan : callable
        ``plan(params, ctype, dtype, sm_count) -> Plan``: ``ctype`` is the C++ storage type
        of ``dtype`` (``"float"``, ``"half_t"``).
    instances : callable
        ``instances(ctype) -> [(file, name expression), ...]``: every template instance
        ``plan`` may ask for with that storage type.
    """

    plan: PlanFn
    instances: Callable[[str], list[tuple[str, str]]]


# -- GEMMs -----------------------------------------------------------------------------------
def _gemm_kernel(
    kernel: str, arrays: tuple[str, ...], out: str, batched: bool = False
) -> CudaKernel:
    """A kernel that is one GEMM of ``gemm.cuh`` (tile128 when K and N are multiples of 4)."""

    def plan_(p: Mapping[str, Any], t: str, f: str, sm_count: int) -> Plan:
        b, m, n, k = (p["B"] if batched else 1), p["M"], p["N"], p["K"]
        shape = (b, m, n) if batched else (m, n)
        return Plan((_gemm(f"{kernel}.cu", kernel, t, m, n, k, b, arrays),), {out: (shape, f)})

    def instances(t: str) -> list[tuple[str, str]]:
        return [(f"{kernel}.cu", f"{kernel}_{v}<{t}>") for v in ("tile128", "simple")]

    return CudaKernel(plan_, instances)


def _conv2d(p: Mapping[str, Any], t: str, f: str, sm_count: int) -> Plan:
    ks, s, pad = p["kernel"], p["stride"], p["padding"]
    oh = out_size(p["H"], ks, s, pad)
    ow = out_size(p["W"], ks, s, pad)
    pixels = p["N"] * oh * ow
    args = ("x", "w", "y", *_i32(p["N"], p["C"], p["H"], p["W"], p["F"], ks, s, pad, oh, ow))
    grid = (_cdiv(pixels, 64), _cdiv(p["F"], 64), 1)
    return Plan(
        (Launch("conv2d.cu", f"conv2d_igemm<{t}>", grid, (THREADS, 1, 1), args),),
        {"y": ((p["N"], p["F"], oh, ow), f)},
    )


def _matmul_int8(p: Mapping[str, Any], t: str, f: str, sm_count: int) -> Plan:
    m, n, k = p["M"], p["N"], p["K"]
    return Plan(
        (
            Launch(
                "matmul_int8.cu",
                f"matmul_int8_dp4a<{t}>",
                (_cdiv(n, 64), _cdiv(m, 64), 1),
                (THREADS, 1, 1),
                ("a", "b", "scale_a", "scale_b", "c", *_i32(m, n, k)),
            ),
        ),
        {"c": ((m, n), f)},
    )


# -- row-wise --------------------------------------------------------------------------------
RowOutputs = Callable[[int, int, str], dict[str, tuple[tuple[int, ...], str]]]


def _row_kernel(
    kernel: str, arrays: tuple[str, ...], outputs: RowOutputs, eps: float | None = None
) -> CudaKernel:
    """A ``<kernel>_cached`` / ``<kernel>_looped`` pair of row kernels (see :func:`_rows_variant`):
    arguments ``(*arrays, rows, cols[, eps])``."""

    def plan_(p: Mapping[str, Any], t: str, f: str, sm_count: int) -> Plan:
        rows, cols = p["rows"], p["cols"]
        expr, grid = _rows_variant(kernel, t, rows, cols)
        args = (*arrays, *_i32(rows, cols), *(() if eps is None else (np.float32(eps),)))
        return Plan(
            (Launch(f"{kernel}.cu", expr, grid, (THREADS, 1, 1), args),), outputs(rows, cols, f)
        )

    def instances(t: str) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for vw in (1, 2, 4):
            out += [
                (f"{kernel}.cu", f"{kernel}_cached<{t}, {vw}, {nc}, {g}>")
                for g in (32, THREADS)
                for nc in _NC
            ]
            out.append((f"{kernel}.cu", f"{kernel}_looped<{t}, {vw}>"))
        return out

    return CudaKernel(plan_, instances)


def _same_as_x(rows: int, cols: int, f: str) -> dict[str, tuple[tuple[int, ...], str]]:
    return {"y": ((rows, cols), f)}


def _q_and_scale(rows: int, cols: int, f: str) -> dict[str, tuple[tuple[int, ...], str]]:
    return {"q": ((rows, cols), "int8"), "scale": ((rows,), f)}


def _reduce(p: Mapping[str, Any], t: str, f: str, sm_count: int) -> Plan:
    rows, cols = p["rows"], p["cols"]
    is_max = "true" if p["op"] == "max" else "false"
    if p["axis"] == 1:
        vw = _vw(cols)
        group = 32 if cols // vw <= 512 else THREADS
        expr = f"reduce_rows<{t}, {vw}, {group}, {is_max}>"
        grid = (_cdiv(rows, THREADS // group), 1, 1)
        args = ("x", "y", *_i32(rows, cols))
        return Plan((Launch("reduce.cu", expr, grid, (THREADS, 1, 1), args),), {"y": ((rows,), f)})
    return Plan(
        (
            Launch(
                "reduce.cu",
                f"reduce_cols<{t}, {is_max}>",
                (_cdiv(cols, 32), 1, 1),
                (32, 8, 1),
                ("x", "y", *_i32(rows, cols)),
            ),
        ),
        {"y": ((cols,), f)},
    )


def _reduce_instances(t: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for m in ("false", "true"):
        out += [
            ("reduce.cu", f"reduce_rows<{t}, {vw}, {g}, {m}>")
            for vw in (1, 2, 4)
            for g in (32, THREADS)
        ]
        out.append(("reduce.cu", f"reduce_cols<{t}, {m}>"))
    return out


# -- elementwise and attention ---------------------------------------------------------------
def _dequantize(p: Mapping[str, Any], t: str, f: str, sm_count: int) -> Plan:
    rows, cols = p["rows"], p["cols"]
    vw = _vw(cols)
    return Plan(
        (
            Launch(
                "dequantize_int8.cu",
                f"dequantize_int8<{t}, {vw}>",
                _stride_grid(rows * cols // vw, sm_count),
                (THREADS, 1, 1),
                ("q", "scale", "x", *_i32(rows, cols)),
            ),
        ),
        {"x": ((rows, cols), f)},
    )


def _elementwise(kernel: str, arrays: tuple[str, ...]) -> CudaKernel:
    """A grid-stride elementwise kernel ``<kernel><T>(*arrays, n)`` (n as int64)."""

    def plan_(p: Mapping[str, Any], t: str, f: str, sm_count: int) -> Plan:
        n = p["n"]
        return Plan(
            (
                Launch(
                    f"{kernel}.cu",
                    f"{kernel}<{t}>",
                    _stride_grid(n // 4, sm_count),
                    (THREADS, 1, 1),
                    (*arrays, np.int64(n)),
                ),
            ),
            {"y": ((n,), f)},
        )

    return CudaKernel(plan_, lambda t: [(f"{kernel}.cu", f"{kernel}<{t}>")])


def _attention(p: Mapping[str, Any], t: str, f: str, sm_count: int) -> Plan:
    b, h, s, d = p["batch"], p["heads"], p["seq"], p["head_dim"]
    dpl = _pow2_at_least(_cdiv(d, 32))
    if dpl > 16:
        raise UnsupportedKernelError(f"cuda: attention supports head_dim <= 512, got {d}.")
    args = (
        "q",
        "k",
        "v",
        "o",
        *_i32(s, d),
        np.float32(1.0 / math.sqrt(d)),
        np.int32(bool(p["causal"])),
    )
    return Plan(
        (
            Launch(
                "attention.cu",
                f"attention_rows<{t}, {dpl}>",
                (b * h, _cdiv(s, 4), 1),
                (128, 1, 1),
                args,
            ),
        ),
        {"o": ((b, h, s, d), f)},
    )


#: kernel name -> :class:`CudaKernel`
CUDA_PLANS: Registry[CudaKernel] = Registry("CUDA plan", "accel_toolkit/backends/_cuda_plans.py")
CUDA_PLANS.register("matmul", _gemm_kernel("matmul", ("a", "b", "c"), "c"))
CUDA_PLANS.register(
    "batched_matmul", _gemm_kernel("batched_matmul", ("a", "b", "c"), "c", batched=True)
)
CUDA_PLANS.register("linear_gelu", _gemm_kernel("linear_gelu", ("x", "w", "bias", "y"), "y"))
CUDA_PLANS.register("conv2d", CudaKernel(_conv2d, lambda t: [("conv2d.cu", f"conv2d_igemm<{t}>")]))
CUDA_PLANS.register("softmax", _row_kernel("softmax", ("x", "y"), _same_as_x))
CUDA_PLANS.register(
    "layernorm", _row_kernel("layernorm", ("x", "gamma", "beta", "y"), _same_as_x, EPS)
)
CUDA_PLANS.register(
    "quantize_int8", _row_kernel("quantize_int8", ("x", "q", "scale"), _q_and_scale)
)
CUDA_PLANS.register("rmsnorm", _row_kernel("rmsnorm", ("x", "gamma", "y"), _same_as_x, EPS))
CUDA_PLANS.register(
    "dequantize_int8",
    CudaKernel(
        _dequantize,
        lambda t: [("dequantize_int8.cu", f"dequantize_int8<{t}, {vw}>") for vw in (1, 2, 4)],
    ),
)
CUDA_PLANS.register("gelu", _elementwise("gelu", ("x", "y")))
CUDA_PLANS.register("add_mul_relu", _elementwise("add_mul_relu", ("a", "b", "c", "y")))
CUDA_PLANS.register(
    "attention",
    CudaKernel(
        _attention,
        lambda t: [("attention.cu", f"attention_rows<{t}, {d}>") for d in (1, 2, 4, 8, 16)],
    ),
)
CUDA_PLANS.register(
    "matmul_int8",
    CudaKernel(_matmul_int8, lambda t: [("matmul_int8.cu", f"matmul_int8_dp4a<{t}>")]),
)
CUDA_PLANS.register("reduce", CudaKernel(_reduce, _reduce_instances))


def plan(kernel: str, p: Mapping[str, Any], dtype: str, sm_count: int = 132) -> Plan:
    """The launches that compute ``kernel`` for parameters ``p`` in ``dtype``.

    Raises UnsupportedKernelError for a kernel or dtype the CUDA sources do not implement.
    """
    if dtype not in CTYPES:
        raise UnsupportedKernelError(
            f"cuda: no {dtype} variant of {kernel}; use float32 or float16."
        )
    return _entry(kernel).plan(p, CTYPES[dtype], dtype, sm_count)


def _entry(kernel: str) -> CudaKernel:
    entry = CUDA_PLANS.get(kernel)
    if entry is None:
        raise UnsupportedKernelError(f"cuda: {CUDA_PLANS.missing(kernel)}.")
    return entry


def expressions(kernel: str) -> list[tuple[str, str]]:
    """Every ``(file, name expression)`` that :func:`plan` can return for ``kernel``."""
    entry = _entry(kernel)
    return [x for t in CTYPES.values() for x in entry.instances(t)]
