"""The DuckDB results store: schema, paths, errors, Parquet merge, concurrent writers."""

from __future__ import annotations

import json
import multiprocessing as mp
import time
from pathlib import Path

import duckdb
import numpy as np
import pytest

from accel_toolkit.exceptions import NotADatabaseError, StoreError, StoreLockedError
from accel_toolkit.store import SCHEMA_VERSION, Store, default_db_path, reference_data

VIEW_COLUMNS = [
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


def _row(run_id, i=0, **kw):
    return {
        "run_id": run_id,
        "kernel": "matmul",
        "params": {"M": i},
        "dtype": "float32",
        "backend": "cpu",
        "venue": "process",
        "status": "ok",
        "median_s": 1e-3 * (i + 1),
        "flops": 2e6,
        "bytes": 1e4,
        **kw,
    }


def test_schema_and_view(db_path):
    s = Store(db_path)
    cols = s.query("SELECT * FROM results LIMIT 0").columns.tolist()
    assert cols[: len(VIEW_COLUMNS)] == VIEW_COLUMNS
    assert s.query("SELECT value FROM meta WHERE key='schema_version'")["value"][0] == str(
        SCHEMA_VERSION
    )


def test_rows_and_samples_round_trip(db_path):
    s = Store(db_path)
    run = s.start_run(tag="t")
    rid = s.add_result(_row(run, 1), samples=[1e-3, 2e-3, 3e-3])
    s.finish_run(run)
    df = s.results(tag="t")
    assert len(df) == 1 and df["params"][0] == {"M": 1}
    assert df["gflops"][0] == pytest.approx(2e6 / 2e-3 / 1e9)
    assert s.samples([rid])["seconds"].tolist() == [1e-3, 2e-3, 3e-3]
    assert s.runs()["status"][0] == "complete"


def test_default_path_env_override(monkeypatch, tmp_path):
    monkeypatch.setenv("ACCEL_TOOLKIT_DB", str(tmp_path / "x.duckdb"))
    assert default_db_path() == tmp_path / "x.duckdb"
    monkeypatch.delenv("ACCEL_TOOLKIT_DB")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_db_path() == tmp_path / "xdg" / "accel_toolkit" / "results.duckdb"
    s = Store()  # the default folder is created
    assert s.path.exists()


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="does not exist.*mkdir -p"):
        Store(tmp_path / "nope" / "r.duckdb")


def test_not_a_database(tmp_path):
    p = tmp_path / "notes.duckdb"
    p.write_text("hello, this is not a database\n" * 10)
    with pytest.raises(NotADatabaseError, match="not a DuckDB database"):
        Store(p)


def test_parquet_merge_without_duplicates(tmp_path):
    a, b = Store(tmp_path / "a.duckdb"), Store(tmp_path / "b.duckdb")
    ra = a.start_run(tag="a")
    for i in range(3):
        a.add_result(_row(ra, i), samples=[1.0, 2.0])
    rb = b.start_run(tag="b")
    b.add_result(_row(rb, 9), samples=[3.0])
    a.export_parquet(tmp_path / "exp_a")
    first = b.import_parquet(tmp_path / "exp_a")
    again = b.import_parquet(tmp_path / "exp_a")
    assert first["measurements"] == 3 and first["samples"] == 6 and first["runs"] == 1
    assert again["measurements"] == 0 and again["samples"] == 0
    assert b.count() == 4 and b.count("samples") == 7


def _writer(path: str, n: int, tag: str) -> None:
    s = Store(path, lock_timeout=60)
    run = s.start_run(tag=tag)
    for i in range(n):
        s.add_result(_row(run, i), samples=[float(i)])
    s.finish_run(run)


def test_two_processes_writing_lose_nothing(db_path):
    Store(db_path)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(db_path), 15, f"p{k}")) for k in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    s = Store(db_path)
    assert s.count() == 30 and s.count("samples") == 30
    assert sorted(s.runs()["tag"]) == ["p0", "p1"]


def _hold_lock(path: str, seconds: float, ready) -> None:
    con = duckdb.connect(path)
    ready.set()
    time.sleep(seconds)
    con.close()


def test_lock_held_too_long_gives_a_clear_error(db_path):
    Store(db_path)
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    p = ctx.Process(target=_hold_lock, args=(str(db_path), 5.0, ready))
    p.start()
    try:
        assert ready.wait(30)
        with pytest.raises(StoreLockedError, match="locked by another process"):
            Store(db_path, lock_timeout=0.5)
    finally:
        p.join(30)
    Store(db_path, lock_timeout=0.5)  # free again


def _write_held_then_die(path: str, n: int, ready) -> None:
    import os

    s = Store(path, hold=60.0)
    run = s.start_run(tag="held")
    for i in range(n):
        s.add_result(_row(run, i), [1e-3, 2e-3])
    ready.set()
    time.sleep(60)  # still holding the file when it is killed
    os._exit(0)


