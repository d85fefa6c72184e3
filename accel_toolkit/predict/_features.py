"""Features of one measured (or hypothetical) configuration, for the speed predictor.

A row of ``Store.results()`` (or a dict with the same keys) becomes numbers:

* the kernel's parameters, as ``log2(1 + value)`` (booleans 0/1, strings one-hot), and for
  every size ``n`` the padding ``log2(ceil(n / w) * w / n)`` it costs in blocks of
  ``w`` = 4, 8, 16 (:data:`VECTOR_WIDTHS`: SIMD lanes, GEMM micro-tiles, workgroups);
* its cost model (``get_kernel(k).cost(params, itemsize)``): FLOPs, bytes, arithmetic
  intensity, all in log2; the bytes include those the implementation moves through
  intermediates (``KernelSpec.scratch``: conv2d's im2col matrix);
* the working set (those bytes) against the L1/L2/L3 cache sizes, read from
  ``/sys/devices/system/cpu/cpu0/cache`` (or declared in the row's ``device_info["caches"]``):
  ``log2(bytes / L)`` and the hinge ``max(0, log2(bytes / L))`` for each level;
* the dtype's item size; and one-hot columns for kernel, backend, venue and device (the
  environment: CPU model, adapter or browser) plus the device's core count.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import ConfigError
from ..harness import cpu_caches
from ..kernels import KernelSpec, get_kernel

__all__ = [
    "OPENBLAS_SMALL_GEMM",
    "cache_sizes",
    "config_frame",
    "config_keys",
    "featurize",
    "gemm_paths",
    "numpy_loops",
]

_FALLBACK_CACHES = {"L1": 32 * 1024, "L2": 1024 * 1024, "L3": 32 * 1024 * 1024}


@functools.lru_cache(maxsize=4)
def cache_sizes(root: str = "/sys/devices/system/cpu/cpu0/cache") -> dict[str, int]:
    """Data-cache sizes in bytes, ``{"L1": ..., "L2": ..., "L3": ...}``.

    Read from Linux sysfs (:func:`accel_toolkit.harness.cpu_caches`); levels it cannot read
    keep a typical value (32 KiB, 1 MiB, 32 MiB) so the features stay defined on any machine.
    """
    return {**_FALLBACK_CACHES, **cpu_caches(root)}


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str) and value:
        try:
            parsed = json.loads(value)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def config_frame(configs: pd.DataFrame | Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Normalise configurations to a frame with ``kernel, params, dtype, backend, venue, device,
    device_info, flops, bytes, scratch_bytes`` (cost filled from the kernel's cost model where
    missing; ``scratch_bytes`` from ``KernelSpec.scratch``, 0 for kernels without).

    Accepts ``Store.results()`` rows or dicts such as
    ``{"kernel": "matmul", "backend": "cpu", "params": {"M": 64, "N": 64, "K": 64}}``.
    """
    df = configs.copy() if isinstance(configs, pd.DataFrame) else pd.DataFrame(list(configs))
    if df.empty:
        raise ConfigError("No configurations given; pass a results frame or a list of dicts.")
    for col in ("kernel", "params"):
        if col not in df.columns:
            raise ConfigError(
                f"Configurations need a {col!r} column (e.g. kernel='matmul', "
                f"params={{'M': 64, 'N': 64, 'K': 64}})."
            )
    if "backend" not in df.columns:
        raise ConfigError("Configurations need a 'backend' column (e.g. backend='cpu').")
    defaults = {"dtype": "float32", "venue": None, "device": None, "device_info": None}
    for col, val in defaults.items():
        if col not in df.columns:
            df[col] = val
    df["dtype"] = df["dtype"].fillna("float32")
    df["venue"] = df["venue"].fillna(
        df["backend"].map(lambda b: "headless" if b in ("webgpu", "webnn") else "process")
    )
    df["params"] = df["params"].map(lambda p: json.loads(p) if isinstance(p, str) else dict(p))
    flops, nbytes, scratch, resolved = [], [], [], []
    for kernel, params, dtype in zip(df["kernel"], df["params"], df["dtype"], strict=False):
        spec = get_kernel(kernel)
        p = spec.resolve(params)
        itemsize = np.dtype(dtype).itemsize
        c = spec.cost(p, itemsize)
        resolved.append(p)
        flops.append(c.flops)
        nbytes.append(c.bytes)
        scratch.append(float(spec.scratch(p, itemsize)) if spec.scratch else 0.0)
    df["params"] = resolved
    df["scratch_bytes"] = scratch
    if "flops" not in df.columns or df["flops"].isna().any():
        df["flops"] = flops
    if "bytes" not in df.columns or df["bytes"].isna().any():
        df["bytes"] = nbytes
    return df.reset_index(drop=True)


