"""conv2d.wgsl's implicit GEMM (variant ``gemm``, entry point ``gemm``), its knobs, its
tuning space, and the ``direct`` fallback for channel counts it cannot take.

The unmarked tests need no GPU; the ``wgpu`` tier runs the entry point on a real adapter
(lavapipe on a machine without a GPU) against numpy; the browser test runs it on Chromium's
WebGPU adapter.
"""

from __future__ import annotations

import math
import re

import pytest
from tuning_checks import check_tune_then_backend_uses_winner

from accel_toolkit.backends._compute_plan import render_shader
from accel_toolkit.backends._wgsl import build_plan
from accel_toolkit.backends._wgsl_plans import (
    CONV_KNOBS,
    WGSL_PLANS,
    conv_entry,
    conv_knob_problem,
    conv_source,
)
from accel_toolkit.exceptions import ParameterError
from accel_toolkit.kernels import get_kernel
from accel_toolkit.tuning import SPACES, bucket, knobs_key

SPACE = SPACES["conv2d"]
TEMPLATE = re.compile(r"^\s*// @unroll", re.M)
SPEC = get_kernel("conv2d")


def _shape(n: int, c: int, h: int, w: int, f: int, k: int, s: int, pad: int) -> dict[str, int]:
    return {"N": n, "C": c, "H": h, "W": w, "F": f, "kernel": k, "stride": s, "padding": pad}


# -- the shader and the plan -------------------------------------------------------------------
def test_the_rendered_shader_keeps_line_numbers_and_writes_every_template_line():
    raw = render_shader("conv2d.wgsl")
    assert TEMPLATE.search(raw)  # the file keeps them as comments (valid WGSL for `main`)
    for knobs in (CONV_KNOBS, {**CONV_KNOBS, "tm": 8, "tn": 8}, {**CONV_KNOBS, "tm": 1}):
        src = conv_source(knobs)
        assert src.count("\n") == raw.count("\n")
        assert not TEMPLATE.search(src)
        body = src[src.index("fn gemm(") :]
        assert f"c{knobs['tm'] - 1}_{knobs['tn'] // 4 - 1} = fma" in body
        assert "workgroupBarrier" not in body and "var<workgroup>" not in src


def test_knob_problems_say_what_is_wrong():
    assert conv_knob_problem(CONV_KNOBS) is None
    assert "multiple of 4" in (conv_knob_problem({**CONV_KNOBS, "tn": 6}) or "")
    assert "exactly" in (conv_knob_problem({**CONV_KNOBS, "tk": 4}) or "")
    assert "positive integers" in (conv_knob_problem({**CONV_KNOBS, "tm": 0}) or "")
    with pytest.raises(ParameterError, match="multiple of 4"):
        build_plan(SPEC, _shape(1, 4, 8, 8, 4, 3, 1, 1), "float32", "gemm", {"tn": 2})
    with pytest.raises(ParameterError, match="variant 'gemm' does"):
        build_plan(SPEC, _shape(1, 4, 8, 8, 4, 3, 1, 1), "float32", "direct", CONV_KNOBS)


def test_the_plan_tiles_pixels_by_filters_by_images():
    p = SPEC.resolve(_shape(3, 8, 10, 9, 7, 3, 1, 1))
    knobs = {"wg_x": 8, "wg_y": 2, "tm": 2, "tn": 8}
    plan = build_plan(SPEC, p, "float32", "gemm", knobs)
    (ps,) = plan.passes
    assert ps.entry == "gemm" and ps.workgroup_size == (8, 2, 1)
    assert ps.workgroups == (math.ceil(90 / 64), math.ceil(7 / 4), 3)
    assert plan.knobs == knobs and plan.variant == "gemm"


def test_channels_not_a_multiple_of_four_run_the_direct_entry_point():
    assert conv_entry({"C": 3}) == "main" and conv_entry({"C": 64}) == "gemm"
    plan = build_plan(SPEC, SPEC.resolve(_shape(1, 3, 8, 8, 4, 3, 1, 1)), "float32", "gemm")
    assert [ps.entry for ps in plan.passes] == ["main"]


# -- the space ---------------------------------------------------------------------------------
def test_conv2d_is_tunable_and_its_space_holds_the_defaults():
    assert WGSL_PLANS["conv2d"].tunable == "gemm"
    assert WGSL_PLANS["conv2d"].variants[0] == "direct"
    keys = {knobs_key(p) for p in SPACE.points()}
    assert knobs_key(CONV_KNOBS) in keys
    assert all(p["tn"] % 4 == 0 and 16 <= p["wg_x"] * p["wg_y"] <= 256 for p in SPACE.points())
    swift = {"vendor": "google", "architecture": "swiftshader"}
    assert SPACE.default_for(swift) == CONV_KNOBS  # one measured default for both classes
    assert SPACE.default_for({"device": "llvmpipe"}) == CONV_KNOBS == SPACE.default
    assert any(s["C"] % 4 for s in SPACE.verify)  # the fallback is checked too