def test_a_held_write_connection_is_reused_and_loses_nothing_when_killed(db_path):
    from accel_toolkit.store import _store

    s = Store(db_path)
    run = s.start_run(tag="x")
    held = Store(db_path, hold=30.0)
    held.add_result(_row(run, 0), [1e-3])
    con = _store._HELD[db_path.resolve()][0]
    for i in range(1, 20):
        held.add_result(_row(run, i), [1e-3])
    assert _store._HELD[db_path.resolve()][0] is con  # one open for twenty writes
    assert held.count() == 20  # a read closes the held connection first
    assert db_path.resolve() not in _store._HELD

    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    p = ctx.Process(target=_write_held_then_die, args=(str(db_path), 5, ready))
    p.start()
    try:
        assert ready.wait(60)
        with pytest.raises(StoreLockedError):  # the writer holds the file ...
            Store(db_path, lock_timeout=0.5).count()
        p.kill()
        p.join(30)
        # ... and its committed rows survive it being killed while holding
        assert Store(db_path, lock_timeout=10).count() == 25
    finally:
        p.kill()


def test_directory_path_rejected(tmp_path: Path):
    with pytest.raises(StoreError, match="is a folder"):
        Store(tmp_path)


def test_recording_marks_how_a_run_ended(db_path):
    s = Store(db_path)
    ok, failed, stopped = (s.start_run(tag=t) for t in ("ok", "failed", "stopped"))
    with s.recording(ok):
        pass
    with pytest.raises(ValueError), s.recording(failed):
        raise ValueError("boom")
    with pytest.raises(KeyboardInterrupt), s.recording(stopped):
        raise KeyboardInterrupt
    status = dict(zip(s.runs()["tag"], s.runs()["status"], strict=True))
    assert status == {"ok": "complete", "failed": "failed", "stopped": "interrupted"}


def test_prefix_commands_marks_every_run_and_keeps_their_commands(db_path):
    s = Store(db_path)
    s.start_run(tag="a", command="accel-toolkit bench --kernels matmul")
    s.start_run(tag="b")
    s.prefix_commands("side")
    commands = dict(zip(s.runs()["tag"], s.runs()["command"], strict=True))
    assert commands == {"a": "side: accel-toolkit bench --kernels matmul", "b": "side: "}


# -- reading without creating, read-only SQL, verify (issue 25) ------------------------------
def test_create_false_refuses_a_missing_file(tmp_path):
    from accel_toolkit.exceptions import MissingDatabaseError

    with pytest.raises(MissingDatabaseError, match="No results database"):
        Store(tmp_path / "none.duckdb", create=False)
    assert not (tmp_path / "none.duckdb").exists()


def test_query_cannot_touch_other_files(db_path, tmp_path):
    store = Store(db_path)
    with pytest.raises(StoreError, match="Query failed"):
        store.query(f"COPY (SELECT 1) TO '{tmp_path / 'x.csv'}'")
    assert not (tmp_path / "x.csv").exists()
    assert store.query("SELECT count(*) AS n FROM runs")["n"].iloc[0] == 0


def test_verify_an_intact_file(db_path):
    store = Store(db_path)
    store.start_run(tag="t")
    table = store.verify()
    assert table["ok"].all() and table.set_index("table").loc["runs", "rows"] == 1


def test_environment_columns_and_fingerprint_are_stored(db_path):
    s = Store(db_path)
    env = {
        "hostname": "bench-01",
        "cpu_model": "Xeon 8480",
        "cores_available": 8,
        "python": "3.12.1",
        "toolkit_version": "1.2.3",
        "cache_dir": Path("/tmp/cache"),  # no JSON form of its own: stored as its text
    }
    s.add_environment(env, "e1")
    row = s.environments().iloc[0]
    assert (row["hostname"], row["cpu_model"], row["cores"]) == ("bench-01", "Xeon 8480", 8)
    assert (row["python"], row["toolkit_version"]) == ("3.12.1", "1.2.3")
    assert json.loads(row["fingerprint"])["cache_dir"] == "/tmp/cache"


def test_rounds_given_as_json_text_are_kept_apart(db_path):
    # imported rows carry `extra` as JSON text; its round still tells rows apart
    s = Store(db_path)
    run = s.start_run(tag="t")
    first = s.add_result(_row(run, config_key="k", extra='{"round": 0}'))
    second = s.add_result(_row(run, config_key="k", extra='{"round": 1}'))
    assert first != second and s.count() == 2
    assert s.add_result(_row(run, config_key="k", extra='{"round": 1}')) == second
    assert s.count() == 2


def test_importing_a_file_instead_of_a_folder_says_what_to_pass(db_path, tmp_path):
    f = tmp_path / "measurements.parquet"
    f.write_bytes(b"")
    with pytest.raises(StoreError, match="is not a folder of Parquet files"):
        Store(db_path).import_parquet(f)


def test_the_reference_sweep_ships_with_the_package():
    folder = reference_data()
    assert folder.is_dir() and (folder / "measurements.parquet").is_file()
    with pytest.raises(StoreError, match="reference-small"):
        reference_data("reference-huge")


