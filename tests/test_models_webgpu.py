"""MiniLM on ``webgpu`` in real headless Chromium: the whole forward as one ComputePlan
(chained dispatches on GPU buffers, one readback), checked against ONNX Runtime."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import accel_toolkit as at
from accel_toolkit.exceptions import BackendUnavailableError
from accel_toolkit.harness import TimingSettings
from accel_toolkit.models import get_model_spec, minilm_dir, synthetic_inputs
from accel_toolkit.models._plan import model_plan, plan_inputs

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
def webgpu():  # type: ignore[no-untyped-def]
    try:
        minilm_dir()
        from accel_toolkit.models._embed import webgpu_backend

        return webgpu_backend()
    except BackendUnavailableError as exc:
        pytest.skip(str(exc))


def test_plan_is_one_chain_with_one_output() -> None:
    plan = model_plan(get_model_spec("minilm-l6"), 1, 8)
    assert [o.name for o in plan.outputs] == ["out"]
    assert sum(b.usage == "output" for b in plan.buffers) == 1
    # embed + LN, 6 layers x 14 (the head split is three passes here), pool
    assert len(plan.passes) == 2 + 6 * 14 + 1
    x = synthetic_inputs(get_model_spec("minilm-l6"), 1, 8)
    assert set(plan_inputs(plan, x)) == set(plan.inputs)


def test_minilm_embeddings_match_onnxruntime(webgpu) -> None:  # type: ignore[no-untyped-def]
    sentences = ["A man eats.", "The stock market fell sharply today."]  # two lengths
    got = at.embed(sentences, backend="webgpu")
    ort = at.embed(sentences, backend="onnxruntime")
    cos = (got * ort).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(ort, axis=1)
    assert got.shape == (2, 384) and cos.min() >= 0.9999


def test_bench_model_on_webgpu(webgpu, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    df = at.bench_model(
        "minilm-l6",
        backends="webgpu",
        batch=1,
        seq=6,
        settings=TimingSettings.quick(),
        db=str(tmp_path / "w.duckdb"),
    )
    row = df.iloc[0]
    assert row["status"] == "ok", row["error"]
    # the first run (weights uploaded, pipelines compiled) is kept apart from the samples;
    # on SwiftShader a forward's compute can outweigh the compile, so no order is assumed
    assert row["first_run_s"] > 0 and row["median_s"] > 0 and row["n_samples"] >= 1
    assert json.loads(row["params"]) == {"batch": 1, "seq": 6}
    ops = df.attrs["breakdown"]
    assert ops["calls"].sum() == 2 + 6 * 14 + 1
    if "timestamp-query" in json.loads(row["device_info"]).get("features", []):
        assert set(ops["timer"]) == {"timestamp-query per dispatch"} and len(ops) == 7
    else:
        assert list(ops["op"]) == ["graph"]
    # the weights were on the GPU from an earlier request, or came from the page's IndexedDB
    # cache (fetched on a miss), never from the request
    cache = json.loads(
        at.Store(tmp_path / "w.duckdb").query("SELECT extra FROM measurements")["extra"].iloc[0]
    )["weight_cache"]
    assert cache["resident"] + cache["fetched"] + cache["cached"] == 77
    assert not cache["corrupted"] and cache["resident"] + cache["uploaded"] == 77
