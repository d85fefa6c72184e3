"""The tunable plans of linear_gelu (matmul.wgsl's unrolled GEMM with its ``gelu`` block),
batched_matmul (the GEMM over grid z, its own shape buckets) and reduce (a ``rows`` entry
point), their spaces, and their fallbacks.

The unmarked tests need no GPU; the ``wgpu`` tier runs every kind of point on a real adapter
(lavapipe on a machine without a GPU) against numpy.
"""

from __future__ import annotations

import re

import pytest

from accel_toolkit.backends._wgsl import build_plan
from accel_toolkit.backends._wgsl_plans import GEMM_KNOBS, SWIFTSHADER_GEMM_KNOBS
from accel_toolkit.exceptions import ParameterError
from accel_toolkit.kernels import get_kernel
from accel_toolkit.tuning import SPACES, bucket, knobs_key

DIRECT = {**GEMM_KNOBS, "unroll": True, "shared": False, "tk": 4}
STAGED = {**GEMM_KNOBS, "unroll": True, "shared": True, "tk": 16}
LOOP = {**GEMM_KNOBS, "unroll": False, "shared": True, "tk": 16}


# -- linear_gelu -------------------------------------------------------------------------------
def test_linear_gelu_runs_the_gemm_with_its_gelu_block_where_it_can():
    spec = get_kernel("linear_gelu")
    plan = build_plan(spec, {"M": 50, "N": 64, "K": 32}, "float32", "gemm", DIRECT)
    (ps,) = plan.passes
    assert ps.entry == "gemmu" and ps.bindings == ("x", "w", "y", "params", "bias")
    assert "g_bias4" in plan.shaders[ps.shader] and plan.knobs == DIRECT
    staged = build_plan(spec, {"M": 50, "N": 64, "K": 32}, "float32", "gemm", STAGED)
    assert staged.passes[0].entry == "gemmus"


@pytest.mark.parametrize(
    ("shape", "knobs"),
    [
        ({"M": 50, "N": 66, "K": 32}, DIRECT),
        ({"M": 50, "N": 64, "K": 30}, DIRECT),
        ({"M": 50, "N": 64, "K": 32}, LOOP),
    ],
)
def test_linear_gelu_falls_back_to_its_tiled_shader(shape, knobs):
    plan = build_plan(get_kernel("linear_gelu"), shape, "float32", "gemm", knobs)
    (ps,) = plan.passes
    assert (ps.shader, ps.entry) == ("linear_gelu.wgsl", "tiled")
    assert ps.bindings == ("x", "w", "bias", "y", "params")


def test_linear_gelu_space_holds_unrolled_points_and_its_own_buckets():
    space = SPACES["linear_gelu"]
    points = space.points()
    assert all(p["unroll"] and p["vec4"] for p in points)
    keys = {knobs_key(p) for p in points}
    assert knobs_key(GEMM_KNOBS) in keys and knobs_key(SWIFTSHADER_GEMM_KNOBS) in keys
    assert "unrolled" in (space.problem(LOOP) or "")
    assert bucket("linear_gelu", {"M": 128, "N": 1536, "K": 384}) == "medium"  # MiniLM FFN
    assert [bucket("linear_gelu", s) for _, s in space.buckets] == ["small", "medium", "large"]
    with pytest.raises(ParameterError, match="takes no knobs"):
        build_plan(get_kernel("linear_gelu"), {}, "float32", "tiled", DIRECT)


# -- batched_matmul ----------------------------------------------------------------------------
def test_batched_matmul_buckets_count_the_whole_batch():
    space = SPACES["batched_matmul"]
    assert [bucket("batched_matmul", s) for _, s in space.buckets] == ["small", "medium", "large"]
    assert all(s["B"] > 1 for _, s in space.buckets)
    assert bucket("batched_matmul", {"B": 1, "M": 512, "N": 512, "K": 512}) == "medium"
    assert bucket("batched_matmul", {"B": 16, "M": 512, "N": 512, "K": 512}) == "large"
    plan = build_plan(
        get_kernel("batched_matmul"),
        {"B": 5, "M": 40, "N": 64, "K": 32},
        "float32",
        "gemm",
        DIRECT,
    )
    assert plan.passes[0].entry == "gemmu" and plan.passes[0].workgroups[2] == 5


# -- reduce ------------------------------------------------------------------------------------
def test_reduce_rows_runs_its_tunable_entry_point_along_rows_only():
    spec = get_kernel("reduce")
    knobs = {"tx": 32, "rpw": 2}
    plan = build_plan(spec, {"rows": 5, "cols": 77, "op": "max"}, "float32", "rows", knobs)
    (ps,) = plan.passes
    assert ps.entry == "rowblock" and ps.workgroup_size == (32, 2, 1) and ps.workgroups[0] == 3
    assert "const R_TX: u32 = 32u;" in plan.shaders[ps.shader] and ps.constants == {"OP": 1}
    cols = build_plan(spec, {"rows": 5, "cols": 77, "axis": 0}, "float32", "rows", knobs)
    assert cols.passes[0].entry == "cols"
    with pytest.raises(ParameterError, match="power of two"):
        build_plan(spec, {}, "float32", "rows", {"tx": 24, "rpw": 2})
    with pytest.raises(ParameterError, match="takes no knobs"):
        build_plan(spec, {}, "float32", "default", knobs)


