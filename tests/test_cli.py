"""The accel-toolkit command line, run as a user runs it (a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

VIEW = [
    "run_id",
    "created_at",
    "kernel",
    "params",
    "dtype",
    "backend",
    "venue",
    "device",
    "median_s",
    "ci_low_s",
    "ci_high_s",
    "iqr_s",
    "n_samples",
    "gflops",
    "gbps",
    "max_abs_err",
    "status",
    "error",
]


def cli(*args, check=True):
    return subprocess.run(
        [sys.executable, "-m", "accel_toolkit.cli", *args],
        capture_output=True,
        text=True,
        check=check,
        timeout=300,
    )


def test_bench_must_show(tmp_path):
    db = tmp_path / "x.duckdb"
    r = cli(
        "bench",
        "--kernels",
        "matmul,softmax,conv2d,attention",
        "--backends",
        "cpu",
        "--preset",
        "tiny",
        "--db",
        str(db),
        "--time-budget",
        "0.1",
    )
    # 8 configurations, each in 3 rounds (bench's default)
    assert "24 results stored" in r.stdout
    out = cli("query", "--db", str(db), "--format", "json", "SELECT * FROM results")
    rows = json.loads(out.stdout)
    assert len(rows) == 24 and {row["round"] for row in rows} == {0, 1, 2}
    for row in rows:
        assert set(VIEW) <= set(row)
        assert row["status"] == "ok"
        assert row["max_abs_err"] is not None and row["max_abs_err"] < 1e-4
        assert json.loads(row["params"])


def test_doctor_json():
    r = cli("doctor", "--json")
    data = json.loads(r.stdout)
    names = {d["name"] for d in data}
    assert {"cpu", "webgpu", "webnn", "wgpu", "cuda"} <= names
    for d in data:
        assert set(d) == {"name", "available", "reason", "device"}
        assert isinstance(d["available"], bool) and d["reason"]
    cpu = next(d for d in data if d["name"] == "cpu")
    assert cpu["available"] and cpu["device"]["name"]


def test_errors_exit_2_with_a_hint(tmp_path):
    r = cli("bench", "--kernels", "matmull", "--db", str(tmp_path / "x.duckdb"), check=False)
    assert r.returncode == 2 and "Did you mean 'matmul'" in r.stderr
    r = cli(
        "bench",
        "--kernels",
        "matmul",
        "--param",
        "M=-1",
        "--db",
        str(tmp_path / "x.duckdb"),
        check=False,
    )
    assert r.returncode == 2 and "must be >= 1" in r.stderr
    r = cli("bench", "--kernels", "matmul", "--db", str(tmp_path / "no" / "x.duckdb"), check=False)
    assert r.returncode == 2 and "does not exist" in r.stderr


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_query_formats(tmp_path, fmt):
    db = tmp_path / "q.duckdb"
    cli("bench", "--kernels", "gelu", "--db", str(db), "--time-budget", "0.05")
    r = cli("query", "--db", str(db), "--format", fmt, "SELECT kernel, status FROM results")
    assert "gelu" in r.stdout


def test_export_import(tmp_path):
    a, b = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    cli("bench", "--kernels", "gelu", "--db", str(a), "--time-budget", "0.05")
    cli("export", str(tmp_path / "pq"), "--db", str(a))
    r1 = cli("import", str(tmp_path / "pq"), "--db", str(b))
    r2 = cli("import", str(tmp_path / "pq"), "--db", str(b))
    # two configurations in three rounds each
    assert "measurements +6" in r1.stdout and "measurements +0" in r2.stdout
