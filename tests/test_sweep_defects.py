"""Sweeps that must survive what a new user does: configurations too large for memory, damaged
databases, grid provenance, shell-quoted commands, resume and Ctrl-C (issue 25, defects 1-5).

Each test drives the toolkit as a user does (``at.bench`` or the ``accel-toolkit`` command in a
subprocess) on a real store; nothing of the code under test is patched.
"""

from __future__ import annotations

import json
import os
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pytest

import accel_toolkit as at
from accel_toolkit.exceptions import ConfigError
from accel_toolkit.report import reproduce_command
from accel_toolkit.store import Store

CLI = [sys.executable, "-m", "accel_toolkit.cli"]
#: a softmax no machine can hold: 2**40 float32 elements in and out (8 TiB)
HUGE = {"rows": 2**20, "cols": 2**20}


def cli(*args: str, **kw) -> subprocess.CompletedProcess:  # type: ignore[no-untyped-def]
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300, **kw)


def one_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


# -- defect 1: memory ---------------------------------------------------------------------
def test_a_configuration_too_large_is_unsupported_and_the_sweep_goes_on(db_path):
    df = at.bench(
        "softmax",
        grid=[HUGE, {"rows": 8, "cols": 8}],
        db=str(db_path),
        time_budget=0.05,
        progress=False,
    )
    by_rows = {p["rows"]: r for p, r in zip(df["params"], df.to_dict("records"), strict=True)}
    assert by_rows[8]["status"] == "ok"
    huge = by_rows[HUGE["rows"]]
    assert huge["status"] == "unsupported"
    assert "GiB of host memory" in huge["error"] and "available" in huge["error"]
    run = Store(db_path).runs().iloc[0]
    assert run["status"] == "complete"


def _limit_address_space() -> None:
    limit = 6_000_000 * 1024  # ulimit -v 6000000
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def test_bench_under_ulimit_v_stores_the_refusal(tmp_path):
    db = tmp_path / "x.duckdb"
    r = cli(
        "bench",
        "--kernels",
        "softmax,layernorm",
        "--param",
        "rows=65536",
        "--param",
        "cols=65536",
        "--preset",
        "tiny",
        "--db",
        str(db),
        "--time-budget",
        "0.05",
        "--rounds",
        "1",
        preexec_fn=_limit_address_space,
    )
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    rows = Store(db).results()
    assert len(rows) == 2 and set(rows["status"]) == {"unsupported"}
    assert rows["error"].str.contains("RLIMIT_AS").all()
    assert Store(db).runs()["status"].iloc[0] == "complete"


