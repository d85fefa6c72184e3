"""Independent oracles: every kernel computed a second way, in float64, at small sizes.

The kernels' ``impl`` (the cpu backend, and in float64 the reference every other backend is
held to) is vectorised numpy. The oracles here are written differently on purpose, so a
math error in ``impl`` cannot become the truth the GPU backends are checked against:

* sums of products are loops over output elements with ``math.fsum`` (exactly rounded);
* softmax is ``scipy.special.softmax``; GELU is ``x * scipy.special.ndtr(x)`` (the normal
  CDF, not the ``erf`` formula ``impl`` uses);
* conv2d is a sum of ``scipy.signal.correlate2d`` per channel, strided afterwards;
* layernorm and rmsnorm are the textbook two-pass formulas per row with ``math.fsum``;
* quantization rounds with Python's ``round`` (half to even) per element.

Each oracle takes the inputs a spec made (any dtype) and the resolved parameters and returns
``{output: float64 or int array}``. :data:`ORACLES` maps every kernel name to its oracle;
``tests/test_oracles.py`` fails naming a registered kernel that has none.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from scipy import signal, special

__all__ = ["ORACLES", "Oracle", "magnitude"]

Arrays = Mapping[str, np.ndarray]
Oracle = Callable[[Arrays, Mapping[str, Any]], dict[str, np.ndarray]]


def _f64(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def _dot(u: np.ndarray, v: np.ndarray) -> float:
    """An exactly rounded dot product of two float64 vectors."""
    return math.fsum(float(p) for p in np.asarray(u, np.float64) * np.asarray(v, np.float64))


def _matmul2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = _f64(a), _f64(b)
    m, n = a.shape[0], b.shape[1]
    out = np.empty((m, n))
    for i in range(m):
        for j in range(n):
            out[i, j] = _dot(a[i, :], b[:, j])
    return out


def matmul(x: Arrays, p: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """``C[i, j] = fsum_k A[i, k] B[k, j]``."""
    return {"c": _matmul2(x["a"], x["b"])}


def batched_matmul(x: Arrays, p: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """One :func:`matmul` per batch item."""
    return {"c": np.stack([_matmul2(x["a"][i], x["b"][i]) for i in range(p["B"])])}


def conv2d(x: Arrays, p: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Cross-correlation of each zero-padded channel with its filter, summed, then strided."""
    k, s, pad = p["kernel"], p["stride"], p["padding"]
    inp, w = _f64(x["x"]), _f64(x["w"])
    n, c, f = p["N"], p["C"], p["F"]
    oh = (p["H"] + 2 * pad - k) // s + 1
    ow = (p["W"] + 2 * pad - k) // s + 1
    out = np.zeros((n, f, oh, ow))
    for b in range(n):
        for o in range(f):
            full = sum(
                signal.correlate2d(np.pad(inp[b, ch], pad), w[o, ch], mode="valid")
                for ch in range(c)
            )
            out[b, o] = np.asarray(full)[::s, ::s][:oh, :ow]
    return {"y": out}


