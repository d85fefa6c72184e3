"""The command line's contract with a new user, driven as a subprocess (issue 25, rough edges).

Wrong input gives exit status 2 and one line on stderr that says what is wrong and what to do;
reading commands never create a database; read-only SQL touches no other file; the toolkit
does not print noise it causes itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import accel_toolkit as at

CLI = [sys.executable, "-m", "accel_toolkit.cli"]


def cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=300, cwd=cwd, env=env
    )


def error_line(r: subprocess.CompletedProcess) -> str:
    """The one stderr line of a usage error (exit status 2)."""
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert "error:" in lines[0] and "Traceback" not in r.stderr
    return lines[0]


@pytest.fixture(scope="module")
def cpu_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("contract") / "cpu.duckdb"
    at.bench(
        "softmax",
        "cpu",
        grid=[{"rows": 8, "cols": 8}, {"rows": 16, "cols": 16}, {"rows": 32, "cols": 8}],
        db=str(db),
        tag="base",
        time_budget=0.02,
        progress=False,
    )
    return db


# -- bench input ----------------------------------------------------------------------------
def test_misspelt_param_suggests_the_name(tmp_path):
    line = error_line(
        cli(
            "bench",
            "--kernels",
            "softmax",
            "--param",
            "colz=64",
            "--db",
            str(tmp_path / "x.duckdb"),
        )
    )
    assert "Did you mean 'cols'?" in line
    assert not (tmp_path / "x.duckdb").exists()


@pytest.mark.parametrize("budget", ["0", "-1", "nan"])
def test_time_budget_must_be_positive(tmp_path, budget):
    line = error_line(
        cli(
            "bench",
            "--kernels",
            "gelu",
            f"--time-budget={budget}",
            "--db",
            str(tmp_path / "x.duckdb"),
        )
    )
    assert "--time-budget must be a positive number of seconds" in line
    assert "min_time" not in line and "max_time" not in line


@pytest.mark.parametrize(
    "args, expected",
    [
        (["bench"], "--kernels is required"),
        (["bench", "--kernels", "gelu", "--seed", "x"], "invalid int value"),
        (["bench", "--kernels", "gelu", "--grid", "g.json", "--preset", "small"], "not both"),
        (["bench", "--kernels", "gelu", "--grid", "missing.json"], "Cannot read --grid"),
        (["bench", "--kernels", "gelu", "--shuffle=-3"], "non-negative integer seed"),
        (["bench", "--resume", "nosuchrun"], "No results database"),
        (["nosuchcommand"], "invalid choice"),
    ],
)
def test_bad_bench_input_is_one_line(tmp_path, args, expected):
    (tmp_path / "g.json").write_text("[]")
    line = error_line(
        cli(*args, "--db", str(tmp_path / "x.duckdb"), cwd=tmp_path)
        if args[0] == "bench"
        else cli(*args, cwd=tmp_path)
    )
    assert expected in line


def test_resume_of_an_unknown_run(cpu_db):
    line = error_line(cli("bench", "--resume", "nosuchrun", "--db", str(cpu_db)))
    assert "No run 'nosuchrun'" in line and "SELECT run_id" in line


# -- reading commands -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "args",
    [
        ["query", "SELECT 1"],
        ["report", "--out", "r.html"],
        ["export", "out"],
        ["verify"],
        ["check", "--baseline", "a", "--candidate", "b"],
        ["compare", "--baseline", "a", "--candidate", "b"],
        ["regressions"],
        ["predict", "evaluate"],
        ["predict", "suggest", "--kernel", "softmax"],
    ],
)
def test_reading_commands_never_create_a_database(tmp_path, args):
    db = tmp_path / "missing.duckdb"
    line = error_line(cli(*args, "--db", str(db), cwd=tmp_path))
    assert f"No results database at {db}" in line
    assert not db.exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "sql",
    [
        "COPY (SELECT 1 AS x) TO 'written.csv'",
        "INSTALL httpfs",
        "SELECT * FROM read_csv('/etc/hostname')",
        "CREATE TABLE t AS SELECT 1",
        "ATTACH 'other.duckdb' AS o",
    ],
)
def test_query_is_read_only_and_touches_no_file(tmp_path, cpu_db, sql):
    line = error_line(cli("query", sql, "--db", str(cpu_db), cwd=tmp_path))
    assert line.startswith("accel-toolkit: error: Query failed:")
    assert not list(tmp_path.iterdir())


def test_query_still_reads(cpu_db):
    r = cli("query", "SELECT count(*) AS n FROM results", "--db", str(cpu_db), "--format", "json")
    assert r.returncode == 0 and json.loads(r.stdout) == [{"n": 3}]


# -- predict ------------------------------------------------------------------------------------
def test_predict_unknown_kernel(cpu_db):
    line = error_line(cli("predict", "suggest", "--kernel", "softmx", "--db", str(cpu_db)))
    assert "Did you mean 'softmax'" in line


def test_predict_states_the_minimum(cpu_db):
    line = error_line(cli("predict", "suggest", "--kernel", "softmax", "--db", str(cpu_db)))
    assert "holds 3 successfully measured configuration(s)" in line
    assert "at least 5" in line and "predict run-active --kernel softmax" in line


# -- import ---------------------------------------------------------------------------------------
def test_import_reference_data_from_anywhere(tmp_path):
    db = tmp_path / "ref.duckdb"
    r = cli("import", "reference-small", "--db", str(db), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "measurements +111" in r.stdout and "shipped" in r.stdout
    r = cli("import", "data/reference-small", "--db", str(db), cwd=tmp_path)
    assert r.returncode == 0 and "measurements +0" in r.stdout


def test_import_of_a_missing_folder_says_so(tmp_path):
    line = error_line(cli("import", "nowhere", "--db", str(tmp_path / "x.duckdb"), cwd=tmp_path))
    assert "nowhere does not exist" in line and "reference-small" in line


# -- report -------------------------------------------------------------------------------------
def test_report_baseline_without_results_warns_why(tmp_path, cpu_db):
    r = cli(
        "report", "--baseline", "webgpu", "--db", str(cpu_db), "--out", str(tmp_path / "r.html")
    )
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "warning: --baseline webgpu has no successful results" in lines[0]
    assert "backends with results: cpu" in lines[0]
    assert (tmp_path / "r.html").exists()


# -- check ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("threshold", ["5", "200", "-1%", "five"])
def test_check_threshold_rule(cpu_db, threshold):
    line = error_line(
        cli(
            "check",
            "--db",
            str(cpu_db),
            "--baseline",
            "base",
            "--candidate",
            "base",
            f"--threshold={threshold}",
        )
    )
    assert "threshold" in line
    if threshold in ("5", "200"):
        assert f"{threshold}%" in line and "ambiguous" in line


def test_check_warns_on_a_large_fraction(cpu_db):
    r = cli(
        "check",
        "--db",
        str(cpu_db),
        "--baseline",
        "base",
        "--candidate",
        "base",
        "--threshold",
        "0.8",
    )
    assert r.returncode == 0, r.stderr
    assert "warning: threshold 0.8 is read as a fraction (80%)" in r.stderr


def test_check_unknown_tag(cpu_db):
    line = error_line(
        cli("check", "--db", str(cpu_db), "--baseline", "base", "--candidate", "nosuchtag")
    )
    assert "'nosuchtag'" in line and "tag values present: base" in line


# -- noise -----------------------------------------------------------------------------------------
def test_doctor_prints_no_driver_noise():
    env = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
    r = cli("doctor", "--backends", "cpu,wgpu", env=env)
    assert r.returncode == 0
    assert "XDG_RUNTIME_DIR" not in r.stderr, r.stderr
    assert "XDG_RUNTIME_DIR" not in env  # the user's environment is left as it was


def test_python_doctor_prints_no_driver_noise():
    env = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
    code = "import accel_toolkit as at; print(at.doctor(['cpu', 'wgpu']))"
    r = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr
    assert "XDG_RUNTIME_DIR" not in r.stderr, r.stderr
