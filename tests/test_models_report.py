"""The report's Models section: ``bench --models`` then ``report`` shows the per-op chart
and the backend comparison; the two model charts on their own."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import accel_toolkit as at
from accel_toolkit import charts
from accel_toolkit.cli import main
from accel_toolkit.exceptions import BackendUnavailableError, ConfigError
from accel_toolkit.models import minilm_dir
from accel_toolkit.report import build_report


def _need_minilm() -> None:
    try:
        minilm_dir()
    except BackendUnavailableError as exc:
        pytest.skip(str(exc))


def _models_section(db: Path) -> tuple[list, str]:  # type: ignore[type-arg]
    rep = build_report(str(db))
    blocks = {sid: b for sid, _, b in rep.sections}["models"]
    return blocks, rep.html


def _specs(blocks: list) -> list[dict]:  # type: ignore[type-arg]
    return [b.chart.to_dict() for b in blocks if type(b).__name__ == "ChartBlock"]


def _stacked_ops(spec: dict) -> set[str]:  # type: ignore[type-arg]
    """The ops of a stacked op_breakdown chart spec (its data rows' ``op``)."""
    enc = spec.get("encoding") or spec.get("spec", {}).get("encoding", {})
    assert enc["x"]["stack"] == "zero" and enc["color"]["field"] == "op"
    rows = next(iter(spec["datasets"].values()))
    return {r["op"] for r in rows}


def test_bench_models_then_report_shows_per_op_chart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _need_minilm()
    pytest.importorskip("onnxruntime")
    db = tmp_path / "x.duckdb"
    assert (
        main(
            [
                "bench",
                "--models",
                "minilm-l6",
                "--backends",
                "cpu,onnxruntime",
                "--seq",
                "8",
                "--time-budget",
                "0.2",
                "--db",
                str(db),
            ]
        )
        == 0
    )
    out = tmp_path / "report.html"
    assert main(["report", "--db", str(db), "--out", str(out)]) == 0
    capsys.readouterr()
    blocks, html = _models_section(db)
    specs = _specs(blocks)
    assert len(specs) == 2, [type(b).__name__ for b in blocks]
    stacked = [s for s in specs if "Where the time goes" in json.dumps(s.get("title", ""))]
    assert len(stacked) == 1
    ops = _stacked_ops(stacked[0])
    assert {"linear", "linear_gelu", "attention", "layernorm", "graph"} <= ops
    page = out.read_text()
    assert 'id="models"' in page and "Where the time goes" in page
    assert "share of one forward" in page
    assert not [b for b in blocks if type(b).__name__ == "ErrorBlock"]


def test_models_section_without_model_rows(tmp_path: Path) -> None:
    db = tmp_path / "k.duckdb"
    at.bench(
        "softmax",
        "cpu",
        db=str(db),
        settings=at.TimingSettings.quick(),
        params={"rows": 4, "cols": 8},
    )
    blocks, _ = _models_section(db)
    assert len(blocks) == 1 and "No whole-model results" in blocks[0].text


def test_op_breakdown_chart_stacks_ops_per_backend() -> None:
    res = pd.DataFrame(
        {
            "result_id": ["a", "b"],
            "kernel": ["model:minilm-l6"] * 2,
            "backend": ["cpu", "webgpu"],
            "params": ['{"batch": 1, "seq": 8}'] * 2,
        }
    )
    ops = pd.DataFrame(
        {
            "result_id": ["a", "a", "b"],
            "op": ["linear", "attention", "graph"],
            "calls": [36, 6, 87],
            "seconds": [0.02, 0.005, 1.0],
            "share": [0.8, 0.2, 1.0],
            "timer": ["perf_counter per op"] * 2 + ["whole graph"],
        }
    )
    spec = charts.op_breakdown(ops, res).to_dict()
    assert _stacked_ops(spec) == {"linear", "attention", "graph"}
    rows = next(iter(spec["datasets"].values()))
    assert {r["run"] for r in rows} == {
        "cpu · batch=1 seq=8 (25 ms)",
        "webgpu · batch=1 seq=8 (1000 ms)",
    }
    assert {r["op"]: round(r["part"], 6) for r in rows} == {
        "linear": 0.8,
        "attention": 0.2,
        "graph": 1.0,
    }
    with pytest.raises(ConfigError, match="bench --models"):
        charts.op_breakdown(ops.iloc[:0], res)


def test_model_backends_chart_ranks_backends() -> None:
    res = pd.DataFrame(
        {
            "kernel": ["model:minilm-l6"] * 3,
            "backend": ["cpu", "webnn", "x"],
            "params": ['{"batch": 1, "seq": 8}'] * 3,
            "status": ["ok", "ok", "error"],
            "median_s": [0.05, 0.01, None],
            "ci_low_s": [0.04, 0.009, None],
            "ci_high_s": [0.06, 0.011, None],
        }
    )
    spec = charts.model_backends(res).to_dict()
    rows = next(iter(spec["datasets"].values()))
    assert {r["backend"]: r["x_of_fastest"] for r in rows} == {"cpu": 5.0, "webnn": 1.0}


@pytest.mark.slow
@pytest.mark.browser
def test_bench_models_browsers_then_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's command on cpu, webgpu (SwiftShader) and webnn, smallest useful seq."""
    _need_minilm()
    db = tmp_path / "x.duckdb"
    rc = main(
        [
            "bench",
            "--models",
            "minilm-l6",
            "--backends",
            "cpu,webgpu,webnn",
            "--seq",
            "2",
            "--time-budget",
            "0.1",
            "--db",
            str(db),
        ]
    )
    printed = capsys.readouterr().out
    rows = at.Store(db).results()
    if set(rows.loc[rows["backend"] != "cpu", "status"]) <= {"unsupported"}:
        pytest.skip(f"no browser backend here: {printed}")
    assert rc == 0, printed
    assert set(rows["status"]) == {"ok"}
    out = tmp_path / "report.html"
    assert main(["report", "--db", str(db), "--out", str(out)]) == 0
    blocks, _ = _models_section(db)
    stacked = [s for s in _specs(blocks) if "Where the time goes" in json.dumps(s.get("title", ""))]
    assert len(stacked) == 1
    data = next(iter(stacked[0]["datasets"].values()))
    assert {r["backend"] for r in data} == {"cpu", "webgpu", "webnn"}
    # webgpu: a timestamp pair around every dispatch where the adapter has timestamp-query
    ops = at.Store(db).query(
        "SELECT b.op, b.calls, b.seconds, b.timer, r.device_info FROM results r "
        "JOIN op_breakdown b USING (result_id) WHERE r.backend = 'webgpu'"
    )
    features = json.loads(ops["device_info"].iloc[0]).get("features", [])
    if "timestamp-query" in features:
        assert set(ops["timer"]) == {"timestamp-query per dispatch"}
        assert set(ops["op"]) == {
            "front",
            "linear",
            "attention",
            "add",
            "layernorm",
            "linear_gelu",
            "pool",
        }
        assert ops["calls"].sum() == 87 and (ops["seconds"] >= 0).all()
        assert ops["seconds"].sum() > 0
    else:
        assert list(ops["op"]) == ["graph"]
    assert "Where the time goes" in out.read_text()
