"""WGSL shaders and compute plans: well-formed plans for every kernel, byte encoding, limits.

The unmarked tests need no GPU. The ``wgpu`` tier compiles every shader (every variant and
dtype) with naga through wgpu-py.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import struct

import numpy as np
import pytest

from accel_toolkit._assets import asset_dir, load_shader
from accel_toolkit.backends._wgsl import (
    DOT4,
    WGSL_PLANS,
    ComputePlan,
    build_plan,
    check_limits,
    parse_compile_error,
    render_shader,
    shader_compile_error,
    supports,
    variants,
)
from accel_toolkit.exceptions import (
    ParameterError,
    ResourceLimitError,
    ShaderCompileError,
    UnsupportedKernelError,
)
from accel_toolkit.kernels import KERNELS, get_kernel

ALL_FEATURES = {"shader-f16", DOT4}
# kernels without a plan are left to the coverage test, which names what is missing
CASES = [
    (k, v, i)
    for k in KERNELS
    if k in WGSL_PLANS
    for v in variants(k)
    for i in range(len(KERNELS[k].presets["tiny"]))
]


def _plan(kernel: str, variant: str, i: int, dtype: str = "float32") -> ComputePlan:
    spec = get_kernel(kernel)
    return build_plan(spec, spec.preset("tiny")[i], dtype, variant)


@pytest.mark.parametrize("kernel", list(KERNELS))
def test_every_kernel_has_a_plan_and_its_shader_file(kernel):
    assert kernel in WGSL_PLANS, WGSL_PLANS.missing(kernel)
    names = {p.name for p in asset_dir("shaders").glob("*.wgsl")}
    shaders = _plan(kernel, variants(kernel)[0], 0).shaders
    missing = ", ".join(set(shaders) - names)
    assert set(shaders) <= names, f"kernel {kernel!r}: add shaders/{missing}"


def test_plans_share_shader_files_by_name():
    assert "matmul.wgsl" in _plan("batched_matmul", "tiled", 0).shaders


def test_a_kernel_without_a_plan_names_the_file_to_add_it_in():
    spec = get_kernel("softmax")
    unknown = dataclasses.replace(spec, name="no_such_kernel")
    with pytest.raises(
        UnsupportedKernelError,
        match=r"no WGSL plan builder: add one in "
        r"accel_toolkit/backends/_wgsl_plans\.py",
    ):
        build_plan(unknown, spec.preset("tiny")[0])
    assert "no WGSL plan builder" in supports(unknown, spec.preset("tiny")[0], "float32")


@pytest.mark.parametrize("kernel,variant,i", CASES)
def test_plan_is_well_formed(kernel, variant, i):
    plan = _plan(kernel, variant, i)
    doc = json.loads(json.dumps(plan.to_json()))
    assert {
        "kernel",
        "variant",
        "key",
        "features",
        "shaders",
        "buffers",
        "passes",
        "outputs",
    } <= set(doc)
    names = [b["name"] for b in doc["buffers"]]
    assert len(names) == len(set(names))
    inits = sorted(b["init"] for b in doc["buffers"] if b["init"] is not None)
    assert inits == list(range(len(inits)))
    for b in doc["buffers"]:
        assert b["size"] > 0 and b["size"] % 4 == 0
        assert b["usage"] in {"input", "uniform", "output", "scratch"}
        if b["usage"] == "uniform":
            assert b["size"] % 16 == 0
        assert (b["init"] is None) == (b["usage"] in {"output", "scratch"})
    usage = {b["name"]: b["usage"] for b in doc["buffers"]}
    for p in doc["passes"]:
        src = doc["shaders"][p["shader"]]
        assert re.search(rf"fn {p['entry']}\(", src), f"no entry point {p['entry']}"
        declared = {int(k) for k in re.findall(r"@group\(0\) @binding\((\d+)\)", src)}
        assert set(range(len(p["bindings"]))) <= declared
        for k, name in enumerate(p["bindings"]):
            decl = re.search(rf"@binding\({k}\) var<(\w+)", src).group(1)
            assert (decl == "uniform") == (usage[name] == "uniform")
        assert all(1 <= w <= 65535 for w in p["workgroups"])
        for c in p["constants"]:
            assert re.search(rf"override {c}\b", src)
    for o in doc["outputs"]:
        size = next(b["size"] for b in doc["buffers"] if b["name"] == o["buffer"])
        assert usage[o["buffer"]] == "output"
        assert size >= math.prod(o["shape"]) * np.dtype(o["dtype"]).itemsize
    spec = get_kernel(kernel)
    p = spec.preset("tiny")[i]
    ref = spec.reference(spec.make_inputs(p, "float32"), p)
    assert {o["name"]: tuple(o["shape"]) for o in doc["outputs"]} == {
        k: v.shape for k, v in ref.items()
    }
    assert plan.key == _plan(kernel, variant, i).key


def test_plan_key_changes_with_the_variant():
    assert _plan("matmul", "tiled", 0).key != _plan("matmul", "naive", 0).key


def test_float16_template_keeps_line_numbers():
    f32 = render_shader("softmax.wgsl", "float32")
    f16 = render_shader("softmax.wgsl", "float16")
    assert not any(line.startswith("enable f16") for line in f32.split("\n"))
    l16, l32 = f16.split("\n"), f32.split("\n")
    assert len(l16) == len(l32)
    i = next(n for n, line in enumerate(l16) if line.startswith("enable f16; alias T = f16;"))
    assert l32[i].startswith("alias T = f32;")
    assert not any(line.startswith(("struct", "@group", "var")) for line in l16[:i])
    assert _plan("gelu", "elementwise", 0, "float16").features == ("shader-f16",)


def test_blocks_are_blanked_unless_asked_for():
    raw = load_shader("matmul_int8.wgsl")
    plain = render_shader("matmul_int8.wgsl")
    with_dot4 = render_shader("matmul_int8.wgsl", blocks=("dot4",))
    assert "fn dot4(" not in plain and "fn dot4(" in with_dot4
    assert len(plain.split("\n")) == len(raw.split("\n")) == len(with_dot4.split("\n"))
    assert DOT4 in _plan("matmul_int8", "dot4", 0).features


def test_uniforms_hold_the_sizes():
    spec = get_kernel("matmul")
    plan = build_plan(spec, spec.resolve(M=33, N=17, K=9), "float32", "naive")
    blobs = plan.encode_inputs(spec.make_inputs(plan.params, "float32"))
    assert blobs[plan.buffer("params").init] == struct.pack("<4I", 33, 17, 9, 1)
    att = get_kernel("attention")
    aplan = build_plan(att, att.resolve(seq=5, head_dim=9, causal=True), "float32")
    words = struct.unpack("<6I", aplan.uniforms["params"][:24])
    assert words[2:5] == (5, 9, 1)
    assert struct.unpack("<f", struct.pack("<I", words[5]))[0] == pytest.approx(1 / 3, rel=1e-7)


def test_encode_decode_round_trip_float16():
    spec = get_kernel("add_mul_relu")
    plan = build_plan(spec, spec.resolve(n=7), "float16")
    inputs = spec.make_inputs(plan.params, "float16")
    blobs = plan.encode_inputs(inputs)
    assert [len(b) for b in blobs[:3]] == [16, 16, 16]  # 14 bytes padded to 4
    back = plan.decode_outputs([blobs[0]])  # decode the bytes of 'a' as if it were 'y'
    np.testing.assert_array_equal(back["y"], inputs["a"])


def test_int8_is_packed_four_to_a_word_little_endian():
    spec = get_kernel("dequantize_int8")
    plan = build_plan(spec, spec.resolve(rows=3, cols=5), "float32")
    q = spec.make_inputs(plan.params, "float32")["q"]
    blob = plan.encode_inputs({"q": q, "scale": np.ones(3, np.float32)})[0]
    assert len(blob) == 16
    words = np.frombuffer(blob, "<u4")
    for e, v in enumerate(q.ravel()):
        byte = (int(words[e // 4]) >> (8 * (e % 4))) & 0xFF
        assert np.int8(np.uint8(byte)) == v
    qspec = get_kernel("quantize_int8")
    qplan = build_plan(qspec, qspec.resolve(rows=3, cols=5), "float32")
    out = qplan.decode_outputs([blob, np.arange(3, dtype=np.float32).tobytes()])
    np.testing.assert_array_equal(out["q"], q)
    assert out["q"].dtype == np.int8


def test_dot4_layout_pads_rows_and_transposes_b():
    spec = get_kernel("matmul_int8")
    plan = build_plan(spec, spec.resolve(M=3, N=2, K=5), "float32", "dot4")
    x = spec.make_inputs(plan.params, "float32")
    a, b = plan.encode_inputs(x)[:2]
    np.testing.assert_array_equal(np.frombuffer(a, np.int8).reshape(3, 8)[:, :5], x["a"])
    assert not np.frombuffer(a, np.int8).reshape(3, 8)[:, 5:].any()
    np.testing.assert_array_equal(np.frombuffer(b, np.int8).reshape(2, 8)[:, :5], x["b"].T)


def test_encode_and_decode_reject_wrong_inputs():
    spec = get_kernel("gelu")
    plan = build_plan(spec, spec.resolve(n=10), "float32")
    with pytest.raises(ParameterError, match="shape"):
        plan.encode_inputs({"x": np.zeros(11, np.float32)})
    with pytest.raises(ParameterError, match="missing"):
        plan.encode_inputs({})
    with pytest.raises(ParameterError, match="output buffers"):
        plan.decode_outputs([])
    with pytest.raises(ParameterError, match="variant"):
        build_plan(get_kernel("matmul"), {}, "float32", "nope")


def test_large_dispatches_tile_over_y():
    spec = get_kernel("gelu")
    plan = build_plan(spec, spec.resolve(n=1 << 26), "float32")
    (ps,) = plan.passes
    x, y, z = ps.workgroups
    assert x <= 65535 and y > 1 and z == 1
    assert x * y * ps.invocations >= 1 << 26
    softmax = get_kernel("softmax")
    rows = build_plan(softmax, softmax.resolve(rows=70000, cols=4), "float32").passes[0].workgroups
    assert rows[0] * rows[1] >= 70000 and max(rows) <= 65535


def test_check_limits_raises_before_dispatch():
    plan = _plan("matmul", "tiled", 1)  # 33 x 17 x 9
    check_limits(plan, {"maxStorageBufferBindingSize": 1 << 27, "maxBufferSize": 1 << 28})
    with pytest.raises(ResourceLimitError, match=r"buffer 'a'.*maxStorageBufferBindingSize"):
        check_limits(plan, {"maxStorageBufferBindingSize": 1024})
    with pytest.raises(ResourceLimitError, match="maxBufferSize"):
        check_limits(plan, {"max-buffer-size": 1000})
    with pytest.raises(ResourceLimitError, match="invocations per workgroup"):
        check_limits(plan, {"maxComputeInvocationsPerWorkgroup": 64})
    with pytest.raises(ResourceLimitError, match="workgroups along x"):
        check_limits(plan, {"maxComputeWorkgroupsPerDimension": 1})


def test_supports_reports_missing_features():
    spec = get_kernel("softmax")
    p = spec.resolve()
    assert "shader-f16" in supports(spec, p, "float16", set())
    assert supports(spec, p, "float16", {"shader-f16"}) is None
    mm8 = get_kernel("matmul_int8")
    assert DOT4 in supports(mm8, mm8.resolve(), "float32", set(), "dot4")
    assert supports(mm8, mm8.resolve(), "float32", set(), "unpack") is None
    att = get_kernel("attention")
    assert supports(att, att.resolve(head_dim=512), "float32", ALL_FEATURES) is None
    assert variants("matmul")[:2] == ["tiled", "naive"]


NAGA_TEXT = (
    "Validation Error\n\nCaused by:\n  In wgpuDeviceCreateShaderModule\n\n"
    "Shader 'gelu.wgsl' parsing error: expected expression, found \";\"\n"
    "  ┌─ wgsl:5:15\n  │\n5 │   x[0] = 1.0 +;\n  │               ^ expected expression\n\n"
)


def test_compile_errors_name_file_line_and_message():
    line, col, msg = parse_compile_error(NAGA_TEXT)
    assert (line, col) == (5, 15)
    assert "expected expression" in msg
    plan = _plan("gelu", "elementwise", 0)
    err = shader_compile_error(plan, "gelu.wgsl", msg, line, col)
    assert isinstance(err, ShaderCompileError)
    assert "shaders/gelu.wgsl:5:15" in str(err) and "gelu" in str(err)
    assert plan.shaders["gelu.wgsl"].split("\n")[4].strip() in str(err)
    assert (err.shader, err.line, err.column) == ("gelu.wgsl", 5, 15)


@pytest.mark.wgpu
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_every_shader_compiles_with_naga(dtype):
    """Every pass of every plan (variants x dtypes) becomes a pipeline on a real adapter."""
    from accel_toolkit.backends._wgpu import WgpuBackend

    avail = WgpuBackend.probe()
    if not avail.available:
        pytest.skip(avail.reason)
    be = WgpuBackend()
    if dtype == "float16" and "shader-f16" not in be.features:
        pytest.skip(f"{avail.device['name']} lacks shader-f16")
    n = 0
    for kernel, variant, i in CASES:
        plan = _plan(kernel, variant, i, dtype)
        if variant == "dot4" and DOT4 not in be.features:
            continue
        for k in range(len(plan.passes)):
            be._pipeline(plan, k)
            n += 1
    assert n >= len(KERNELS)
