"""Inputs at the numerical edges, small parameters for the oracles, and the comparison.

:func:`small_params` draws valid parameters small enough for the loop oracles of
``tests/oracles.py``, with row lengths around every workgroup size the shaders use (32 to
256, powers of two: 31, 32, 33, ...). :func:`edge_inputs` turns a spec's inputs into one
of :data:`KINDS`:

``large``     magnitudes of 1e4 and more (softmax, layernorm and attention included)
``spike``     one large value in lane ``lane`` of every row (odd and even lanes)
``equal``     all-equal rows
``zeros``     all zeros
``negative``  only negative values
``f16max``    float16 values near its largest finite value, 65504 (float16 only)

Attention's scores are made exact: integer ``q`` and ``k`` and a head dimension whose square
root is a power of two, so large scores test the max subtraction, not the conditioning of
``exp``. :func:`assert_matches` applies the spec's tolerance, with ``rtol`` taken relative
to the sum of absolute terms for sums of products (``oracles.magnitude``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from hypothesis import strategies as st
from oracles import ORACLES, magnitude

from accel_toolkit.kernels import KernelSpec, get_kernel

__all__ = ["KINDS", "assert_matches", "edge_case", "edge_inputs", "small_params"]

KINDS = ("large", "spike", "equal", "zeros", "negative", "f16max")
#: lengths around the shaders' workgroup sizes (32..256) and the 4-wide vector loads
ROW_LENGTHS = (1, 2, 3, 4, 5, 7, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257, 300, 513)
#: largest value drawn per parameter (the loop oracles stay fast)
CAPS = {
    "M": 12,
    "N": 12,
    "K": 40,
    "B": 2,
    "rows": 4,
    "batch": 2,
    "heads": 2,
    "seq": 9,
    "C": 3,
    "H": 8,
    "W": 8,
    "F": 3,
    "kernel": 3,
    "stride": 2,
    "padding": 2,
}
F16_MAX = 65504.0
#: head dimensions whose square root is a power of two (the 1/sqrt(d) scaling is exact)
EXACT_HEAD_DIMS = (1, 4, 16, 64)


def _param_strategy(spec: KernelSpec, name: str, exact_attention: bool) -> st.SearchStrategy[Any]:
    prm = next(p for p in spec.params if p.name == name)
    if prm.choices is not None:
        return st.sampled_from(prm.choices)
    if prm.kind is bool:
        return st.booleans()
    lo = prm.minimum or 1
    if spec.name == "attention" and name == "head_dim":
        return st.sampled_from(EXACT_HEAD_DIMS) if exact_attention else st.integers(1, 40)
    if name in ("cols", "n") or (spec.name == "matmul_int8" and name == "K"):
        top = 1100 if name == "n" else 600
        return st.one_of(st.sampled_from(ROW_LENGTHS), st.integers(lo, top))
    if spec.name == "reduce" and name == "rows":
        return st.one_of(st.sampled_from(ROW_LENGTHS[:12]), st.integers(1, 70))
    return st.integers(lo, max(lo, CAPS.get(name, 16)))


def small_params(spec: KernelSpec, exact_attention: bool = False) -> st.SearchStrategy[dict]:
    """Valid parameters of ``spec`` the loop oracles handle in milliseconds."""
    draw = st.fixed_dictionaries(
        {p.name: _param_strategy(spec, p.name, exact_attention) for p in spec.params}
    )

    def valid(params: dict) -> bool:
        try:
            spec.resolve(params)
        except ValueError:
            return False
        return True

    return draw.filter(valid).map(spec.resolve)


def _set(x: dict[str, np.ndarray], key: str, value: np.ndarray) -> None:
    x[key] = np.ascontiguousarray(np.asarray(value).astype(x[key].dtype))


def _big(dtype: str, f32: float, f16: float) -> float:
    return f16 if dtype == "float16" else f32


def _float_keys(x: Mapping[str, np.ndarray]) -> list[str]:
    return [k for k, v in x.items() if np.issubdtype(v.dtype, np.floating)]


def _attention(
    x: dict[str, np.ndarray],
    p: Mapping[str, Any],
    dtype: str,
    kind: str,
    lane: int,
    rng: np.random.Generator,
) -> None:
    shape = x["q"].shape
    bound = 100 if dtype == "float32" else 10
    q = rng.integers(-bound, bound + 1, shape)
    k = rng.integers(-bound, bound + 1, shape)
    v = x["v"].astype(np.float64)
    if kind == "spike":
        q = rng.integers(-3, 4, shape)
        k = rng.integers(-3, 4, shape)
        q[..., lane % p["head_dim"]] = _big(dtype, 2000, 200)
    elif kind == "equal":
        k[...] = k[..., :1, :]  # every key the same: equal scores in every row
    elif kind == "zeros":
        q, k, v = q * 0, k * 0, v * 0
    elif kind == "negative":
        q, k, v = -np.abs(q) - 1, -np.abs(k) - 1, -np.abs(v) - 1
    elif kind == "f16max":
        v = np.sign(v) * (60000.0 - 1000.0 * np.abs(v))
    _set(x, "q", q)
    _set(x, "k", k)
    _set(x, "v", v)


def edge_inputs(
    name: str, p: Mapping[str, Any], dtype: str, kind: str, lane: int, seed: int
) -> dict[str, np.ndarray]:
    """The spec's inputs for ``(p, dtype, seed)``, turned into edge case ``kind``."""
    spec = get_kernel(name)
    x = spec.make_inputs(p, dtype, seed)
    rng = np.random.default_rng(seed)
    if name == "attention":
        _attention(x, p, dtype, kind, lane, rng)
        return x
    if name == "dequantize_int8":
        q = x["q"].astype(np.int64)
        if kind in ("large", "spike", "f16max"):
            q[:, lane % q.shape[1]] = 127
            s = np.full(x["scale"].shape, _big(dtype, 1e4, 515.0))  # 127 * 515 = 65405
            _set(x, "scale", s)
        elif kind == "equal":
            q[...] = -127
        elif kind == "zeros":
            q[...] = 0
        elif kind == "negative":
            q = -np.abs(q)
        _set(x, "q", q)
        return x
    if name == "matmul_int8":
        a, b = x["a"].astype(np.int64), x["b"].astype(np.int64)
        if kind in ("large", "equal", "f16max"):
            a[...], b[...] = 127, -127 if kind == "equal" else 127
        elif kind == "spike":
            a[:, lane % a.shape[1]] = -127
        elif kind == "zeros":
            a[...] = 0
        elif kind == "negative":
            a, b = -np.abs(a), -np.abs(b)
        _set(x, "a", a)
        _set(x, "b", b)
        if kind == "f16max":  # outputs just under 60000: K * 127**2 * sa * sb
            sa = np.full(x["scale_a"].shape, 60000.0 / (127**2 * p["K"]))
            _set(x, "scale_a", sa)
            _set(x, "scale_b", np.ones(x["scale_b"].shape))
        return x
    keys = _float_keys(x)
    data = keys[0]  # the operand the kernel normalises, reduces or maps
    v = x[data].astype(np.float64)
    row = v.reshape(-1, v.shape[-1]) if v.ndim > 1 else v.reshape(1, -1)
    if kind == "large":
        peak = float(np.max(np.abs(row))) or 1.0
        row = row * (_big(dtype, 2e4, 2e3 if name in ("layernorm", "rmsnorm") else 2e4) / peak)
        if name in ("add_mul_relu",) and dtype == "float16":
            row = row / 2
    elif kind == "spike":
        big = _big(dtype, 1e4, 3e4)
        if name in ("layernorm", "rmsnorm"):
            big = _big(dtype, 1e4, 2e3)
        row = row.copy()
        row[:, lane % row.shape[1]] = big
    elif kind == "equal":
        c = [0.0, 1.0, -2.0, 0.5, 3.0, -0.25][seed % 6]
        if name in ("softmax", "gelu", "reduce", "quantize_int8"):
            c = [c, 1e4, -1e4, 1234.5][(seed // 6) % 4] if dtype == "float32" else c
        row = np.full_like(row, c)
    elif kind == "zeros":
        row = np.zeros_like(row)
    elif kind == "negative":
        row = -np.abs(row) - (_big(dtype, 1e4, 1e3) if name == "softmax" else 0.5)
    elif kind == "f16max":
        peak = float(np.max(np.abs(row))) or 1.0
        top = 6e4 if name in ("softmax", "gelu", "quantize_int8", "layernorm", "rmsnorm") else 3e4
        if name == "reduce" and p["op"] == "sum":
            top = 6e4 / max(1, p["cols"] if p["axis"] == 1 else p["rows"])
        row = row / peak * top
    _set(x, data, row.reshape(v.shape))
    if kind in ("zeros", "negative") and name in ("add_mul_relu", "matmul", "batched_matmul"):
        for k in keys[1:]:
            other = x[k].astype(np.float64)
            _set(x, k, other * 0 if kind == "zeros" else -np.abs(other) - 0.5)
    return x


@st.composite
def edge_case(
    draw: st.DrawFn,
    name: str,
    dtypes: tuple[str, ...] = ("float32", "float16"),
) -> tuple[dict, str, str, int, int]:
    """``(params, dtype, kind, lane, seed)`` for kernel ``name``."""
    spec = get_kernel(name)
    dtype = draw(st.sampled_from([d for d in dtypes if d in spec.tolerances]))
    kinds = KINDS if dtype == "float16" else KINDS[:-1]
    kind = draw(st.sampled_from(kinds))
    p = draw(small_params(spec, exact_attention=True))
    lane = draw(st.integers(0, 600))
    seed = draw(st.integers(0, 2**31 - 1))
    return p, dtype, kind, lane, seed


def assert_matches(
    name: str,
    got: Mapping[str, np.ndarray],
    x: Mapping[str, np.ndarray],
    p: Mapping[str, Any],
    dtype: str,
    what: str,
) -> None:
    """``got`` equals the oracle within the spec's tolerance (rtol against the magnitude)."""
    spec = get_kernel(name)
    want = ORACLES[name](x, p)
    mags = magnitude(name, x, p) or {}
    for out, ref in want.items():
        assert out in got, f"{what}: output {out} missing"
        tol = spec.tolerance(p, dtype, out)
        g = np.asarray(got[out]).astype(np.float64).reshape(ref.shape)
        ref = np.asarray(ref, dtype=np.float64)
        scale = np.maximum(np.abs(ref), np.asarray(mags.get(out, 0.0)))
        bound = tol.atol + tol.rtol * scale
        err = np.abs(g - ref)
        bad = ~(err <= bound)  # NaN counts as bad
        if spec.output_dtype(out, dtype) == "float16":
            # beyond float16's range (within the tolerance) the right answer is +-inf
            overflows = np.abs(ref) + bound > F16_MAX
            bad &= ~(overflows & np.isinf(g) & (np.sign(g) == np.sign(ref)))
        if bad.any():
            i = tuple(int(t) for t in np.argwhere(bad)[0])
            raise AssertionError(
                f"{what}: {name}.{out} {dict(p)} {dtype}: {int(bad.sum())} of {bad.size} outside "
                f"atol {tol.atol:.3g} + rtol {tol.rtol:.3g}; first at {i}: got {g[i]!r}, "
                f"oracle {ref[i]!r}"
            )