def config_keys(df: pd.DataFrame) -> pd.Series:
    """One string per row naming its configuration (kernel, params, dtype), equal for
    repeats of it: the rows of a :func:`config_frame` (params as dicts)."""
    return pd.Series(
        [
            json.dumps([k, dict(sorted(p.items())), d], sort_keys=True)
            for k, p, d in zip(df["kernel"], df["params"], df["dtype"], strict=False)
        ],
        index=df.index,
        dtype=object,
    )


#: OpenBLAS (x86-64, since 0.3.17) runs an sgemm/dgemm with ``M*N*K`` up to 100**3 and
#: neither operand transposed in its small-matrix kernel, which works on the operands where
#: they lie. Past the limit it first copies both operands into panels: on the 2-core EPYC
#: VM a 12x308x270 float32 matmul takes 21 us, 12x308x271 33 us (its operands, 340 KB,
#: copied at ~30 GB/s); 100x100x100 21 us, 101x100x100 25 us.
OPENBLAS_SMALL_GEMM = 100**3

#: The dtypes numpy hands to BLAS; it multiplies any other (float16) in its own loop.
BLAS_DTYPES = ("float32", "float64")


def _cpu_terms(
    df: pd.DataFrame,
    columns: list[str],
    terms: Callable[[KernelSpec, Mapping[str, Any], str, Any], tuple[float, ...]],
) -> pd.DataFrame:
    """Roofline terms of the cpu backend's rows of a :func:`config_frame`: ``terms(spec,
    params, dtype, device_info)`` gives one value per column; other backends' rows get
    zeros (their implementations are not numpy's)."""
    out = np.zeros((len(df), len(columns)))
    for i, (kernel, params, dtype, backend, info) in enumerate(
        zip(df["kernel"], df["params"], df["dtype"], df["backend"], df["device_info"], strict=True)
    ):
        if backend == "cpu":
            out[i] = terms(get_kernel(kernel), params, str(dtype), info)
    return pd.DataFrame(out, columns=columns, index=df.index)


def gemm_paths(df: pd.DataFrame) -> pd.DataFrame:
    """How numpy and OpenBLAS run each row's GEMMs (``KernelSpec.gemm``) on the cpu
    backend, as two work terms for the roofline:

    ``packed_bytes``
        the operands (``M*K + K*N`` items) of the calls OpenBLAS copies into panels first:
        those with ``M*N*K`` above :data:`OPENBLAS_SMALL_GEMM`, where the row's
        ``device_info["blas"]`` names OpenBLAS (the cpu backend records the BLAS numpy
        calls; rows recorded by older versions list every BLAS in the process). Not for
        kernels with ``scratch`` bytes: conv2d's GEMM operand is its im2col matrix, and
        the copy is one more pass over bytes ``scratch`` already counts (counting it
        again made conv2d's predictions beyond the measured range worse, see
        ``docs/predict.md``);
    ``loop_flops``
        the FLOPs numpy computes in its own loop instead of BLAS: calls with ``K == 1`` (an
        outer product: a 200x200x1 float32 matmul takes 45 us, 200x200x2 4 us, and
        ``scipy.linalg.blas.sgemm`` does the first in 4 us) and every call in a dtype BLAS
        lacks (float16).

    Rows of kernels that declare no ``gemm``, or of other backends, get zeros.

    Parameters
    ----------
    df : DataFrame
        A :func:`config_frame` (params resolved).
    """

    def terms(
        spec: KernelSpec, params: Mapping[str, Any], dtype: str, info: Any
    ) -> tuple[float, float]:
        if spec.gemm is None:
            return 0.0, 0.0
        calls, m, n, k = spec.gemm(params)
        if k == 1 or dtype not in BLAS_DTYPES:
            return 0.0, 2.0 * calls * m * n * k
        if (
            spec.scratch is None
            and m * n * k > OPENBLAS_SMALL_GEMM
            and "openblas" in str(_as_dict(info).get("blas", "")).lower()
        ):
            return calls * (m * k + k * n) * np.dtype(dtype).itemsize, 0.0
        return 0.0, 0.0

    return _cpu_terms(df, ["packed_bytes", "loop_flops"], terms)


