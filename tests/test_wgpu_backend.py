"""The ``wgpu`` backend on a real adapter (lavapipe on a machine without a GPU).

Every kernel x tiny preset x every WGSL variant is checked against the numpy reference
through :func:`accel_toolkit.run`; a sweep goes through :func:`accel_toolkit.bench` into a
temporary DuckDB; compile errors and resource limits fail the way they promise to.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import accel_toolkit
from accel_toolkit.backends._pool import BackendPool
from accel_toolkit.backends._wgsl import DOT4, WGSL_PLANS, variants
from accel_toolkit.exceptions import (
    ParameterError,
    ResourceLimitError,
    ShaderCompileError,
    UnsupportedKernelError,
)
from accel_toolkit.harness import TimingSettings
from accel_toolkit.kernels import KERNELS, get_kernel

pytestmark = pytest.mark.wgpu


@pytest.fixture(scope="module")
def be():
    pytest.importorskip(
        "wgpu", reason="wgpu-py is not installed: pip install 'accel-toolkit[wgpu]'"
    )
    from accel_toolkit.backends._wgpu import WgpuBackend

    avail = WgpuBackend.probe()
    if not avail.available:
        pytest.skip(avail.reason)
    backend = WgpuBackend()
    yield backend
    backend.close()


def test_probe_describes_the_adapter(be):
    avail = type(be).probe()
    assert avail.available
    for key in (
        "name",
        "vendor",
        "architecture",
        "description",
        "backend_type",
        "adapter_type",
        "is_fallback_adapter",
        "limits",
        "features",
    ):
        assert key in avail.device
    assert avail.device["limits"]["max-storage-buffer-binding-size"] > 0
    info = be.device_info()
    assert info["name"] and info["wgpu"]


@pytest.mark.parametrize(
    "kernel,variant", [(k, v) for k in KERNELS if k in WGSL_PLANS for v in variants(k)]
)
def test_every_kernel_and_variant_matches_the_reference(be, kernel, variant):
    spec = get_kernel(kernel)
    if variant == "dot4" and DOT4 not in be.features:
        pytest.skip(f"this adapter lacks the WGSL language feature {DOT4}")
    be.variants = {kernel: variant}
    try:
        for p in spec.preset("tiny"):
            r = accel_toolkit.run(kernel, be, params=p)
            assert r.passed, f"{kernel}/{variant} {p}: {r.check.describe()}"
    finally:
        be.variants = {}


@pytest.mark.parametrize("kernel", list(KERNELS))
def test_float16_matches_or_is_reported_unsupported(be, kernel):
    spec = get_kernel(kernel)
    p = spec.preset("tiny")[-1]
    if "shader-f16" not in be.features:
        assert "shader-f16" in be.supports(spec, p, "float16")
        with pytest.raises(UnsupportedKernelError, match="shader-f16"):
            accel_toolkit.run(kernel, be, params=p, dtype="float16")
        return
    r = accel_toolkit.run(kernel, be, params=p, dtype="float16")
    assert r.passed, r.check.describe()
    assert all(v.dtype.name in ("float16", "int8") for v in r.outputs.values())


@pytest.mark.parametrize(
    "kernel,params",
    [
        ("softmax", {"rows": 70_000, "cols": 3}),  # rows tile over y (more than 65535 workgroups)
        ("reduce", {"rows": 70_000, "cols": 2, "axis": 1, "op": "max"}),
        ("reduce", {"rows": 3, "cols": 257, "axis": 0, "op": "sum"}),
        ("attention", {"batch": 1, "heads": 1, "seq": 3, "head_dim": 512}),  # DPT x WG columns
        (
            "attention",
            {"batch": 2, "heads": 1, "seq": 70, "head_dim": 3, "causal": True},
        ),  # 2 key blocks
        ("matmul", {"M": 1, "N": 1, "K": 1}),
        ("quantize_int8", {"rows": 3, "cols": 1}),
    ],
)
def test_edge_sizes(be, kernel, params):
    r = accel_toolkit.run(kernel, be, params=params)
    assert r.passed, r.check.describe()


@pytest.mark.parametrize("kernel", list(KERNELS))
def test_spec_edge_cases_match_the_reference(be, kernel):
    """The odd and edge sizes every backend runs (``KernelSpec.edge_cases``)."""
    for p in get_kernel(kernel).edge_configs():
        r = accel_toolkit.run(kernel, be, params=p)
        assert r.passed, f"{kernel} {p}: {r.check.describe()}"


def _params(spec):
    """Any valid parameters up to the spec's ``test_max`` (odd sizes included)."""
    out = {}
    for prm in spec.params:
        if prm.choices is not None:
            out[prm.name] = st.sampled_from(prm.choices)
        elif prm.kind is bool:
            out[prm.name] = st.booleans()
        else:
            lo = prm.minimum or 0
            out[prm.name] = st.integers(lo, max(lo, prm.test_max or 64))
    return st.fixed_dictionaries(out)


