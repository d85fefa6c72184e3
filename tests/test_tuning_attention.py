"""attention.wgsl's register-blocked entry point (variant ``flash``, entry point ``flash``),
its knobs, its tuning space, the ``main`` fallback for head dimensions it cannot hold, and
the model plan's use of it.

The unmarked tests need no GPU; the ``wgpu`` tier runs the entry point on a real adapter
(lavapipe on a machine without a GPU) against numpy, at the spec's edge inputs too; the
browser test runs it on Chromium's WebGPU adapter.
"""

from __future__ import annotations

import math
import re
import struct

import numpy as np
import pytest
from edge_inputs import KINDS, assert_matches, edge_inputs
from tuning_checks import check_tune_then_backend_uses_winner

from accel_toolkit.backends._compute_plan import render_shader
from accel_toolkit.backends._wgsl import build_plan
from accel_toolkit.backends._wgsl_plans import (
    ATTENTION_KNOBS,
    FLASH_MAX_DIM,
    WGSL_PLANS,
    attention_entry,
    attention_knob_problem,
    attention_source,
    attention_tiles,
)
from accel_toolkit.exceptions import ParameterError
from accel_toolkit.kernels import get_kernel
from accel_toolkit.tuning import SPACES, bucket, knobs_key

SPACE = SPACES["attention"]
TEMPLATE = re.compile(r"^\s*// @unroll", re.M)
SPEC = get_kernel("attention")


def _shape(b: int, h: int, s: int, d: int, causal: bool = False) -> dict[str, object]:
    return {"batch": b, "heads": h, "seq": s, "head_dim": d, "causal": causal}


# -- the shader and the plan -------------------------------------------------------------------
def test_the_rendered_shader_keeps_line_numbers_and_writes_every_template_line():
    raw = render_shader("attention.wgsl")
    assert TEMPLATE.search(raw)  # the file keeps them as comments (valid WGSL for `main`)
    cases = [(ATTENTION_KNOBS, 32), ({"wg": 8, "tq": 4, "tk": 2}, 64)]
    for knobs, dim in [*cases, ({"wg": 4, "tq": 1, "tk": 1}, 4)]:
        src = attention_source(knobs, dim)
        assert src.count("\n") == raw.count("\n")
        assert not TEMPLATE.search(src)
        body = src[src.index("fn flash(") :]
        last = f"o{knobs['tq'] - 1}_{dim // 4 - 1}"
        assert f"var {last} = vec4<f32>(0.0);" in body
        assert f"s{knobs['tq'] - 1}_{knobs['tk'] - 1}" in body
        assert "workgroupBarrier" not in body and "var<workgroup>" not in body
        assert "array<f32" not in body  # no indexed private arrays of accumulators


def test_knob_problems_say_what_is_wrong():
    assert attention_knob_problem(ATTENTION_KNOBS) is None
    assert "exactly" in (attention_knob_problem({**ATTENTION_KNOBS, "td": 4}) or "")
    assert "positive integers" in (attention_knob_problem({**ATTENTION_KNOBS, "tq": 0}) or "")
    assert "positive integers" in (attention_knob_problem({**ATTENTION_KNOBS, "tk": True}) or "")
    p = SPEC.resolve(_shape(1, 2, 9, 8))
    with pytest.raises(ParameterError, match="positive integers"):
        build_plan(SPEC, p, "float32", "flash", {"wg": 0})
    with pytest.raises(ParameterError, match="variant 'flash' does"):
        build_plan(SPEC, p, "float32", "online", ATTENTION_KNOBS)


def test_the_plan_tiles_query_rows_per_head():
    p = SPEC.resolve(_shape(2, 3, 37, 8, True))
    knobs = {"wg": 4, "tq": 2, "tk": 4}
    plan = build_plan(SPEC, p, "float32", "flash", knobs)
    (ps,) = plan.passes
    tiles = math.ceil(37 / 8)
    assert attention_tiles(knobs, 37) == tiles
    assert ps.entry == "flash" and ps.workgroup_size == (4, 1, 1)
    assert ps.workgroups == (2 * 3 * tiles, 1, 1)
    words = struct.unpack("<8I", plan.uniforms["params"])
    assert words[:5] == (2, 3, 37, 8, 1) and words[6] == tiles
    assert plan.knobs == knobs and plan.variant == "flash"


def test_head_dims_flash_cannot_hold_run_main():
    assert attention_entry(32) == "flash" and attention_entry(FLASH_MAX_DIM) == "flash"
    assert attention_entry(20) == "flash" and attention_entry(3) == "main"
    assert attention_entry(FLASH_MAX_DIM + 4) == "main"
    for d in (3, 256):
        plan = build_plan(SPEC, SPEC.resolve(_shape(1, 1, 5, d)), "float32", "flash")
        assert [ps.entry for ps in plan.passes] == ["main"]
        assert plan.passes[0].constants == {"WG": 64}


# -- the space ---------------------------------------------------------------------------------
def test_attention_is_tunable_and_its_space_holds_the_default():
    assert WGSL_PLANS["attention"].tunable == "flash"
    assert WGSL_PLANS["attention"].variants[0] == "online"
    points = SPACE.points()
    assert knobs_key(ATTENTION_KNOBS) in {knobs_key(k) for k in points}
    assert all(k["tq"] * k["tk"] <= 32 for k in points) and len(points) > 24  # halving
    assert SPACE.limit_problem({"wg": 512, "tq": 1, "tk": 1}, {}) is not None
    assert any(s["head_dim"] % 4 for s in SPACE.verify)  # the fallback is checked too
    assert any(s["causal"] for s in SPACE.verify)


