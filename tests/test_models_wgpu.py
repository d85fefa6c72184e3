"""The models on the ``wgpu`` backend (lavapipe where there is no GPU): the whole forward
chained on GPU buffers, checked against the cpu forward, float64 numpy and ONNX Runtime."""

from __future__ import annotations

import numpy as np
import pytest
from model_checks import cosines, open_wgpu_model

from accel_toolkit.exceptions import BackendUnavailableError
from accel_toolkit.models import embed, forward, get_model_spec, minilm_dir, synthetic_inputs

pytestmark = pytest.mark.wgpu

SENTENCES = ["A man is eating food.", "The stock market fell sharply today.", "A man eats."]


@pytest.fixture(scope="module")
def minilm():  # type: ignore[no-untyped-def]
    try:
        minilm_dir()
    except BackendUnavailableError as exc:
        pytest.skip(str(exc))
    return open_wgpu_model("minilm-l6")


def test_minilm_matches_cpu_reference_and_onnxruntime(minilm) -> None:  # type: ignore[no-untyped-def]
    # three sentences of two lengths: two groups, each chained unpadded
    got = embed(SENTENCES, backend="wgpu")
    assert got.shape == (3, 384) and got.dtype == np.float32
    for other in ("cpu", "reference", "onnxruntime"):
        assert cosines(got, embed(SENTENCES, backend=other)).min() >= 0.9999, other


def test_minilm_forward_is_one_chain_with_one_readback(minilm) -> None:  # type: ignore[no-untyped-def]
    x = synthetic_inputs(get_model_spec("minilm-l6"), 2, 8)
    # embed + LN, 6 layers x 14 passes, pool: the batch of equal lengths is one group
    assert minilm.dispatch_count(x) == 2 + 6 * 14 + 1
    out, per_op = minilm.forward_timed(x)
    assert set(per_op) == {
        "front",
        "linear",
        "attention",
        "add",
        "layernorm",
        "linear_gelu",
        "pool",
    }
    # a layer: three matmuls and the QKV bias (the other biases ride on the residual adds)
    assert per_op["linear"][1] == 6 * 4 and per_op["add"][1] == 6 * 2
    assert cosines(out, forward("minilm-l6", x, backend="cpu")).min() >= 0.9999


def test_whisper_encoder_random_weights_match_cpu() -> None:
    model = open_wgpu_model("whisper-tiny-encoder")
    x = synthetic_inputs(model.spec, 2, 6)
    got = model.forward(x)
    ref = forward("whisper-tiny-encoder", x, backend="reference")
    assert got.shape == (2, 6, 384)
    assert cosines(got.reshape(12, -1), ref.reshape(12, -1)).min() >= 0.9999
