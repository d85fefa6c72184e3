"""The kernel library: registry, parameter validation, determinism, references, property tests."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import accel_toolkit as at
from accel_toolkit.exceptions import (
    ParameterError,
    UnknownKernelError,
    UnsupportedDtypeError,
    UnsupportedKernelError,
)
from accel_toolkit.kernels import KERNELS, PRESETS, Registry, array_ops, get_kernel

REQUIRED = {
    "matmul",
    "batched_matmul",
    "conv2d",
    "softmax",
    "layernorm",
    "gelu",
    "add_mul_relu",
    "linear_gelu",
    "attention",
    "quantize_int8",
    "dequantize_int8",
    "matmul_int8",
    "reduce",
}


def test_registry_has_the_library():
    assert REQUIRED <= set(KERNELS)
    for spec in KERNELS.values():
        assert set(PRESETS) <= set(spec.presets), spec.name
        assert "float32" in spec.tolerances


@pytest.mark.parametrize("name", list(KERNELS))
def test_every_spec_is_complete(name):
    """What every kernel declares on its spec: presets, both dtypes, edge cases, candidates."""
    spec = KERNELS[name]
    assert spec.name == name and spec.description and spec.family
    assert set(PRESETS) <= set(spec.presets), f"kernel {name!r}: add presets {PRESETS}"
    assert set(spec.tolerances) == {"float32", "float16"}, f"kernel {name!r}: tolerances"
    assert spec.edge_cases, (
        f"kernel {name!r} has no edge_cases: add the odd sizes that reach "
        f"every code path (see docs/adding-a-kernel.md)"
    )
    tiny = spec.preset("tiny")
    for p in spec.edge_configs():
        assert p not in tiny, f"kernel {name!r}: edge case {p} repeats the tiny preset"
        assert spec.cost(p, 4).bytes > 0
    names = set(spec.param_names)
    assert set(spec.candidates) - {"max_flops"} <= names, f"kernel {name!r}: candidates"
    assert set(spec.candidate_ties) <= names, f"kernel {name!r}: candidate_ties"


def test_registry_finds_by_name_and_says_what_is_missing():
    reg = Registry[int]("WGSL plan builder", "accel_toolkit/backends/_wgsl_plans.py")
    assert reg.register("softmax", 3) == 3
    assert "softmax" in reg and reg["softmax"] == 3 and list(reg) == ["softmax"]
    assert reg.get("rmsnorm") is None
    with pytest.raises(
        UnsupportedKernelError,
        match=r"kernel 'rmsnorm' has no WGSL plan builder: "
        r"add one in accel_toolkit/backends/_wgsl_plans.py",
    ):
        reg["rmsnorm"]
    with pytest.raises(ValueError, match="once"):
        reg.register("softmax", 4)


def test_unknown_kernel_suggests_nearest():
    with pytest.raises(UnknownKernelError, match="Did you mean 'matmul'"):
        get_kernel("matmull")


@pytest.mark.parametrize(
    "kernel, params, match",
    [
        ("matmul", {"M": 0}, "M=0 must be >= 1"),
        ("matmul", {"M": -3}, "must be >= 1"),
        ("matmul", {"M": "abc"}, "must be an integer"),
        ("matmul", {"Q": 3}, "unknown parameter"),
        ("matmul", {"m": 3}, "did you mean 'M'"),
        ("attention", {"causal": "maybe"}, "true or false"),
        ("reduce", {"op": "mean"}, "must be one of"),
        ("conv2d", {"H": 2, "W": 2, "kernel": 7, "padding": 1}, "larger than the padded input"),
    ],
)
def test_bad_parameters_raise_with_a_fix(kernel, params, match):
    with pytest.raises(ParameterError, match=match):
        get_kernel(kernel).resolve(params)


def test_defaults_fill_missing_parameters():
    p = get_kernel("matmul").resolve(M=8)
    assert p == {"M": 8, "N": 64, "K": 64}


def test_unsupported_dtype():
    with pytest.raises(UnsupportedDtypeError, match="float32"):
        get_kernel("softmax").make_inputs(get_kernel("softmax").resolve(), "int4")


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_inputs_are_deterministic(name):
    spec = get_kernel(name)
    p = spec.preset("tiny")[0]
    a = spec.make_inputs(p, "float32", seed=7)
    b = spec.make_inputs(p, "float32", seed=7)
    c = spec.make_inputs(p, "float32", seed=8)
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert any(not np.array_equal(a[k], c[k]) for k in a)


@pytest.mark.parametrize("name", sorted(KERNELS))
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_cpu_matches_reference_on_presets(name, dtype):
    spec = get_kernel(name)
    for p in spec.preset("tiny") + spec.preset("small")[:1]:
        r = at.run(name, "cpu", dtype=dtype, params=p)
        assert r.passed, (p, r.check.describe())


def test_cost_models_are_positive_and_scale():
    for spec in KERNELS.values():
        small, big = spec.preset("tiny")[0], spec.preset("large")[0]
        cs, cb = spec.cost(small, 4), spec.cost(big, 4)
        assert cs.flops > 0 and cs.bytes > 0
        assert cb.flops > cs.flops and cb.bytes > cs.bytes, spec.name


def test_matmul_cost_is_2mnk():
    c = get_kernel("matmul").cost({"M": 3, "N": 5, "K": 7}, 4)
    assert c.flops == 2 * 3 * 5 * 7
    assert c.bytes == (3 * 7 + 7 * 5 + 3 * 5) * 4


@pytest.mark.parametrize(
    "cfg",
    [
        {"N": 2, "C": 8, "H": 40, "W": 40, "F": 4, "kernel": 1, "stride": 2, "padding": 0},
        {"N": 1, "C": 6, "H": 33, "W": 33, "F": 5, "kernel": 3, "stride": 1, "padding": 1},
        {"N": 2, "C": 3, "H": 30, "W": 30, "F": 2, "kernel": 5, "stride": 2, "padding": 2},
    ],
)
def test_conv2d_scratch_is_the_im2col_matrix_the_implementation_allocates(cfg):
    """``KernelSpec.scratch`` counts what the cpu implementation really moves through its
    intermediates: the im2col matrix it allocates, written once and read once."""
    import tracemalloc

    spec = get_kernel("conv2d")
    p = spec.resolve(cfg)
    x = spec.make_inputs(p, "float32", 0)
    scratch = spec.scratch(p, 4)
    pad = p["padding"]
    padded = p["N"] * p["C"] * (p["H"] + 2 * pad) ** 2 * 4 if pad else 0
    tracemalloc.start()
    out = spec.impl(array_ops(), x, p)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # the peak holds the im2col matrix (scratch / 2), the padded input and the output
    assert scratch / 2 <= peak <= scratch / 2 + padded + out["y"].nbytes + 64 * 1024
    # 1x1 at stride 2 gathers a quarter of its input; 3x3 at stride 1 nine times it
    ratio = scratch / 2 / x["x"].nbytes
    want = {1: 0.25, 3: 9.0, 5: 25 / 4}[p["kernel"]]
    assert ratio == pytest.approx(want, rel=0.15)
    assert get_kernel("matmul").scratch is None  # numpy allocates nothing but the output


@pytest.mark.parametrize("name", ["matmul", "batched_matmul", "linear_gelu", "conv2d"])
def test_gemm_is_the_work_of_the_kernel(name):
    """``KernelSpec.gemm``'s calls are the implementation's GEMM: its FLOPs are the cost
    model's (linear_gelu adds its 10 FLOPs per output for bias and GELU), and the shapes
    are those of the operands ``impl`` multiplies."""
    spec = get_kernel(name)
    for preset in ("tiny", "small"):
        for cfg in spec.presets[preset]:
            p = spec.resolve(cfg)
            calls, m, n, k = spec.gemm(p)
            epilogue = 10.0 * m * n if name == "linear_gelu" else 0.0
            assert 2.0 * calls * m * n * k + epilogue == spec.cost(p, 4).flops
            out = spec.impl(array_ops(), spec.make_inputs(p, "float32", 0), p)
            (y,) = out.values()
            assert y.size == calls * m * n  # conv2d: N images x F filters x OH*OW pixels
    assert get_kernel("attention").gemm is None  # see KernelSpec.gemm: a transposed operand


class _CountingNumpy:
    """numpy, counting the rows its reductions run their inner loop over (for 2-D and more,
    along either axis: one call per row of the last axis) and the elements ``exp`` and
    ``where`` see."""

    def __init__(self) -> None:
        self.rows = 0
        self.elements = {"exp": 0, "where": 0}

    def __getattr__(self, name):
        fn = getattr(np, name)
        if name in ("max", "sum", "mean"):

            def reduce(a, *args, **kw):
                a = np.asarray(a)
                self.rows += a.size // a.shape[-1]
                return fn(a, *args, **kw)

            return reduce
        if name in self.elements:

            def elementwise(*args, **kw):
                self.elements[name] += np.broadcast(*args).size
                return fn(*args, **kw)

            return elementwise
        return fn


@pytest.mark.parametrize("name", sorted(k for k in KERNELS if get_kernel(k).row_reductions))
def test_row_reductions_are_the_rows_impl_reduces(name):
    """``KernelSpec.row_reductions`` (and ``ufunc_elements``, attention's scores: scaled,
    shifted, exponentiated and divided, and masked when causal) are what the
    implementation hands numpy."""
    spec = get_kernel(name)
    for preset in ("tiny", "small"):
        for cfg in spec.presets[preset]:
            p = spec.resolve(cfg)
            xp = _CountingNumpy()
            spec.impl(array_ops(xp), spec.make_inputs(p, "float32", 0), p)
            assert xp.rows == spec.row_reductions(p)
            if spec.ufunc_elements is not None:
                exp, where = xp.elements["exp"], xp.elements["where"]
                assert (where > 0) == bool(p["causal"])
                # exp, the three arithmetic passes around it, and the mask
                assert spec.ufunc_elements(p) == 4 * exp + where
    assert {k for k in KERNELS if get_kernel(k).ufunc_elements} == {"attention"}


def test_check_detects_a_wrong_answer():
    spec = get_kernel("softmax")
    p = spec.preset("tiny")[0]
    x = spec.make_inputs(p)
    ref = spec.reference(x, p)
    wrong = {"y": ref["y"] * 1.01}
    c = spec.check(wrong, ref, p, "float32")
    assert not c.passed and c.max_rel_err == pytest.approx(0.01, rel=1e-3)


def test_softmax_is_stable_for_large_inputs():
    spec = get_kernel("softmax")
    p = spec.resolve(rows=2, cols=8)
    x = {"x": np.full((2, 8), 1000.0, dtype=np.float32)}
    out = spec.impl(array_ops(np), x, p)["y"]
    np.testing.assert_allclose(out, 1 / 8)


def test_quantize_conventions():
    spec = get_kernel("quantize_int8")
    p = spec.resolve(rows=2, cols=4)
    x = {"x": np.array([[0.0, 0, 0, 0], [-2.0, 1.0, 0.5, 2.0]], dtype=np.float32)}
    out = spec.impl(array_ops(np), x, p)
    assert out["scale"][0] == 1.0  # all-zero row
    assert out["q"].dtype == np.int8
    assert out["q"][1].tolist() == [-127, 64, 32, 127]  # 63.5 -> 64 (half to even), 31.75 -> 32


def _valid_params(spec):
    strategies = {}
    for prm in spec.params:
        if prm.choices is not None:
            strategies[prm.name] = st.sampled_from(prm.choices)
        elif prm.kind is bool:
            strategies[prm.name] = st.booleans()
        else:
            lo = prm.minimum if prm.minimum is not None else 0
            hi = prm.test_max or min(prm.maximum or 64, 64)
            strategies[prm.name] = st.integers(lo, max(lo, hi))
    return st.fixed_dictionaries(strategies)


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_property_valid_parameters_run_and_match(name):
    spec = get_kernel(name)

    @settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(params=_valid_params(spec), seed=st.integers(0, 2**31 - 1))
    def check(params, seed):
        try:
            p = spec.resolve(params)
        except ParameterError as exc:
            # only cross-parameter constraints may reject drawn values
            assert spec.name == "conv2d" and "padded input" in str(exc)
            return
        r = at.run(name, "cpu", params=p, seed=seed)
        assert r.passed, (p, r.check.describe())

    check()


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_property_invalid_sizes_raise(name):
    spec = get_kernel(name)
    ints = [p for p in spec.params if p.kind is int and p.choices is None and p.minimum is not None]

    @settings(max_examples=10, deadline=None)
    @given(which=st.sampled_from(ints), value=st.integers(-(10**6), -1))
    def check(which, value):
        bad = which.minimum + value  # strictly below the minimum
        with pytest.raises(ParameterError, match=which.name):
            spec.resolve({which.name: bad})

    check()