def test_buckets_follow_the_sequence_length():
    names = [bucket("attention", SPEC.resolve(s)) for _, s in SPACE.buckets]
    assert names == ["small", "medium", "large"]
    assert bucket("attention", SPEC.resolve(_shape(1, 12, 128, 32))) == "small"  # MiniLM
    assert bucket("attention", SPEC.resolve(_shape(1, 8, 512, 64))) == "medium"


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
    ATTENTION_KNOBS,
    {"wg": 4, "tq": 8, "tk": 4},
    {"wg": 64, "tq": 1, "tk": 1},
    {"wg": 8, "tq": 3, "tk": 3},  # not in the space: partial tiles everywhere
    {"wg": 16, "tq": 2, "tk": 8},
]
EXTRA = [
    _shape(1, 1, 1, 128, False),  # one key, the largest head_dim flash holds
    _shape(2, 2, 33, 16, True),  # key steps past the causal diagonal
    _shape(1, 1, 3, 512, False),  # head_dim past FLASH_MAX_DIM: main
]


@pytest.mark.wgpu
@pytest.mark.parametrize("knobs", POINTS, ids=[knobs_key(k) for k in POINTS])
def test_flash_points_match_numpy(be, knobs):
    for shape in [*SPACE.verify, *EXTRA, *SPEC.edge_configs()]:
        p = SPEC.resolve(shape)
        x = SPEC.make_inputs(p, "float32")
        plan = build_plan(SPEC, p, "float32", "flash", knobs)
        out = be.execute(plan, x)
        res = SPEC.check(out, SPEC.reference(x, p), p, "float32")
        assert res.passed, (shape, plan.passes, res.describe())


@pytest.mark.wgpu
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_flash_at_the_edge_inputs(be, dtype):
    """The inputs of ``edge_inputs`` (large exact scores, one spike, equal keys, zeros,
    negatives, float16 near its largest value), causal and not, two query tiles."""
    if dtype == "float16" and "shader-f16" not in be.features:
        pytest.skip("adapter lacks shader-f16")
    kinds = KINDS if dtype == "float16" else KINDS[:-1]
    knobs = {"wg": 4, "tq": 2, "tk": 4}
    for causal in (False, True):
        p = SPEC.resolve(_shape(2, 2, 9, 16, causal))
        for seed, kind in enumerate(kinds):
            for lane in (0, 7):
                x = edge_inputs("attention", p, dtype, kind, lane, seed)
                plan = build_plan(SPEC, p, dtype, "flash", knobs)
                with np.errstate(over="ignore"):
                    got = be.execute(plan, x)
                assert_matches("attention", got, x, p, dtype, f"flash {kind} lane={lane}")


@pytest.mark.wgpu
def test_flash_in_float16_matches_numpy(be):
    if "shader-f16" not in be.features:
        pytest.skip("adapter lacks shader-f16")
    for shape in SPACE.verify:
        p = SPEC.resolve(shape)
        x = SPEC.make_inputs(p, "float16")
        out = be.execute(build_plan(SPEC, p, "float16", "flash", ATTENTION_KNOBS), x)
        assert SPEC.check(out, SPEC.reference(x, p), p, "float16").passed, shape


@pytest.mark.wgpu
def test_the_backend_runs_flash_by_default_and_online_when_asked(be):
    p = SPEC.resolve(_shape(1, 2, 20, 8))
    choice = be.tuning_choice(SPEC, p, "float32")
    assert choice is not None and choice.variant == "flash" and choice.source == "default"
    assert [ps.entry for ps in be.plan(SPEC, p, "float32").passes] == ["flash"]
    from accel_toolkit.backends._wgpu import WgpuBackend

    online = WgpuBackend(tuning=False, variants={"attention": "online"})
    try:
        assert [ps.entry for ps in online.plan(SPEC, p, "float32").passes] == ["main"]
    finally:
        online.close()


@pytest.mark.wgpu
def test_tune_searches_attention_and_the_backend_uses_the_winner(be, db_path):
    check_tune_then_backend_uses_winner(be, db_path, "attention", "flash", ATTENTION_KNOBS)


@pytest.mark.slow
@pytest.mark.browser
def test_the_webgpu_backend_runs_flash_against_numpy():
    pytest.importorskip("playwright")
    from accel_toolkit.backends.browser import WebGPUBackend
    from accel_toolkit.exceptions import BackendUnavailableError
    from accel_toolkit.harness import TimingSettings

    try:
        web = WebGPUBackend(tuning=False)
    except BackendUnavailableError as exc:
        pytest.skip(str(exc))
    try:
        for shape in (*SPACE.verify, EXTRA[1]):
            p = SPEC.resolve(shape)
            x = SPEC.make_inputs(p, "float32")
            m = web.measure(SPEC, p, "float32", x, TimingSettings.quick())
            res = SPEC.check(m.outputs, SPEC.reference(x, p), p, "float32")
            assert res.passed, (shape, res.describe())
            assert m.timing.extra["variant"] == "flash"
    finally:
        web.close()
