"""MiniLM as one WebNN MLGraph in real headless Chromium, checked against ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import accel_toolkit as at
from accel_toolkit.exceptions import BackendUnavailableError, UnsupportedKernelError
from accel_toolkit.harness import TimingSettings
from accel_toolkit.models import get_model_spec, minilm_dir
from accel_toolkit.models._webnn import minilm_graph

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
def webnn():  # type: ignore[no-untyped-def]
    try:
        minilm_dir()
        from accel_toolkit.models._embed import webnn_backend

        return webnn_backend()
    except BackendUnavailableError as exc:
        pytest.skip(str(exc))


def test_graph_is_one_graph_with_weights_as_constants() -> None:
    g = minilm_graph(get_model_spec("minilm-l6"), 2, 16)
    assert [o["name"] for o in g.outputs] == ["embeddings"]
    assert {d["name"] for d in g.inputs} == {
        "ids",
        "types",
        "positions",
        "mask_bias",
        "mask",
        "counts",
    }
    assert sum(op["op"] == "gelu" for op in g.ops) == 6
    with pytest.raises(UnsupportedKernelError, match="minilm-l6"):
        minilm_graph(get_model_spec("vit-b16"), 1, 5)


def test_padded_batch_matches_onnxruntime(webnn) -> None:  # type: ignore[no-untyped-def]
    sentences = ["A man eats.", "The stock market fell sharply today, analysts said."]
    got = at.embed(sentences, backend="webnn")
    ort = at.embed(sentences, backend="onnxruntime")
    cos = (got * ort).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(ort, axis=1)
    assert got.shape == (2, 384) and cos.min() >= 0.9999


def test_bench_model_on_webnn(webnn, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    df = at.bench_model(
        "minilm-l6",
        backends="webnn",
        batch=1,
        seq=16,
        settings=TimingSettings.quick(),
        db=str(tmp_path / "n.duckdb"),
    )
    row = df.iloc[0]
    assert row["status"] == "ok", row["error"]
    assert row["median_s"] > 0 and row["first_run_s"] > 0
    ops = df.attrs["breakdown"]
    assert list(ops["op"]) == ["graph"] and ops["calls"].iloc[0] > 100


def test_float16_graph_matches_float64(webnn) -> None:  # type: ignore[no-untyped-def]
    """float16 weights and activations: cosine >= 0.999 per sentence against float64."""
    from accel_toolkit.models import load_weights
    from accel_toolkit.models._cpu import cpu_forward
    from accel_toolkit.models._inputs import tokenize
    from accel_toolkit.models._webnn import webnn_run

    spec = get_model_spec("minilm-l6")
    x = tokenize(
        spec,
        [
            "A man eats.",
            "The stock market fell sharply today, analysts said.",
            "Someone is having a meal.",
        ],
    )
    g = minilm_graph(spec, x.batch, x.seq, "float16")
    assert {c["dataType"] for c in g.constants} == {"float16"}
    try:
        got, _ = webnn_run(webnn, spec, x, dtype="float16")
    except UnsupportedKernelError as exc:
        pytest.skip(f"this browser's WebNN has no float16 here: {exc}")
    ref = cpu_forward(spec, load_weights(spec), x, "float64")[0]
    cos = (got * ref).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(ref, axis=1)
    assert got.dtype == np.float32 and np.isfinite(got).all()
    assert cos.min() >= 0.999, cos
    with pytest.raises(UnsupportedKernelError, match="float32 or float16"):
        minilm_graph(spec, 1, 4, "int8")


def test_bench_model_float16(webnn, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """float16 rows: webnn measured and checked (cosine >= 0.999); webgpu says why not."""
    df = at.bench_model(
        "minilm-l6",
        backends=["webnn", "webgpu"],
        batch=1,
        seq=8,
        settings=TimingSettings.quick(),
        db=str(tmp_path / "h.duckdb"),
        dtype="float16",
    )
    rows = df.set_index("backend")
    assert set(df["dtype"]) == {"float16"}
    assert rows.loc["webnn", "status"] == "ok", rows.loc["webnn", "error"]
    assert rows.loc["webgpu", "status"] == "unsupported"
    assert "float16 on webgpu" in rows.loc["webgpu", "error"]


def test_run_graph_runs_a_graph_built_with_the_public_builder(webnn) -> None:  # type: ignore[no-untyped-def]
    from accel_toolkit.backends.browser._webnn_graphs import GraphBuilder

    b = GraphBuilder("toy")
    x = b.input("x", "float32", (2, 3))
    k = b.const("float32", (3,), data=np.array([1.0, 2.0, 3.0]))
    b.output("y", b.op("add", x, k, dtype="float32", shape=(2, 3)))
    g = b.finish({}, "float32")
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    out, t = webnn.run_graph(g, {"x": a})
    np.testing.assert_array_equal(out["y"], a + [1.0, 2.0, 3.0])
    _, t = webnn.run_graph(g, {"x": a}, settings=TimingSettings.quick())
    assert len(t.samples) >= 1 and t.timer