@pytest.mark.parametrize("kernel", list(KERNELS))
def test_property_random_sizes_match_the_reference(be, kernel):
    spec = get_kernel(kernel)
    usable = [v for v in variants(kernel) if v != "dot4" or DOT4 in be.features]

    @settings(
        max_examples=12,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(params=_params(spec), variant=st.sampled_from(usable), seed=st.integers(0, 2**31 - 1))
    def check(params, variant, seed):
        try:
            p = spec.resolve(params)
        except ParameterError as exc:
            assert kernel == "conv2d" and "padded input" in str(exc)
            return
        be.variants = {kernel: variant}
        try:
            r = accel_toolkit.run(kernel, be, params=p, seed=seed)
        finally:
            be.variants = {}
        assert r.passed, (variant, p, r.check.describe())

    check()


@pytest.mark.parametrize("variant", variants("matmul"))
def test_matmul_variants_span_several_tiles(be, variant):
    """Odd sizes crossing several workgroup tiles (64-wide blocks, 16-deep K steps)."""
    be.variants = {"matmul": variant, "batched_matmul": variant}
    try:
        assert accel_toolkit.run("matmul", be, M=70, N=130, K=33).passed
        assert accel_toolkit.run("batched_matmul", be, B=2, M=65, N=3, K=17).passed
    finally:
        be.variants = {}


def test_bench_stores_rows_with_the_device(be, db_path):
    df = accel_toolkit.bench(
        "matmul,quantize_int8",
        "wgpu",
        preset="tiny",
        db=str(db_path),
        settings=TimingSettings.quick(),
        progress=False,
        pool=BackendPool(instances={"wgpu": be}),
    )
    assert len(df) == 4
    assert set(df["status"]) == {"ok"}, df[["kernel", "status", "error"]]
    assert (df["median_s"] > 0).all() and (df["first_run_s"] > 0).all()
    assert set(df["timer"]) <= {"submitted-work-done", "readback"}
    assert set(df["device"]) == {be.device_info()["name"]}
    from accel_toolkit.store import Store

    row = Store(db_path).query("SELECT device_info, extra FROM measurements LIMIT 1").iloc[0]
    import json

    info, extra = json.loads(row["device_info"]), json.loads(row["extra"])
    assert info["backend_type"] and info["adapter_type"] and info["wgsl_variant"]
    assert extra["timing"]["compile_s"] >= 0 and "plan_key" in extra["timing"]


def test_measure_separates_compile_from_steady_state(be):
    spec = get_kernel("softmax")
    p = spec.resolve(rows=5, cols=37)
    be.close()  # cold pipeline cache
    m = be.measure(spec, p, "float32", spec.make_inputs(p, "float32"), TimingSettings.quick())
    extra = m.timing.extra
    assert extra["compile_s"] > 0 and not extra["pipeline_cached"]
    assert m.timing.first_run_s >= extra["compile_s"]
    assert m.timing.timer in ("submitted-work-done", "readback") and len(m.timing.samples) >= 1
    assert spec.check(
        m.outputs, spec.reference(spec.make_inputs(p, "float32"), p), p, "float32"
    ).passed
    again = be.measure(spec, p, "float32", spec.make_inputs(p, "float32"), TimingSettings.quick())
    assert again.timing.extra["pipeline_cached"]


def test_syntax_error_raises_shader_compile_error_with_file_and_line(be):
    spec = get_kernel("gelu")
    p = spec.resolve(n=10)
    plan = be.plan(spec, p, "float32")
    lines = plan.shaders["gelu.wgsl"].split("\n")
    bad = next(i for i, s in enumerate(lines) if "let v = f32(x[i]);" in s)
    lines[bad] = "  let v = f32(x[i]) +;"
    broken = plan.with_shader("gelu.wgsl", "\n".join(lines))
    with pytest.raises(ShaderCompileError) as info:
        be.execute(broken, spec.make_inputs(p, "float32"))
    err = info.value
    assert err.shader == "gelu.wgsl" and err.line == bad + 1
    assert f"shaders/gelu.wgsl:{bad + 1}" in str(err) and "gelu" in str(err)
    assert err.compiler_message


def test_too_large_input_raises_before_dispatch(be):
    spec = get_kernel("gelu")
    cap = be.limits["max-storage-buffer-binding-size"]
    n = cap // 4 + 1
    if n > spec.params[0].maximum:
        pytest.skip(f"this adapter binds {cap} bytes, more than gelu's largest input")
    # No inputs are given: the limit must be checked before anything is encoded or dispatched.
    with pytest.raises(ResourceLimitError, match="maxStorageBufferBindingSize"):
        be.run(spec, spec.resolve(n=n), "float32", inputs={})


def test_recover_recreates_the_device(be):
    old = be._device
    be.recover()
    assert be._device is not old
    assert accel_toolkit.run("gelu", be, n=33).passed
