"""notebooks/predict.ipynb runs top to bottom under papermill (second tier)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.notebook]

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "predict.ipynb"


def _run(db: Path, out: Path, **params) -> str:
    pm = pytest.importorskip("papermill")
    pm.execute_notebook(
        str(NOTEBOOK),
        str(out),
        parameters={"db_path": str(db), **params},
        kernel_name="python3",
        progress_bar=False,
    )
    nb = json.loads(out.read_text())
    texts = []
    for cell in nb["cells"]:
        for o in cell.get("outputs", []):
            texts.append("".join(o.get("text", "")))
            texts.append(json.dumps(o.get("data", {})))
    return "\n".join(texts)


def test_notebook_explains_what_to_run_on_an_empty_store(tmp_path):
    text = _run(tmp_path / "empty.duckdb", tmp_path / "empty.ipynb")
    assert "too little data" in text and "predict_eval.py measure" in text


def test_notebook_trains_evaluates_and_charts(tmp_path):
    from test_predict import _synthetic_store

    store = _synthetic_store(tmp_path / "law.duckdb", kernels=("softmax",), n=30)
    earlier = _synthetic_store(tmp_path / "earlier.duckdb", kernels=("softmax",), n=60)
    text = _run(
        store.path,
        tmp_path / "law.ipynb",
        kernels=["softmax"],
        budget=0,
        length_scales_from=str(earlier.path),
    )
    assert "Training on 30 measurements" in text
    assert "Reusing the GP length scales of 60 configurations" in text
    assert "interpolation" in text and "vegaEmbed" in text
