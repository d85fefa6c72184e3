"""The kernel library: every kernel has a numpy reference, a cost model and tolerances.

The registry is an explicit tuple (no registration as an import side effect)::

    >>> from accel_toolkit.kernels import get_kernel
    >>> spec = get_kernel("matmul")
    >>> params = spec.resolve(M=64, N=64, K=32)
    >>> inputs = spec.make_inputs(params, "float32", seed=0)
"""

from __future__ import annotations

import difflib

from ..exceptions import UnknownKernelError
from ._attention import ATTENTION
from ._conv import CONV2D
from ._elementwise import ADD_MUL_RELU, GELU
from ._linalg import BATCHED_MATMUL, LINEAR_GELU, MATMUL
from ._normalization import LAYERNORM, RMSNORM, SOFTMAX
from ._quant import DEQUANTIZE_INT8, MATMUL_INT8, QUANTIZE_INT8
from ._reduce import REDUCE
from ._registry import Registry
from ._spec import Check, Cost, KernelSpec, Param, Tolerance, array_ops, config_key

__all__ = [
    "Check",
    "Cost",
    "KERNELS",
    "KernelSpec",
    "PRESETS",
    "Param",
    "Registry",
    "Tolerance",
    "array_ops",
    "config_key",
    "get_kernel",
    "kernel_names",
]

KERNELS: dict[str, KernelSpec] = {
    k.name: k
    for k in (
        MATMUL,
        BATCHED_MATMUL,
        CONV2D,
        SOFTMAX,
        LAYERNORM,
        GELU,
        ADD_MUL_RELU,
        LINEAR_GELU,
        ATTENTION,
        QUANTIZE_INT8,
        DEQUANTIZE_INT8,
        MATMUL_INT8,
        REDUCE,
        RMSNORM,
    )
}

PRESETS = ("tiny", "small", "medium", "large")


def kernel_names() -> list[str]:
    """Names of every kernel in the library, in registry order."""
    return list(KERNELS)


def get_kernel(name: str) -> KernelSpec:
    """The spec of kernel ``name``; an unknown name suggests the nearest one."""
    try:
        return KERNELS[name]
    except KeyError:
        close = difflib.get_close_matches(str(name), list(KERNELS), n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownKernelError(
            f"Unknown kernel {name!r}.{hint} Known kernels: {', '.join(KERNELS)}."
        ) from None