def numpy_loops(df: pd.DataFrame) -> pd.DataFrame:
    """Work numpy does at its own rates on the cpu backend, as two terms for the roofline:

    ``row_reductions``
        the rows each row's kernel reduces one at a time (``KernelSpec.row_reductions``):
        numpy runs a reduction's inner loop once per row, at 20-60 ns a call on the 2-core
        EPYC VM whatever the row's length (``np.sum(x, axis=-1)`` of 16000x8 float32: 18 ns
        a row; of 16000x64, 0.4 ns an element), so many short rows take far longer than
        their bytes say: a 1143x8 softmax takes 90 us, a 60x2066 one with 14x the bytes
        150 us;
    ``ufunc_elements``
        the elements of intermediates passed through elementwise functions between BLAS
        calls, once per function (``KernelSpec.ufunc_elements``: attention's scores, four
        passes, five when causal), at about half a nanosecond each (0.45 ns fitted on the
        2-core VM) where the GEMMs beside them do a FLOP in 10-20 ps.

    Rows of kernels that declare neither, or of other backends, get zeros.

    Parameters
    ----------
    df : DataFrame
        A :func:`config_frame` (params resolved).
    """

    def terms(
        spec: KernelSpec, params: Mapping[str, Any], dtype: str, info: Any
    ) -> tuple[float, float]:
        rows, elements = spec.row_reductions, spec.ufunc_elements
        return (
            0.0 if rows is None else float(rows(params)),
            0.0 if elements is None else float(elements(params)),
        )

    return _cpu_terms(df, ["row_reductions", "ufunc_elements"], terms)


#: Block widths for the padding features: vector lanes (4/8/16 floats in SSE/AVX2/AVX-512),
#: BLAS micro-tiles and GPU workgroup tiles all work in such blocks, so sizes that are not a
#: multiple run slower than their FLOPs say (a 200x64x300 matmul beats 200x61x300 per FLOP).
VECTOR_WIDTHS = (4, 8, 16)


def _log2p(v: float) -> float:
    return math.log2(1.0 + max(float(v), 0.0))


def featurize(
    configs: pd.DataFrame | Iterable[Mapping[str, Any]],
    *,
    caches: Mapping[str, int] | None = None,
    scratch: bool = True,
) -> pd.DataFrame:
    """The numeric feature matrix (one row per configuration) the predictor learns from.

    Parameters
    ----------
    configs : DataFrame or iterable of dict
        ``Store.results()`` rows or configuration dicts (see :func:`config_frame`).
    caches : dict, optional
        ``{"L1": bytes, "L2": bytes, "L3": bytes}`` for rows whose ``device_info`` declares no
        ``caches``; default :func:`cache_sizes` of this machine.
    scratch : bool
        Count the bytes the kernel's implementation moves through intermediates
        (``scratch_bytes``, from ``KernelSpec.scratch``) in the byte features: the bytes,
        the intensity and the working set (default). False: the cost model's bytes alone.

    Returns
    -------
    pandas.DataFrame
        Float columns; categorical values become ``kernel=...``, ``backend=...``, ``venue=...``,
        ``device=...`` one-hot columns.
    """
    df = config_frame(configs)
    local = dict(caches or cache_sizes())
    rows = []
    for r in df.itertuples(index=False):
        info = _as_dict(r.device_info)
        cache = {**local, **{k: v for k, v in _as_dict(info.get("caches")).items() if v}}
        flops = float(r.flops)
        nbytes = float(r.bytes) + (float(r.scratch_bytes) if scratch else 0.0)
        f: dict[str, float] = {
            "log_flops": math.log2(max(flops, 1.0)),
            "log_bytes": math.log2(max(nbytes, 1.0)),
            "log_intensity": math.log2(max(flops, 1.0) / max(nbytes, 1.0)),
            "itemsize": float(np.dtype(r.dtype).itemsize),
            "cores": float(info.get("cores") or 0),
            f"kernel={r.kernel}": 1.0,
            f"backend={r.backend}": 1.0,
            f"venue={r.venue}": 1.0,
            f"device={r.device or info.get('name') or 'unknown'}": 1.0,
        }
        for level in ("L1", "L2", "L3"):
            ratio = math.log2(max(nbytes, 1.0) / max(float(cache[level]), 1.0))
            f[f"ws_over_{level}"] = ratio
            f[f"ws_above_{level}"] = max(0.0, ratio)
        for name, value in r.params.items():
            key = f"{r.kernel}.{name}"
            if isinstance(value, bool):
                f[key] = float(value)
            elif isinstance(value, int) and value >= 1:
                f[key] = _log2p(value)
                for w in VECTOR_WIDTHS:
                    # the share of padded work when a size is processed in blocks of w:
                    # 0 for multiples of w (SIMD lanes, GEMM micro-tiles, workgroups)
                    f[f"{key}%{w}"] = math.log2(-(-value // w) * w / value)
            elif isinstance(value, (int, float)):
                f[key] = _log2p(value)
            else:
                f[f"{key}={value}"] = 1.0
        rows.append(f)
    return pd.DataFrame(rows).fillna(0.0).astype(float)