def test_buckets_follow_the_work_of_the_gemm():
    names = [bucket("conv2d", SPEC.resolve(s)) for _, s in SPACE.buckets]
    assert names == ["small", "medium", "large"]
    medium = SPEC.preset("medium")
    assert [bucket("conv2d", SPEC.resolve(p)) for p in medium] == ["medium", "large", "medium"]


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


POINTS = [
    CONV_KNOBS,
    {"wg_x": 16, "wg_y": 1, "tm": 4, "tn": 4},
    {"wg_x": 8, "wg_y": 2, "tm": 8, "tn": 8},
    {"wg_x": 4, "wg_y": 4, "tm": 1, "tn": 4},
    {"wg_x": 64, "wg_y": 1, "tm": 2, "tn": 8},
]
EXTRA = [
    _shape(1, 4, 1, 1, 1, 1, 1, 0),  # one pixel, one filter
    _shape(2, 16, 12, 12, 33, 3, 1, 0),  # no padding, F past a tile
    _shape(1, 8, 7, 5, 3, 3, 3, 2),  # stride larger than the kernel's overlap
]


@pytest.mark.wgpu
@pytest.mark.parametrize("knobs", POINTS, ids=[knobs_key(k) for k in POINTS])
def test_gemm_points_match_numpy(be, knobs):
    for shape in [*SPACE.verify, *EXTRA]:
        p = SPEC.resolve(shape)
        x = SPEC.make_inputs(p, "float32")
        plan = build_plan(SPEC, p, "float32", "gemm", knobs)
        out = be.execute(plan, x)
        res = SPEC.check(out, SPEC.reference(x, p), p, "float32")
        assert res.passed, (shape, plan.passes, res.describe())


@pytest.mark.wgpu
def test_gemm_in_float16_matches_numpy(be):
    if "shader-f16" not in be.features:
        pytest.skip("adapter lacks shader-f16")
    p = SPEC.resolve(_shape(2, 8, 9, 7, 5, 3, 1, 1))
    x = SPEC.make_inputs(p, "float16")
    out = be.execute(build_plan(SPEC, p, "float16", "gemm", CONV_KNOBS), x)
    assert SPEC.check(out, SPEC.reference(x, p), p, "float16").passed


@pytest.mark.wgpu
def test_the_backend_runs_the_gemm_by_default_and_direct_when_asked(be):
    p = SPEC.resolve(_shape(1, 8, 10, 10, 6, 3, 1, 1))
    choice = be.tuning_choice(SPEC, p, "float32")
    assert choice is not None and choice.variant == "gemm" and choice.source == "default"
    assert [ps.entry for ps in be.plan(SPEC, p, "float32").passes] == ["gemm"]
    from accel_toolkit.backends._wgpu import WgpuBackend

    direct = WgpuBackend(tuning=False, variants={"conv2d": "direct"})
    try:
        assert [ps.entry for ps in direct.plan(SPEC, p, "float32").passes] == ["main"]
    finally:
        direct.close()


@pytest.mark.wgpu
def test_tune_searches_conv2d_and_the_backend_uses_the_winner(be, db_path):
    check_tune_then_backend_uses_winner(be, db_path, "conv2d", "gemm", CONV_KNOBS)


@pytest.mark.slow
@pytest.mark.browser
def test_the_webgpu_backend_runs_the_gemm_against_numpy():
    pytest.importorskip("playwright")
    from accel_toolkit.backends.browser import WebGPUBackend
    from accel_toolkit.exceptions import BackendUnavailableError
    from accel_toolkit.harness import TimingSettings

    try:
        web = WebGPUBackend(tuning=False)
    except BackendUnavailableError as exc:
        pytest.skip(str(exc))
    try:
        for shape in (*SPACE.verify[:2], SPACE.verify[-1], EXTRA[1]):
            p = SPEC.resolve(shape)
            x = SPEC.make_inputs(p, "float32")
            m = web.measure(SPEC, p, "float32", x, TimingSettings.quick())
            res = SPEC.check(m.outputs, SPEC.reference(x, p), p, "float32")
            assert res.passed, (shape, res.describe())
            assert m.timing.extra["variant"] == "gemm"
            if p["C"] % 4 == 0:
                assert m.timing.extra["knobs"] == CONV_KNOBS
    finally:
        web.close()
