"""Models on ``cuda`` (CuPy): the op plan and numerics checked without a GPU, the real
thing on a GPU.

GPU-free: :class:`CudaModel` runs its CuPy ops with numpy behind the array-module seam
(``xp=numpy``, scipy's ``erf``), and must match the float64 forward; the per-op timing
covers every op kind; without CuPy the backend says how to install it. ``cuda``: with CuPy
and an NVIDIA GPU, the same checks on the device (skipped here with the reason).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.special import erf

import accel_toolkit as at
from accel_toolkit.exceptions import BackendUnavailableError, UnsupportedKernelError
from accel_toolkit.harness import TimingSettings
from accel_toolkit.models import forward, get_model_spec, minilm_dir, synthetic_inputs, tokenize
from accel_toolkit.models._cuda import CudaModel, cupy_module
from accel_toolkit.models._graph import OP_KINDS

SENTENCES = [
    "A man is eating food.",
    "Someone is having a meal at a small table outside.",
    "The stock market fell.",
    "Quantum chromodynamics describes the strong force.",
]


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.reshape(a.shape[0], -1).astype(np.float64), b.reshape(b.shape[0], -1)
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def _minilm() -> None:
    try:
        minilm_dir()
    except BackendUnavailableError as exc:
        pytest.skip(str(exc))


def test_minilm_ops_match_float64_on_a_padded_batch() -> None:
    _minilm()
    m = CudaModel("minilm-l6", xp=np, erf=erf)
    x = tokenize(get_model_spec("minilm-l6"), SENTENCES)
    assert len(set(x.lengths.tolist())) > 1  # padding present: the mask is exercised
    out = m.forward(x)
    ref = forward("minilm-l6", x, backend="reference")
    assert out.dtype == np.float32 and out.shape == (4, 384)
    assert _cos(out, ref).min() >= 0.9999
    assert np.abs(out - ref).max() < 1e-5


@pytest.mark.parametrize("name", ["vit-b16", "whisper-tiny-encoder"])
def test_random_weight_models_match_float64(name: str) -> None:
    spec = get_model_spec(name)
    seq = 17 if spec.front == "patch" else 24
    x = synthetic_inputs(spec, 2, seq)
    out = CudaModel(name, xp=np, erf=erf).forward(x)
    ref = forward(name, x, backend="reference")
    assert out.shape == ref.shape and _cos(out, ref).min() >= 0.9999


def test_per_op_timing_covers_every_op_kind() -> None:
    _minilm()
    m = CudaModel("minilm-l6", xp=np, erf=erf)
    out, ops = m.forward_timed(synthetic_inputs(m.spec, 1, 8))
    assert set(ops) == set(OP_KINDS)
    assert {k: n for k, (_, n) in ops.items()} == {
        "front": 1,
        "linear": 18,
        "linear_gelu": 6,
        "attention": 6,
        "add": 12,
        "layernorm": 12,
        "pool": 1,
    }
    assert all(s >= 0 for s, _ in ops.values()) and out.shape == (1, 384)
    with pytest.raises(UnsupportedKernelError, match="CudaModel of 'minilm-l6'"):
        forward("minilm-l6", synthetic_inputs(m.spec, 1, 8), backend="cuda", device=object())


def test_without_cupy_the_backend_says_how_to_get_it(tmp_path: Path) -> None:
    try:
        import cupy  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("CuPy is installed here")
    with pytest.raises(BackendUnavailableError, match=r"pip install 'accel-toolkit\[cuda\]'"):
        cupy_module()
    _minilm()
    df = at.bench_model(
        "minilm-l6",
        backends="cuda",
        seq=4,
        db=str(tmp_path / "c.duckdb"),
        settings=TimingSettings.quick(),
    )
    assert df["status"].iloc[0] == "unavailable" and "CuPy" in df["error"].iloc[0]


@pytest.mark.cuda
def test_minilm_on_the_gpu(tmp_path: Path) -> None:
    try:
        cupy_module()
    except BackendUnavailableError as exc:
        pytest.skip(str(exc))
    _minilm()
    x = tokenize(get_model_spec("minilm-l6"), SENTENCES)
    out = forward("minilm-l6", x, backend="cuda")
    ref = forward("minilm-l6", x, backend="reference")
    assert _cos(out, ref).min() >= 0.9999
    df = at.bench_model(
        "minilm-l6",
        backends="cuda",
        seq=32,
        db=str(tmp_path / "g.duckdb"),
        settings=TimingSettings.quick(),
    )
    assert df["status"].iloc[0] == "ok"
    ops = df.attrs["breakdown"]
    assert set(ops["op"]) == set(OP_KINDS) and set(ops["timer"]) == {"CUDA events per op"}