# -- defect 2: a damaged database -----------------------------------------------------------
def _damaged_copy(tmp_path: Path) -> Path:
    """A database whose ``samples`` table has a block failing its checksum, other tables intact."""
    good = tmp_path / "good.duckdb"
    store = Store(good)
    run_id = store.start_run(tag="t")
    store.add_result(
        {
            "run_id": run_id,
            "kernel": "softmax",
            "backend": "cpu",
            "status": "ok",
            "median_s": 1e-3,
            "config_key": "k",
            "params": {"rows": 8},
        },
        np.random.default_rng(0).random(400_000),
    )
    store.finish_run(run_id)
    bad = tmp_path / "bad.duckdb"
    block, first = 262_144, 12_288  # DuckDB's block size and where the blocks start
    for i in range((good.stat().st_size - first) // block):
        shutil.copy(good, bad)
        with open(bad, "r+b") as f:
            f.seek(first + i * block + 1000)
            f.write(b"\xa5" * 4096)
        try:
            con = duckdb.connect(str(bad), read_only=True)
        except duckdb.Error:  # the catalog itself: the file would not open at all
            continue
        try:
            con.execute("SELECT count(*) FROM runs, measurements").fetchall()
            con.execute("SELECT sum(seconds) FROM samples").fetchall()
        except duckdb.Error as exc:
            if "corrupt" in str(exc).lower():
                return bad
        finally:
            con.close()
    pytest.fail("no block of the samples table found to damage")


def test_a_damaged_table_is_named_with_what_to_do(tmp_path):
    bad = _damaged_copy(tmp_path)
    r = cli("query", "SELECT sum(seconds) AS s FROM samples", "--db", str(bad))
    assert r.returncode == 2, (r.stdout, r.stderr)
    line = one_line(r.stderr)
    assert str(bad) in line and "corrupt" in line, line
    assert "accel-toolkit export" in line and "backup" in line, line
    r = cli("bench", "--kernels", "gelu", "--db", str(bad), "--time-budget", "0.02")
    assert "Traceback" not in r.stderr
    assert r.returncode == 0 or (r.returncode == 2 and str(bad) in one_line(r.stderr))


@pytest.mark.parametrize(
    "args",
    [
        ["bench", "--kernels", "gelu", "--time-budget", "0.02"],
        ["query", "SELECT count(*) FROM runs"],
        ["report", "--out", "r.html"],
        ["check", "--baseline", "a", "--candidate", "b"],
        ["regressions"],
        ["export", "saved"],
        ["import", "saved"],
    ],
)
def test_every_command_names_a_corrupt_file(tmp_path, args):
    good = tmp_path / "good.duckdb"
    at.bench("gelu", db=str(good), time_budget=0.02, progress=False)
    bad = tmp_path / "bad.duckdb"
    shutil.copy(good, bad)
    with open(bad, "r+b") as f:  # the first block holds the catalog
        f.seek(12_288 + 1000)
        f.write(b"\xa5" * 4096)
    r = cli(*args, "--db", str(bad), cwd=tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    line = one_line(r.stderr)
    assert str(bad) in line and "corrupt" in line and "backup" in line, line


def test_verify_and_export_what_is_readable(tmp_path):
    bad = _damaged_copy(tmp_path)
    r = cli("verify", "--db", str(bad), "--format", "json")
    assert r.returncode == 1
    table = {row["table"]: row for row in json.loads(r.stdout.splitlines()[0])}
    assert not table["samples"]["ok"] and table["runs"]["ok"] and table["measurements"]["ok"]
    assert str(bad) in one_line(r.stderr)
    out = tmp_path / "saved"
    r = cli("export", str(out), "--db", str(bad))
    assert r.returncode == 1 and "samples" in one_line(r.stderr)
    assert (out / "runs.parquet").exists() and not (out / "samples.parquet").exists()
    fresh = tmp_path / "fresh.duckdb"
    assert cli("import", str(out), "--db", str(fresh)).returncode == 0
    assert Store(fresh).count("measurements") == 1
    r = cli("verify", "--db", str(fresh))
    assert r.returncode == 0 and "every table reads back" in r.stdout


# -- defect 3: grid provenance ---------------------------------------------------------------
def test_a_grid_run_records_its_configurations_and_reproduces_them(tmp_path):
    db = tmp_path / "g.duckdb"
    grid = [{"rows": 8, "cols": 24}, {"rows": 16, "cols": 40}]
    first = at.bench("softmax", grid=grid, db=str(db), time_budget=0.05, progress=False)
    store = Store(db)
    run = store.runs().iloc[0]
    settings = json.loads(run["settings"])
    assert settings["preset"] is None
    assert settings["grid"] == {"softmax": [dict(sorted(g.items())) for g in grid]}
    command = reproduce_command(run.to_dict(), str(db))
    assert "--grid" in command and "--preset" not in command
    r = subprocess.run(
        ["bash", "-c", command],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
    )
    assert r.returncode == 0, r.stderr
    runs = store.runs()
    assert len(runs) == 2
    again = store.results(run_ids=[runs["run_id"].iloc[0]])
    assert sorted(again["config_key"]) == sorted(first["config_key"])


def test_bench_grid_file_measures_exactly_its_configurations(tmp_path):
    grid = tmp_path / "grid.json"
    grid.write_text(
        json.dumps({"softmax": [{"rows": 4, "cols": 12}], "gelu": [{"n": 100}, {"n": 300}]})
    )
    db = tmp_path / "f.duckdb"
    r = cli(
        "bench",
        "--kernels",
        "softmax,gelu",
        "--grid",
        str(grid),
        "--db",
        str(db),
        "--time-budget",
        "0.02",
        "--rounds",
        "1",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    params = sorted(
        json.dumps(
            json.loads(row["params"]) if isinstance(row["params"], str) else row["params"],
            sort_keys=True,
        )
        for row in json.loads(r.stdout)
    )
    assert params == sorted(['{"n": 100}', '{"n": 300}', '{"cols": 12, "rows": 4}'])


# -- defect 4: shell quoting -----------------------------------------------------------------
def test_recorded_commands_round_trip_through_the_shell(tmp_path):
    db = tmp_path / "q.duckdb"
    r = cli(
        "bench",
        "--kernels",
        "gelu",
        "--param",
        "n=64",
        "--tag",
        "my branch",
        "--db",
        str(db),
        "--time-budget",
        "0.02",
    )
    assert r.returncode == 0, r.stderr
    command = Store(db).runs()["command"].iloc[0]
    assert shlex.split(command)[-6:-4] == ["--tag", "my branch"]
    shell = command.replace("accel-toolkit", shlex.join(CLI), 1)
    r = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert list(Store(db).runs()["tag"]) == ["my branch", "my branch"]


# -- defect 5: resume ------------------------------------------------------------------------
def test_resume_refuses_a_complete_run_or_another_plan(db_path):
    df = at.bench("softmax", preset="small", db=str(db_path), time_budget=0.02, progress=False)
    run_id = df["run_id"].iloc[0]
    with pytest.raises(ConfigError, match="is complete"):
        at.bench(
            "matmul,gelu,conv2d,reduce",
            preset="tiny",
            db=str(db_path),
            resume=run_id,
            progress=False,
        )
    with Store(db_path).connect() as con:  # as if the sweep had been interrupted
        con.execute("UPDATE runs SET status = 'interrupted' WHERE run_id = ?", [run_id])
        con.execute(
            "DELETE FROM measurements WHERE result_id = (SELECT min(result_id) FROM measurements)"
        )
    with pytest.raises(ConfigError, match="different plan.*preset"):
        at.bench(
            "softmax",
            preset="tiny",
            db=str(db_path),
            resume=run_id,
            time_budget=0.02,
            progress=False,
        )
    assert Store(db_path).count() == 2
    r = cli("bench", "--resume", run_id, "--db", str(db_path))
    assert r.returncode == 0, r.stderr
    store = Store(db_path)
    assert store.count() == 3 and store.runs()["status"].iloc[0] == "complete"


def test_ctrl_c_prints_the_run_and_how_to_resume(tmp_path):
    db = tmp_path / "c.duckdb"
    proc = subprocess.Popen(
        [
            *CLI,
            "bench",
            "--kernels",
            "softmax,gelu,layernorm,matmul",
            "--preset",
            "small",
            "--time-budget",
            "2",
            "--db",
            str(db),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # as from a terminal: a runner that started the suite in the background (SIGINT
        # ignored, which the child would inherit) must not turn Ctrl-C into nothing
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.5)
        try:  # a short lock wait: a reader blocked for long would miss the sweep
            if db.exists() and Store(db, create=False, lock_timeout=0.5).count() >= 1:
                break
        except Exception:  # the writer holds the file for a moment
            continue
    # the signal must land mid-sweep, or the test says nothing about Ctrl-C
    assert proc.poll() is None, "the sweep ended before Ctrl-C; lengthen it"
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    line = one_line(err)
    run_id = Store(db).runs()["run_id"].iloc[0]
    assert run_id in line and f"accel-toolkit bench --resume {run_id} --db {db}" in line
    assert Store(db).runs()["status"].iloc[0] == "interrupted"