# -- mutants of the out-of-sample run of 2026-12-05 (seed 1205), see docs/testing.md ----------
def test_default_path_under_the_home_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("ACCEL_TOOLKIT_DB", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    expected = tmp_path / ".local" / "share" / "accel_toolkit" / "results.duckdb"
    assert default_db_path() == expected


def test_a_retried_failure_returns_the_stored_row(db_path):
    s = Store(db_path)
    run = s.start_run(tag="t")
    first = s.add_result(_row(run, 1, status="error", error="boom", config_key="k1"))
    again = s.add_result(_row(run, 1, status="error", error="boom again", config_key="k1"))
    assert again == first
    assert s.results(tag="t")["error"].tolist() == ["boom"]


def test_extra_is_stored_as_json(db_path):
    s = Store(db_path)
    run = s.start_run(tag="t")
    extra = {"round": np.int64(2), "note": "x", "file": Path("/data/x.npy"), "v": np.ones(2)}
    s.add_result(_row(run, 1, extra=extra))
    raw = s.query("SELECT extra FROM measurements")["extra"].iloc[0]
    assert raw == '{"file": "/data/x.npy", "note": "x", "round": 2, "v": [1.0, 1.0]}'


def test_a_run_without_settings_stores_null(db_path):
    s = Store(db_path)
    s.start_run(tag="plain")
    s.start_run(tag="set", settings={"time_budget": 0.5})
    got = s.query("SELECT tag, settings FROM runs ORDER BY tag")
    by_tag = dict(zip(got["tag"], got["settings"], strict=True))
    assert by_tag["plain"] is None or by_tag["plain"] != by_tag["plain"]  # NULL: None or NaN
    assert json.loads(by_tag["set"]) == {"time_budget": 0.5}


def test_results_with_two_filters(db_path):
    s = Store(db_path)
    run = s.start_run(tag="t")
    s.add_result(_row(run, 1))
    s.add_result(_row(run, 2, kernel="softmax"))
    s.add_result(_row(run, 3, backend="webgpu", venue="headless"))
    df = s.results(kernels=["matmul"], backends=["cpu"])
    assert df["params"].tolist() == [{"M": 1}]
    assert len(s.results(tag="t", kernels=["softmax"], backends=["cpu"])) == 1


def test_exporting_twice_into_the_same_folder(db_path, tmp_path):
    s = Store(db_path)
    run = s.start_run(tag="t")
    s.add_result(_row(run, 1), samples=[1.0])
    first = s.export_parquet(tmp_path / "out")
    again = s.export_parquet(tmp_path / "out")
    assert first == again and all(p.exists() for p in again)


def test_a_failed_query_quotes_duckdb(db_path):
    with pytest.raises(StoreError, match=r"Query failed: .*no_such_table"):
        Store(db_path).query("SELECT * FROM no_such_table")


def test_a_damaged_block_is_reported_as_corrupt_in_process(tmp_path):
    from accel_toolkit.exceptions import CorruptDatabaseError

    good = tmp_path / "good.duckdb"
    s = Store(good)
    run = s.start_run(tag="t")
    s.add_result(_row(run, 1), samples=list(np.random.default_rng(0).random(400_000)))
    bad = tmp_path / "bad.duckdb"
    block, first = 262_144, 12_288  # DuckDB's block size and where the blocks start
    for i in range(1, (good.stat().st_size - first) // block):
        good_bytes = good.read_bytes()
        damaged = bytearray(good_bytes)
        at = first + i * block + 1000
        damaged[at : at + 4096] = b"\xa5" * 4096
        bad.write_bytes(bytes(damaged))
        try:
            Store(bad, create=False).query("SELECT sum(seconds) AS s FROM samples")
        except CorruptDatabaseError as exc:
            assert str(bad) in str(exc) and "backup" in str(exc)
            return
        except StoreError:
            continue
    pytest.fail("no damaged block of the samples table was reported as corrupt")


# -- mutants of the out-of-sample run of 2026-12-05 (seed 1206), see docs/testing.md ----------
def test_the_same_configuration_from_two_machines_keeps_both(db_path):
    s = Store(db_path)
    run = s.start_run(tag="t")
    a = s.add_result(_row(run, 1, config_key="k1", env_id="machine-a"))
    b = s.add_result(_row(run, 1, config_key="k1", env_id="machine-b"))
    assert a != b and s.count() == 2
    assert s.add_result(_row(run, 1, config_key="k1", env_id="machine-b")) == b


def test_extra_that_is_not_an_object_has_no_round(db_path):
    s = Store(db_path)
    run = s.start_run(tag="t")
    first = s.add_result(_row(run, 1, config_key="k1", extra="[1, 2]"))
    assert s.add_result(_row(run, 1, config_key="k1", extra={"round": 0})) == first


def test_a_newer_schema_names_its_version(db_path):
    Store(db_path)
    with duckdb.connect(str(db_path)) as con:
        con.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match=r"schema version 999, newer than this accel_toolkit"):
        Store(db_path)
