"""Models in float16: the f16 ComputePlan on ``wgpu`` (lavapipe has ``shader-f16``), checked
against the float64 forward and ONNX Runtime at cosine >= 0.999 per sentence, and the clear
``unsupported`` answer where an adapter or backend has no float16 (SwiftShader, cpu)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from model_checks import cosines, open_wgpu_model

import accel_toolkit as at
from accel_toolkit.exceptions import (
    BackendUnavailableError,
    ParameterError,
    UnsupportedKernelError,
)
from accel_toolkit.harness import TimingSettings
from accel_toolkit.models import embed, forward, get_model_spec, minilm_dir, synthetic_inputs
from accel_toolkit.models._plan import record_plan

SENTENCES = [
    "A man is eating food.",
    "The stock market fell sharply today.",
    "A man eats.",
    "Someone is playing a guitar on the stage while the crowd sings along.",
]


@pytest.fixture(scope="module")
def minilm16():  # type: ignore[no-untyped-def]
    try:
        minilm_dir()
    except BackendUnavailableError as exc:
        pytest.skip(str(exc))
    return open_wgpu_model("minilm-l6", "float16")


def test_float16_plan_stores_f16_everywhere_but_the_token_ids() -> None:
    spec = get_model_spec("minilm-l6")
    p32, kinds32 = record_plan(spec, 2, 5)
    p16, kinds16 = record_plan(spec, 2, 5, dtype="float16")
    assert (p16.dtype, p16.features, kinds16) == ("float16", ("shader-f16",), kinds32)
    assert p16.outputs[0].dtype == "float16"
    assert {n: d for n, (d, _) in p16.inputs.items() if d != "float16"} == {
        "ids": "uint32",
        "types": "uint32",
    }
    for name, src in p16.shaders.items():
        assert "enable f16; alias T = f16;" in src, name
        assert "alias T = f32;" not in src, name
    # every float buffer is half the size (the 16-byte minimum aside); uniforms, ids the same
    s32 = {b.name: b.size for b in p32.buffers}
    for b in p16.buffers:
        if b.usage == "uniform" or b.name in ("ids", "types"):
            assert b.size == s32[b.name], b.name
        elif s32[b.name] > 32:
            assert b.size * 2 == s32[b.name], b.name
    with pytest.raises(ParameterError, match="float32 or float16"):
        record_plan(spec, 1, 4, dtype="bfloat16")


@pytest.mark.wgpu
def test_minilm_float16_matches_float64_and_onnxruntime(minilm16) -> None:  # type: ignore[no-untyped-def]
    assert {a.dtype for a in minilm16.weights.values()} == {np.dtype("float16")}
    got = embed(SENTENCES, backend="wgpu", dtype="float16")  # three lengths: three groups
    assert got.shape == (4, 384) and got.dtype == np.float32
    for other in ("reference", "onnxruntime"):
        assert cosines(got, embed(SENTENCES, backend=other)).min() >= 0.999, other
    # it is really float16: the f32 forward differs by more than f32 rounding
    f32 = embed(SENTENCES, backend="wgpu")
    assert np.abs(got - f32).max() > 1e-5


@pytest.mark.wgpu
def test_whisper_encoder_float16_matches_float64() -> None:
    model = open_wgpu_model("whisper-tiny-encoder", "float16")
    x = synthetic_inputs(model.spec, 2, 6)
    got = model.forward(x)
    ref = forward("whisper-tiny-encoder", x, backend="reference")
    assert got.shape == (2, 6, 384)
    assert cosines(got.reshape(12, -1), ref.reshape(12, -1)).min() >= 0.999


@pytest.mark.wgpu
def test_bench_model_float16_row_on_wgpu(minilm16, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    df = at.bench_model(
        "minilm-l6",
        backends=["wgpu", "cpu"],
        batch=1,
        seq=4,
        settings=TimingSettings.quick(),
        db=str(tmp_path / "h.duckdb"),
        dtype="float16",
    )
    rows = df.set_index("backend")
    assert set(df["dtype"]) == {"float16"}
    assert rows.loc["wgpu", "status"] == "ok", rows.loc["wgpu", "error"]
    assert rows.loc["wgpu", "config_key"].endswith("|float16")
    assert rows.loc["cpu", "status"] == "unsupported"
    assert "numpy has no float16 BLAS" in rows.loc["cpu", "error"]
    ops = df.attrs["breakdown"]
    assert {"linear", "attention", "layernorm"} <= set(ops["op"])


def test_float16_elsewhere_says_why() -> None:
    with pytest.raises(UnsupportedKernelError, match="numpy has no float16 BLAS"):
        embed(["A man eats."], backend="cpu", dtype="float16")
    with pytest.raises(UnsupportedKernelError, match="float32 or float16"):
        embed(["A man eats."], backend="wgpu", dtype="int8")


@pytest.mark.slow
@pytest.mark.browser
def test_float16_on_swiftshader_webgpu_is_unsupported() -> None:
    """SwiftShader has no shader-f16: an f16 request is refused with the adapter named."""
    try:
        minilm_dir()
        from accel_toolkit.models._embed import webgpu_backend

        info = webgpu_backend().device_info()
    except BackendUnavailableError as exc:
        pytest.skip(str(exc))
    if "shader-f16" in set(info.get("features") or []):
        pytest.skip(f"this adapter ({info.get('name')}) has shader-f16")
    with pytest.raises(UnsupportedKernelError, match="'shader-f16'.*lacks"):
        embed(["A man eats."], backend="webgpu", dtype="float16")