def softmax(x: Arrays, p: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """``scipy.special.softmax`` over the last axis."""
    return {"y": special.softmax(_f64(x["x"]), axis=-1)}


def _row_stats(row: np.ndarray) -> tuple[float, float]:
    n = row.size
    mean = math.fsum(row.tolist()) / n
    var = math.fsum(((row - mean) ** 2).tolist()) / n
    return mean, var


def layernorm(x: Arrays, p: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Per row: two-pass mean and variance with ``fsum``, then normalise, scale and shift."""
    from accel_toolkit.kernels._normalization import EPS

    v, g, b = _f64(x["x"]), _f64(x["gamma"]), _f64(x["beta"])
    out = np.empty_like(v)
    for r in range(v.shape[0]):
        mean, var = _row_stats(v[r])
        out[r] = (v[r] - mean) / math.sqrt(var + EPS) * g + b
    return {"y": out}


def rmsnorm(x: Arrays, p: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Per row: ``x / sqrt(fsum(x**2) / n + eps) * gamma`` (plus ``beta`` if the kernel has one)."""
    from importlib import import_module

    from accel_toolkit.kernels import KERNELS

    names = vars(import_module(KERNELS["rmsnorm"].impl.__module__))
    eps = float(names.get("RMS_EPS", names.get("EPS", 1e-6)))
    v, g = _f64(x["x"]), _f64(x["gamma"])
    out = np.empty_like(v)
    for r in range(v.shape[0]):
        ms = math.fsum((v[r] ** 2).tolist()) / v.shape[1]
        out[r] = v[r] / math.sqrt(ms + eps) * g
    if "beta" in x:
        out = out + _f64(x["beta"])
    return {"y": out}


def _gelu(v: np.ndarray) -> np.ndarray:
    """``x * Phi(x)`` with the normal CDF from ``scipy.special.ndtr``."""
    v = _f64(v)
    return v * special.ndtr(v)


def gelu(x: Arrays, p: Mapping[str, Any]) -> dict[str, np.ndarray]:
    return {"y": _gelu(x["x"])}


def add_mul_relu(x: Arrays, p: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Element by element in Python floats."""
    a, b, c = (_f64(x[k]).tolist() for k in ("a", "b", "c"))
    return {"y": np.array([max((ai + bi) * ci, 0.0) for ai, bi, ci in zip(a, b, c, strict=True)])}


def linear_gelu(x: Arrays, p: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """:func:`matmul` plus the bias, through :func:`_gelu`."""
    return {"y": _gelu(_matmul2(x["x"], x["w"]) + _f64(x["bias"]))}


def attention(x: Arrays, p: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Per query: scores by ``fsum``, keys after the query dropped when causal, scipy's
    softmax over the rest, then an ``fsum`` of the weighted values."""
    q, k, v = _f64(x["q"]), _f64(x["k"]), _f64(x["v"])
    scale = 1.0 / math.sqrt(p["head_dim"])
    out = np.zeros(q.shape)
    for b in range(p["batch"]):
        for h in range(p["heads"]):
            for i in range(p["seq"]):
                keys = range(i + 1) if p["causal"] else range(p["seq"])
                s = np.array([_dot(q[b, h, i], k[b, h, j]) * scale for j in keys])
                w = special.softmax(s)
                for d in range(p["head_dim"]):
                    out[b, h, i, d] = math.fsum(
                        float(w[t] * v[b, h, j, d]) for t, j in enumerate(keys)
                    )
    return {"o": out}


def quantize_int8(x: Arrays, p: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Per row: ``scale = max|x| / 127`` (1 for a zero row), ``q = round(x / scale)``."""
    v = _f64(x["x"])
    q = np.zeros(v.shape, dtype=np.int64)
    scale = np.empty(v.shape[0])
    for r in range(v.shape[0]):
        amax = max(abs(t) for t in v[r].tolist())
        scale[r] = amax / 127.0 if amax > 0 else 1.0
        for c in range(v.shape[1]):
            q[r, c] = min(127, max(-127, round(v[r, c] / scale[r])))
    return {"q": q, "scale": scale}


def dequantize_int8(x: Arrays, p: Mapping[str, Any]) -> dict[str, np.ndarray]:
    q, s = x["q"].astype(np.int64), _f64(x["scale"])
    return {
        "x": np.array(
            [[float(q[r, c]) * s[r] for c in range(q.shape[1])] for r in range(q.shape[0])]
        ).reshape(q.shape)
    }


def matmul_int8(x: Arrays, p: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Exact integer sums in Python ints, then the two scales in float64."""
    a, b = x["a"].astype(np.int64), x["b"].astype(np.int64)
    sa, sb = _f64(x["scale_a"]), _f64(x["scale_b"])
    m, n = a.shape[0], b.shape[1]
    out = np.empty((m, n))
    for i in range(m):
        for j in range(n):
            acc = sum(int(t) for t in a[i, :] * b[:, j])
            out[i, j] = acc * sa[i] * sb[j]
    return {"c": out}


def reduce(x: Arrays, p: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """``fsum`` or Python's ``max`` over each row (``axis=1``) or column (``axis=0``)."""
    v = _f64(x["x"])
    lines = v if p["axis"] == 1 else v.T
    fn = max if p["op"] == "max" else math.fsum
    return {"y": np.array([fn(line.tolist()) for line in lines])}


ORACLES: dict[str, Oracle] = {
    "matmul": matmul,
    "batched_matmul": batched_matmul,
    "conv2d": conv2d,
    "softmax": softmax,
    "layernorm": layernorm,
    "rmsnorm": rmsnorm,
    "gelu": gelu,
    "add_mul_relu": add_mul_relu,
    "linear_gelu": linear_gelu,
    "attention": attention,
    "quantize_int8": quantize_int8,
    "dequantize_int8": dequantize_int8,
    "matmul_int8": matmul_int8,
    "reduce": reduce,
}


def magnitude(name: str, x: Arrays, p: Mapping[str, Any]) -> dict[str, np.ndarray] | None:
    """The scale each output's rounding error is proportional to, where it is not ``|out|``.

    For a sum of products, float error grows with ``sum |a_k b_k|``, not with the (possibly
    cancelled) result; that sum is the oracle run on absolute inputs. ``None`` for kernels
    whose outputs are their own scale.
    """
    absx = {
        k: np.abs(_f64(v)) if np.issubdtype(v.dtype, np.floating) else np.abs(v)
        for k, v in x.items()
    }
    if name in ("matmul", "batched_matmul", "conv2d", "matmul_int8"):
        return ORACLES[name](absx, p)
    if name == "reduce" and p["op"] == "sum":
        return reduce(absx, p)
    if name == "linear_gelu":  # |GELU'| < 1.13
        return {"y": 1.13 * (_matmul2(absx["x"], absx["w"]) + absx["bias"])}
    if name == "attention":  # a convex combination of the values
        vmax = np.max(np.abs(_f64(x["v"])), axis=-2, keepdims=True)
        return {"o": np.broadcast_to(vmax, x["v"].shape)}
    return None
