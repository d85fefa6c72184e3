"""matmul.wgsl's unrolled GEMM entry points (``gemmu``, ``gemmus``), their knob, the template
that writes them out, and the per-adapter default points.

The unmarked tests need no GPU; the ``wgpu`` tier runs the entry points on a real adapter
(lavapipe on a machine without a GPU) against numpy.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace

import numpy as np
import pytest

from accel_toolkit.backends._compute_plan import BufferSpec, render_shader
from accel_toolkit.backends._wgsl import build_plan
from accel_toolkit.backends._wgsl_plans import (
    GEMM_KNOBS,
    SWIFTSHADER_GEMM_KNOBS,
    gemm_entry,
    gemm_knob_problem,
    gemm_source,
    unroll_lines,
)
from accel_toolkit.exceptions import ParameterError
from accel_toolkit.kernels import get_kernel
from accel_toolkit.store import Store
from accel_toolkit.tuning import SPACES, best, knobs_key
from accel_toolkit.tuning._records import Point, add_points

SPACE = SPACES["matmul"]
DIRECT = {**GEMM_KNOBS, "unroll": True, "shared": False, "tk": 4}
STAGED = {**GEMM_KNOBS, "unroll": True, "shared": True, "tk": 16}
TEMPLATE = re.compile(r"^\s*// @unroll", re.M)


# -- the template ------------------------------------------------------------------------------
def test_unroll_lines_writes_every_index_on_the_same_line():
    src = "a\n  // @unroll i<TM j<2: c{i}_{j} += x{i} * y{j};\nb"
    out = unroll_lines(src, {"TM": 3})
    lines = out.split("\n")
    assert len(lines) == 3 and lines[0] == "a" and lines[2] == "b"
    assert lines[1].startswith("  c0_0 += x0 * y0; c0_1 += x0 * y1; c1_0")
    assert lines[1].count("+=") == 6 and "{" not in lines[1]


def test_the_rendered_shader_keeps_the_files_line_numbers():
    raw = render_shader("matmul.wgsl")
    for knobs in (DIRECT, STAGED, {**DIRECT, "tm": 8, "tn": 8}):
        src = gemm_source(knobs)
        assert src.count("\n") == raw.count("\n")
        assert not TEMPLATE.search(src)  # every template line is written out
    assert TEMPLATE.search(raw)  # and the raw file keeps them as comments (valid WGSL)
    assert "g_bias4" in gemm_source(DIRECT, blocks=("gelu",))
    assert "g_bias4" not in gemm_source(DIRECT)


def test_eight_row_blocks_name_no_variable_after_a_buffer():
    # a per-row variable named a{i} would be `a4` at i = 4 and shadow the vec4 view of A
    src = gemm_source({**DIRECT, "tm": 8, "tn": 8})
    src = src[src.index("fn gemmu(") :]
    assert "let a4 =" not in src and "let b4 =" not in src and "let c4 =" not in src


# -- the knob ----------------------------------------------------------------------------------
def test_unroll_needs_vec4_and_its_direct_form_one_vec4_of_k():
    assert gemm_knob_problem(DIRECT) is None and gemm_knob_problem(STAGED) is None
    assert "needs vec4" in (gemm_knob_problem({**DIRECT, "vec4": False, "tn": 4}) or "")
    assert "tk must be 4" in (gemm_knob_problem({**DIRECT, "tk": 8}) or "")
    with pytest.raises(ParameterError, match="tk must be 4"):
        build_plan(get_kernel("matmul"), {}, "float32", "gemm", {**DIRECT, "tk": 8})


def test_the_entry_point_follows_the_knobs_and_the_shape():
    assert gemm_entry(DIRECT, 64, 32) == "gemmu"
    assert gemm_entry(STAGED, 64, 32) == "gemmus"
    assert gemm_entry({**STAGED, "unroll": False}, 64, 32) == "gemm4"
    assert gemm_entry(DIRECT, 63, 32) == "gemm" and gemm_entry(DIRECT, 64, 30) == "gemm"
    plan = build_plan(get_kernel("matmul"), {"M": 50, "N": 64, "K": 32}, "float32", "gemm", DIRECT)
    (p,) = plan.passes
    assert p.entry == "gemmu" and p.workgroup_size == (8, 8, 1)
    assert p.workgroups == (math.ceil(64 / 64), math.ceil(50 / 32), 1)


def test_the_space_holds_the_unrolled_points_and_every_default():
    points = SPACE.points()
    keys = {knobs_key(p) for p in points}
    assert knobs_key(GEMM_KNOBS) in keys and knobs_key(SWIFTSHADER_GEMM_KNOBS) in keys
    unrolled = [p for p in points if p["unroll"]]
    assert unrolled and all(p["vec4"] for p in unrolled)
    assert all(p["tk"] == 4 for p in unrolled if not p["shared"])
    assert all(p["wg_y"] >= 4 and p["wg_x"] <= 32 for p in points if not p["unroll"])


def test_the_default_point_follows_the_adapter():
    swift = {"vendor": "google", "architecture": "swiftshader", "driver": ""}
    lava = {"vendor": "Mesa", "device": "llvmpipe (LLVM 15.0.6, 256 bits)"}
    assert SPACE.default_for(swift) == SWIFTSHADER_GEMM_KNOBS
    assert SPACE.default_for(lava) == GEMM_KNOBS == SPACE.default
    assert SPACE.default_for(None) == GEMM_KNOBS
    assert SPACES["softmax"].default_for(swift) == SPACES["softmax"].default


def test_a_point_stored_before_the_unroll_knob_reads_back_as_not_unrolled(tmp_path):
    store = Store(tmp_path / "t.duckdb")
    old = {k: v for k, v in GEMM_KNOBS.items() if k != "unroll"}
    add_points(
        store,
        [
            Point(
                "matmul",
                "gemm",
                "wgpu",
                "fp",
                {},
                "small",
                {},
                "float32",
                old,
                knobs_key(old),
                0,
                "ok",
                chosen=True,
                median_s=0.01,
            )
        ],
    )
    entry = best(store, "matmul", "wgpu", "fp", "small")
    assert entry is not None and entry.knobs["unroll"] is False
    assert gemm_entry(entry.knobs, 64, 64) == "gemm4"


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
    DIRECT,
    SWIFTSHADER_GEMM_KNOBS,
    {**DIRECT, "wg_x": 4, "wg_y": 4, "tm": 8, "tn": 8},
    STAGED,
    {**STAGED, "wg_x": 4, "wg_y": 4, "tm": 8, "tn": 8, "tk": 8},
]


@pytest.mark.wgpu
@pytest.mark.parametrize("knobs", POINTS, ids=[knobs_key(k) for k in POINTS])
@pytest.mark.parametrize("kernel", ["matmul", "batched_matmul"])
def test_unrolled_points_match_numpy(be, kernel, knobs):
    spec = get_kernel(kernel)
    shapes = [*SPACE.verify, {"M": 1, "N": 8, "K": 4}, {"M": 5, "N": 264, "K": 100}]
    for shape in shapes:
        p = spec.resolve({**shape, "B": 2} if kernel == "batched_matmul" else shape)
        x = spec.make_inputs(p, "float32")
        plan = build_plan(spec, p, "float32", "gemm", knobs)
        out = be.execute(plan, x)
        assert spec.check(out, spec.reference(x, p), p, "float32").passed, (shape, plan.passes)


@pytest.mark.wgpu
@pytest.mark.parametrize("knobs", [DIRECT, STAGED], ids=["gemmu", "gemmus"])
def test_the_gelu_block_adds_the_bias_and_applies_exact_gelu(be, knobs):
    from scipy.special import erf

    spec = get_kernel("matmul")
    m, n, k = 37, 132, 68
    p = spec.resolve(M=m, N=n, K=k)
    plan = build_plan(spec, p, "float32", "gemm", knobs)
    (ps,) = plan.passes
    nxt = 1 + max(b.init for b in plan.buffers if b.init is not None)
    plan = replace(
        plan,
        shaders={ps.shader: gemm_source(knobs, blocks=("gelu",))},
        buffers=(*plan.buffers, BufferSpec("bias", 4 * n, "input", nxt)),
        passes=(replace(ps, bindings=(*ps.bindings, "bias")),),
        inputs={**plan.inputs, "bias": ("float32", (n,))},
    )
    rng = np.random.default_rng(0)
    x = {
        "a": rng.standard_normal((m, k), np.float32),
        "b": rng.standard_normal((k, n), np.float32) / 8,
        "bias": rng.standard_normal(n).astype(np.float32),
    }
    z = x["a"].astype(np.float64) @ x["b"] + x["bias"]
    want = 0.5 * z * (1 + erf(z / np.sqrt(2)))
    got = be.execute(plan, x)["c"]
    np.testing.assert_allclose(got, want, atol=2e-5, rtol=1e-5)


# -- the model plan ----------------------------------------------------------------------------
def test_the_model_projections_run_the_tunable_gemm():
    from accel_toolkit.models import get_model_spec
    from accel_toolkit.models._plan import record_plan

    spec = get_model_spec("minilm-l6")
    plan, kinds = record_plan(spec, 1, 8, SWIFTSHADER_GEMM_KNOBS)
    by_kind: dict[str, set[tuple[str, str]]] = {}
    for ps, kind in zip(plan.passes, kinds, strict=True):
        by_kind.setdefault(kind, set()).add((ps.shader, ps.entry))
    assert ("matmul.wgsl", "gemmu") in by_kind["linear"]
    assert by_kind["linear_gelu"] == {("matmul.wgsl gelu", "gemmu")}
    gelu = next(ps for ps in plan.passes if ps.shader == "matmul.wgsl gelu")
    assert len(gelu.bindings) == 5 and gelu.workgroup_size == (16, 1, 1)
    assert "g_bias4" in plan.shaders["matmul.wgsl gelu"]
    # a point without the unrolled entry points keeps linear_gelu.wgsl for the fused GELU
    loops = {**GEMM_KNOBS, "unroll": False, "shared": True, "tk": 16}
    plan, _ = record_plan(spec, 1, 8, loops)
    entries = {(ps.shader, ps.entry) for ps in plan.passes}
    assert ("linear_gelu.wgsl", "tiled") in entries and ("matmul.wgsl", "gemm4") in entries