def test_reduce_space_checks_both_ops_and_both_axes():
    space = SPACES["reduce"]
    assert space.default in space.points() and len(space.points()) == 15
    assert {(s["op"], s["axis"]) for s in space.verify} == {("sum", 1), ("max", 1), ("max", 0)}
    assert bucket("reduce", {"rows": 8, "cols": 4096, "op": "sum", "axis": 1}) == "large"


# -- on a real adapter -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def be():
    from accel_toolkit.backends._wgpu import WgpuBackend

    avail = WgpuBackend.probe()
    if not avail.available:
        pytest.skip(avail.reason)
    backend = WgpuBackend(tuning=False)
    yield backend
    backend.close()


def _check_point(be, kernel: str, knobs, extra=()) -> None:
    from accel_toolkit.tuning._devices import TuneDevice
    from accel_toolkit.tuning._tuner import check_point

    spec = get_kernel(kernel)
    space = SPACES[kernel]
    status, err, why = check_point(TuneDevice(be), spec, space, knobs)
    assert status == "ok", (status, err, why)
    for shape in extra:
        p = spec.resolve(shape)
        x = spec.make_inputs(p, "float32")
        out = be.execute(build_plan(spec, p, "float32", space.variant, knobs), x)
        assert spec.check(out, spec.reference(x, p), p, "float32").passed, shape


GEMM_POINTS = [
    DIRECT,
    SWIFTSHADER_GEMM_KNOBS,
    {**DIRECT, "wg_x": 4, "wg_y": 4, "tm": 8, "tn": 8},
    STAGED,
    {**STAGED, "wg_x": 4, "wg_y": 4, "tm": 8, "tn": 8, "tk": 8},
]


@pytest.mark.wgpu
@pytest.mark.parametrize("knobs", GEMM_POINTS, ids=[knobs_key(k) for k in GEMM_POINTS])
def test_linear_gelu_points_match_numpy(be, knobs):
    _check_point(be, "linear_gelu", knobs, ({"M": 1, "N": 8, "K": 4}, {"M": 9, "N": 21, "K": 13}))


@pytest.mark.wgpu
@pytest.mark.parametrize("knobs", [DIRECT, STAGED, LOOP], ids=["gemmu", "gemmus", "gemm4"])
def test_batched_matmul_points_match_numpy(be, knobs):
    _check_point(be, "batched_matmul", knobs, ({"B": 3, "M": 5, "N": 8, "K": 12},))


@pytest.mark.wgpu
@pytest.mark.parametrize("knobs", SPACES["reduce"].points(), ids=knobs_key)
def test_reduce_points_match_numpy(be, knobs):
    extra = (
        {"rows": 70000, "cols": 3, "op": "sum", "axis": 1},  # workgroups tiled over y
        {"rows": 4, "cols": 2050, "op": "max", "axis": 1},
    )
    _check_point(be, "reduce", knobs, extra)


# -- matmul_int8 -------------------------------------------------------------------------------
def test_matmul_int8_gemm_takes_the_packed_layout_and_its_knobs():
    from accel_toolkit.backends._wgsl_plans import INT8_KNOBS, int8_source

    spec = get_kernel("matmul_int8")
    knobs = {"wg_x": 16, "wg_y": 2, "tm": 2, "tn": 4}
    plan = build_plan(spec, {"M": 50, "N": 70, "K": 30}, "float32", "gemm", knobs)
    (ps,) = plan.passes
    assert ps.entry == "gemm" and ps.workgroup_size == (16, 2, 1)
    assert ps.workgroups == (2, 13, 1) and not plan.features  # no dot4 feature needed
    assert plan.buffers[0].size == 50 * 32  # rows zero-padded to whole words
    src = int8_source(INT8_KNOBS)
    assert not re.search(r"^\s*// @unroll", src, re.M) and "c7_7 += dot(ta7, tb7);" in src
    with pytest.raises(ParameterError, match="takes no knobs"):
        build_plan(spec, {}, "float32", "unpack", knobs)
    with pytest.raises(ParameterError, match="positive integers"):
        build_plan(spec, {}, "float32", "gemm", {**knobs, "tm": 0})
    space = SPACES["matmul_int8"]
    assert INT8_KNOBS in space.points()
    assert [bucket("matmul_int8", s) for _, s in space.buckets] == ["small", "medium", "large"]


INT8_POINTS = [
    {"wg_x": 8, "wg_y": 4, "tm": 8, "tn": 8},
    {"wg_x": 8, "wg_y": 8, "tm": 4, "tn": 4},
    {"wg_x": 4, "wg_y": 4, "tm": 8, "tn": 8},
    {"wg_x": 16, "wg_y": 1, "tm": 1, "tn": 1},
    {"wg_x": 64, "wg_y": 1, "tm": 2, "tn": 4},
]


@pytest.mark.wgpu
@pytest.mark.parametrize("knobs", INT8_POINTS, ids=knobs_key)
def test_matmul_int8_points_match_numpy(be, knobs):
    _check_point(be, "matmul_int8", knobs, ({"M": 1, "N": 1, "K": 1}, {"M": 9, "N": 33, "K": 8}))
