"""The DuckDB results store.

Every write opens the file, commits and closes it again, so that

* a crash, a killed browser or Ctrl-C loses nothing already measured (each result is its
  own committed transaction), and
* a second process writing the same file waits for the lock (up to ``lock_timeout``
  seconds) and then gets a :class:`StoreLockedError`, never a corrupt file or a lost row.

Opening costs 15-30 ms, which a sweep of fast configurations pays for every row. Where no
other process reads the file meanwhile (``ab``'s throwaway databases), ``hold`` (or
``$ACCEL_TOOLKIT_DB_HOLD``) seconds lets one write keep the file open for the writes that
follow within that time; every row is still its own committed transaction.

The default database is ``$ACCEL_TOOLKIT_DB`` if set, else
``$XDG_DATA_HOME/accel_toolkit/results.duckdb`` (``~/.local/share/...``).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import random
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from ..exceptions import (
    CorruptDatabaseError,
    MissingDatabaseError,
    NotADatabaseError,
    StoreError,
    StoreLockedError,
)
from ._schema import KEYS, RESULTS_VIEW, SCHEMA_VERSION, TABLES

__all__ = ["Store", "default_db_path", "open_store", "reference_data"]

ENV_VAR = "ACCEL_TOOLKIT_DB"
MEASUREMENT_COLUMNS = (
    "result_id",
    "run_id",
    "created_at",
    "kernel",
    "family",
    "params",
    "config_key",
    "dtype",
    "seed",
    "backend",
    "venue",
    "device",
    "device_info",
    "timer",
    "median_s",
    "ci_low_s",
    "ci_high_s",
    "ci_level",
    "iqr_s",
    "mean_s",
    "std_s",
    "min_s",
    "max_s",
    "n_samples",
    "inner_loops",
    "first_run_s",
    "warmup_s",
    "flops",
    "bytes",
    "max_abs_err",
    "max_rel_err",
    "atol",
    "rtol",
    "status",
    "error",
    "env_id",
    "extra",
)


def default_db_path() -> Path:
    """``$ACCEL_TOOLKIT_DB``, else ``$XDG_DATA_HOME/accel_toolkit/results.duckdb``."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "accel_toolkit" / "results.duckdb"


def reference_data(name: str = "reference-small") -> Path:
    """The folder of a reference sweep shipped inside the package (Parquet files).

    ``reference-small`` is a small sweep of every kernel on cpu, webgpu and webnn; import it
    with ``Store.import_parquet(reference_data())`` or ``accel-toolkit import reference-small``.
    """
    folder = Path(__file__).resolve().parent / "reference" / name
    if not folder.is_dir():
        raise StoreError(
            f"No reference data {name!r} ships with accel_toolkit; the one that "
            f"does is 'reference-small'."
        )
    return folder


def _is_corrupt(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.Error) and "corrupt" in str(exc).lower()


def corrupt_error(path: Path, exc: BaseException) -> CorruptDatabaseError:
    """The error for a damaged database file: which file, and what to do about it."""
    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return CorruptDatabaseError(
        f"{path} is corrupt ({detail}). Restore it from a backup, or save what is still "
        f"readable with `accel-toolkit export FOLDER --db {path}` and `accel-toolkit import "
        f"FOLDER --db NEW.duckdb`; `accel-toolkit verify --db {path}` lists the damaged tables."
    )


def now() -> datetime:
    return datetime.now(timezone.utc)


def to_json(value: Any) -> str:
    """Canonical JSON (sorted keys; numpy scalars and paths become plain values)."""

    def default(o: Any) -> Any:
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        return str(o)

    return json.dumps(value, sort_keys=True, default=default)


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row else 0


def _is_lock_error(exc: Exception) -> bool:
    msg = str(exc).lower()
    return "lock" in msg and ("conflicting" in msg or "could not set" in msg)


#: statuses a resumed sweep does not measure again (see harness.STATUS_OF_ERROR)
FINAL_STATUSES = ("ok", "mismatch", "unsupported")
#: a measurement's round (0 for rows of single-round runs, which record none)
ROUND_SQL = "coalesce(CAST(json_extract(extra, '$.round') AS INTEGER), 0)"


def _identity(values: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """(run, configuration, backend, machine, round) of a row; ``None`` without run or key."""
    if not values.get("run_id") or not values.get("config_key"):
        return None
    extra = values.get("extra")
    if isinstance(extra, str):
        extra = json.loads(extra)
    rnd = (extra or {}).get("round") if isinstance(extra, Mapping) else None
    return (
        values["run_id"],
        values["config_key"],
        values.get("backend"),
        values.get("env_id"),
        int(rnd or 0),
    )


def _stored_twin(
    con: duckdb.DuckDBPyConnection, identity: tuple[Any, ...] | None, status: str | None
) -> str | None:
    """The id of a stored row that makes a new row with ``identity`` a duplicate, else None."""
    if identity is None:
        return None
    rows = con.execute(
        "SELECT result_id, status FROM measurements WHERE run_id = ? AND config_key = ? "
        "AND backend IS NOT DISTINCT FROM ? AND env_id IS NOT DISTINCT FROM ? "
        f"AND {ROUND_SQL} = ? "
        "ORDER BY created_at",
        list(identity),
    ).fetchall()
    final = [r[0] for r in rows if r[1] in FINAL_STATUSES]
    if final:
        return str(final[0])
    if rows and status not in FINAL_STATUSES:
        return str(rows[-1][0])
    return None


#: connections held open between writes (``hold``), by database path: one per file and
#: process, shared by every Store of that file, closed before any other kind of connection
_HELD: dict[Path, tuple[duckdb.DuckDBPyConnection, float]] = {}
_HELD_LOCK = threading.RLock()


def _release(path: Path | None = None) -> None:
    """Close the held connection of ``path`` (``None``: of every file)."""
    with _HELD_LOCK:
        for p in [path] if path is not None else list(_HELD):
            held = _HELD.pop(p, None)
            if held is not None:
                with contextlib.suppress(duckdb.Error):
                    held[0].close()


atexit.register(_release)


class Store:
    """A results database file.

    Parameters
    ----------
    path : str or Path, optional
        The DuckDB file; default :func:`default_db_path`. Its folder must exist unless it is
        the default location, which is created.
    lock_timeout : float
        Seconds to wait for another process's write lock before :class:`StoreLockedError`.
    create : bool
        Create the file if it does not exist (the default). Reading code passes ``False``
        and gets a :class:`MissingDatabaseError` instead of a new, empty database.
    hold : float
        Seconds a write may keep the file open for the writes that follow (default 0, or
        ``$ACCEL_TOOLKIT_DB_HOLD``): much faster sweeps of fast configurations, but other
        processes wait for the file meanwhile, so use it only where none reads it.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        lock_timeout: float = 30.0,
        create: bool = True,
        hold: float = 0.0,
    ):
        is_default = path is None
        self.path = Path(path).expanduser() if path is not None else default_db_path()
        self.lock_timeout = float(os.environ.get("ACCEL_TOOLKIT_LOCK_TIMEOUT", lock_timeout))
        self.hold = float(os.environ.get("ACCEL_TOOLKIT_DB_HOLD", hold))
        if self.path.is_dir():
            raise StoreError(f"{self.path} is a folder; pass the path of a .duckdb file inside it.")
        if not create and not self.path.exists():
            raise MissingDatabaseError(
                f"No results database at {self.path}. Pass --db PATH of an existing file "
                f"(written by `accel-toolkit bench`), or set $ACCEL_TOOLKIT_DB."
            )
        if not self.path.parent.exists():
            if is_default:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            else:
                raise StoreError(
                    f"The folder {self.path.parent} does not exist. Create it "
                    f"(mkdir -p {self.path.parent}) or pass another database path."
                )
        self._check_header()
        self._init_schema()

    # -- connections ------------------------------------------------------------------
    def _check_header(self) -> None:
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        with open(self.path, "rb") as f:
            head = f.read(16)
        if head[8:12] != b"DUCK":
            raise NotADatabaseError(
                f"{self.path} exists but is not a DuckDB database. Pass another path, or move "
                f"the file away if it is not needed."
            )

    @contextlib.contextmanager
    def connect(
        self, read_only: bool = False, external_access: bool = True
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived connection; waits for other writers, then raises StoreLockedError.

        With ``hold`` set, a write connection stays open for the writes that follow within
        ``hold`` seconds; any other kind of connection to the file closes it first.

        ``external_access=False`` also forbids file reads and writes outside the database
        and extension installs (DuckDB's ``enable_external_access``). A damaged file raises
        :class:`CorruptDatabaseError`, whether it is found on opening or while reading.
        """
        holding = self.hold > 0 and not read_only and external_access
        key = self.path.resolve()
        with _HELD_LOCK:
            if not holding:
                _release(key)  # another kind of connection to the file conflicts with it
            elif key in _HELD:
                con, opened = _HELD[key]
                try:
                    yield con
                except BaseException as exc:
                    _release(key)  # it may be mid-transaction: start afresh next time
                    if isinstance(exc, duckdb.Error) and _is_corrupt(exc):
                        raise corrupt_error(self.path, exc) from exc
                    raise
                if time.monotonic() - opened > self.hold:
                    _release(key)
                return
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.01
        config: dict[str, Any] = {}
        if not external_access:
            config = {
                "enable_external_access": False,
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
            }
        while True:
            try:
                con = duckdb.connect(
                    str(self.path), read_only=read_only and self.path.exists(), config=config
                )
                break
            except duckdb.Error as exc:
                if _is_lock_error(exc):
                    if time.monotonic() >= deadline:
                        raise StoreLockedError(
                            f"{self.path} is locked by another process for more than "
                            f"{self.lock_timeout:.0f} s ({exc}). Wait for it to finish, close the "
                            f"other notebook or process, or write to another database."
                        ) from exc
                    time.sleep(delay * (1 + random.random()))
                    delay = min(delay * 2, 0.5)
                    continue
                if _is_corrupt(exc):
                    raise corrupt_error(self.path, exc) from exc
                if "not a valid duckdb" in str(exc).lower() or "database file" in str(exc).lower():
                    raise NotADatabaseError(
                        f"{self.path} is not a usable DuckDB database: {exc}"
                    ) from exc
                raise StoreError(f"Cannot open {self.path}: {exc}") from exc
        opened = time.monotonic()
        kept = False
        try:
            yield con
            if holding:
                with _HELD_LOCK:
                    if key not in _HELD:
                        _HELD[key] = (con, opened)
                        kept = True
        except duckdb.Error as exc:
            if _is_corrupt(exc):
                raise corrupt_error(self.path, exc) from exc
            raise
        finally:
            if not kept:
                con.close()

    def _init_schema(self) -> None:
        with self.connect() as con:
            for ddl in TABLES:
                con.execute(ddl)
            row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row is None:
                con.execute("INSERT INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])
            elif int(row[0]) > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} has schema version {row[0]}, newer than this accel_toolkit "
                    f"({SCHEMA_VERSION}). Upgrade accel_toolkit to read it."
                )
            con.execute(RESULTS_VIEW)

    # -- writes -----------------------------------------------------------------------
    def add_environment(self, env: Mapping[str, Any], env_id: str) -> str:
        with self.connect() as con:
            con.execute(
                """INSERT OR IGNORE INTO environments VALUES (?,?,?,?,?,?,?,?,?,?,?)""",
                [
                    env_id,
                    now(),
                    env.get("hostname"),
                    env.get("cpu_model"),
                    env.get("cores_available"),
                    env.get("memory_bytes"),
                    env.get("os"),
                    env.get("python"),
                    env.get("toolkit_version"),
                    env.get("git_commit"),
                    to_json(env),
                ],
            )
        return env_id

    def start_run(
        self,
        *,
        tag: str | None = None,
        env_id: str | None = None,
        git_commit: str | None = None,
        command: str | None = None,
        notebook: str | None = None,
        notebook_params: Mapping[str, Any] | None = None,
        notebook_output: str | None = None,
        settings: Mapping[str, Any] | None = None,
        seed: int | None = None,
        planned: int | None = None,
        run_id: str | None = None,
    ) -> str:
        """Create a run row (status ``running``) and return its id."""
        run_id = run_id or uuid.uuid4().hex[:16]
        with self.connect() as con:
            con.execute(
                "INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [
                    run_id,
                    now(),
                    None,
                    "running",
                    tag,
                    env_id,
                    git_commit,
                    command,
                    notebook,
                    to_json(notebook_params) if notebook_params is not None else None,
                    notebook_output,
                    to_json(settings) if settings is not None else None,
                    seed,
                    planned,
                ],
            )
        return run_id

    def finish_run(self, run_id: str, status: str = "complete") -> None:
        with self.connect() as con:
            con.execute(
                "UPDATE runs SET status = ?, finished_at = ? WHERE run_id = ?",
                [status, now(), run_id],
            )

    def prefix_commands(self, prefix: str) -> None:
        """Prefix the ``command`` of every run in the database with ``prefix: `` (how ``ab``
        marks the runs of a side it measured one process after the other)."""
        with self.connect() as con:
            con.execute("UPDATE runs SET command = ? || ': ' || coalesce(command, '')", [prefix])

    @contextlib.contextmanager
    def recording(
        self,
        run_id: str,
        interrupted: tuple[type[BaseException], ...] = (KeyboardInterrupt,),
    ) -> Iterator[None]:
        """Finish ``run_id`` when the block ends: ``complete``, ``interrupted`` (Ctrl-C or one of
        ``interrupted``) or ``failed`` (any other exception, which propagates)."""
        status = "complete"
        try:
            yield
        except interrupted:
            status = "interrupted"
            raise
        except BaseException:
            status = "failed"
            raise
        finally:
            self.finish_run(run_id, status)

    def add_result(
        self, row: Mapping[str, Any], samples: Sequence[float] | np.ndarray | None = None
    ) -> str:
        """Insert one measurement and its raw samples in one transaction; return its id.

        Writes are idempotent on (run, configuration, backend, machine, round): a row whose
        ``run_id``, ``config_key``, ``backend``, ``env_id`` and ``extra.round`` match a stored
        row is dropped, and the stored row's id is returned, unless the stored rows are all
        failures (``error``, ``unavailable``) and the new one is final (``ok``, ``mismatch``,
        ``unsupported``): a resumed sweep's success is kept, a retried or duplicated result
        (a task re-run after a worker died) is not.
        """
        values = dict(row)
        identity = _identity(values)
        values.setdefault("result_id", uuid.uuid4().hex)
        values.setdefault("created_at", now())
        for key in ("params", "device_info", "extra"):
            if key in values and not isinstance(values[key], str) and values[key] is not None:
                values[key] = to_json(values[key])
        unknown = set(values) - set(MEASUREMENT_COLUMNS)
        if unknown:
            raise StoreError(f"unknown measurement column(s): {sorted(unknown)}")
        cols = [c for c in MEASUREMENT_COLUMNS if c in values]
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            kept = _stored_twin(con, identity, values.get("status"))
            if kept is not None:
                con.execute("ROLLBACK")
                return kept
            con.execute(
                f"INSERT INTO measurements ({', '.join(cols)}) "
                f"VALUES ({', '.join('?' * len(cols))})",
                [values[c] for c in cols],
            )
            if samples is not None and len(samples):
                df = pd.DataFrame(
                    {
                        "result_id": values["result_id"],
                        "idx": np.arange(len(samples), dtype=np.int32),
                        "seconds": np.asarray(samples, dtype=float),
                    }
                )
                con.register("_new_samples", df)
                con.execute("INSERT INTO samples SELECT result_id, idx, seconds FROM _new_samples")
                con.unregister("_new_samples")
            con.execute("COMMIT")
        return str(values["result_id"])

    # -- reads ------------------------------------------------------------------------
    def query(self, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        """Run read-only SQL against the database and return a DataFrame.

        The connection is read-only and cannot touch other files or install extensions
        (``COPY ... TO``, ``read_csv``, ``INSTALL`` fail); use :meth:`export_parquet` to write.
        """
        with self.connect(read_only=True, external_access=False) as con:
            try:
                return con.execute(sql, params or []).df()
            except duckdb.Error as exc:
                if _is_corrupt(exc):
                    raise
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise StoreError(f"Query failed: {first}") from exc

    def results(
        self,
        *,
        run_ids: Sequence[str] | None = None,
        tag: str | None = None,
        kernels: Sequence[str] | None = None,
        backends: Sequence[str] | None = None,
        status: str | None = None,
    ) -> pd.DataFrame:
        """Rows of the ``results`` view, filtered, oldest first; ``params`` parsed to dicts."""
        where: list[str] = []
        args: list[Any] = []
        for col, vals in (("run_id", run_ids), ("kernel", kernels), ("backend", backends)):
            if vals:
                where.append(f"{col} IN ({', '.join('?' * len(vals))})")
                args.extend(vals)
        if tag is not None:
            where.append("tag = ?")
            args.append(tag)
        if status is not None:
            where.append("status = ?")
            args.append(status)
        sql = "SELECT * FROM results" + (" WHERE " + " AND ".join(where) if where else "")
        df = self.query(sql + " ORDER BY created_at", args)
        if not df.empty:
            df["params"] = df["params"].map(lambda s: json.loads(s) if isinstance(s, str) else s)
        return df

    def samples(self, result_ids: Sequence[str]) -> pd.DataFrame:
        """Raw samples of the given measurements: ``result_id, idx, seconds``."""
        if not result_ids:
            return pd.DataFrame(columns=["result_id", "idx", "seconds"])
        ph = ", ".join("?" * len(result_ids))
        return self.query(
            f"SELECT * FROM samples WHERE result_id IN ({ph}) ORDER BY result_id, idx",
            list(result_ids),
        )

    def runs(self) -> pd.DataFrame:
        """Every run, newest first."""
        return self.query("SELECT * FROM runs ORDER BY created_at DESC")

    def environments(self) -> pd.DataFrame:
        return self.query("SELECT * FROM environments ORDER BY created_at")

    def finished(self, run_id: str) -> set[tuple[int, str, str, str | None]]:
        """(round, config_key, backend, env_id) of the run's results with a final status:
        what a resumed sweep does not measure again."""
        prev = self.query(
            f"SELECT {ROUND_SQL} AS round, config_key, backend, env_id FROM measurements "
            f"WHERE run_id = ? AND status IN {FINAL_STATUSES}",
            [run_id],
        )
        return {(int(r.round), r.config_key, r.backend, r.env_id) for r in prev.itertuples()}

    def count(self, table: str = "measurements") -> int:
        if table not in KEYS and table != "results":
            raise StoreError(f"unknown table {table!r}")
        return int(self.query(f"SELECT count(*) AS n FROM {table}")["n"].iloc[0])

    def verify(self) -> pd.DataFrame:
        """Read every row of every table; one row per table: ``table, rows, ok, error``.

        A damaged file shows which tables cannot be read (``ok`` False, DuckDB's message in
        ``error``); :meth:`export_parquet` with ``skip_unreadable=True`` saves the others.
        """
        out = []
        for table in KEYS:
            rows, error = 0, None
            try:
                with self.connect(read_only=True, external_access=False) as con:
                    # hashing whole rows reads (and checksums) every block of every column
                    row = con.execute(
                        f"SELECT count(*), bit_xor(hash(t)) FROM {table} t"
                    ).fetchone()
                    rows = int(row[0]) if row else 0
            except (duckdb.Error, StoreError) as exc:
                cause = exc.__cause__ if isinstance(exc, CorruptDatabaseError) else exc
                error = str(cause or exc).splitlines()[0]
            out.append({"table": table, "rows": rows, "ok": error is None, "error": error})
        return pd.DataFrame(out)

    # -- exchange ---------------------------------------------------------------------
    def export_parquet(
        self, folder: str | os.PathLike[str], *, skip_unreadable: bool = False
    ) -> list[Path]:
        """Write every table to ``folder/<table>.parquet``; return the paths.

        With ``skip_unreadable``, a table that cannot be read (a damaged file) is left out
        instead of raising :class:`CorruptDatabaseError`; the paths returned say which were
        written.
        """
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for table in KEYS:
            p = out / f"{table}.parquet"
            try:
                with self.connect(read_only=True) as con:
                    con.execute(
                        f"COPY (SELECT * FROM {table}) TO '{p.as_posix()}' (FORMAT PARQUET)"
                    )
            except CorruptDatabaseError:
                p.unlink(missing_ok=True)
                if not skip_unreadable:
                    raise
                continue
            paths.append(p)
        return paths

    def import_parquet(self, folder: str | os.PathLike[str]) -> dict[str, int]:
        """Merge ``folder/<table>.parquet`` files in; rows already present are skipped.

        A run stored as ``running`` takes the status and end time of an imported copy that
        has finished (a newer export); a finished run never goes back to ``running``.

        Returns the number of new rows per table.
        """
        src = Path(folder)
        if not src.exists():
            raise StoreError(
                f"{src.resolve()} does not exist. Pass a folder written by `accel-toolkit "
                f"export`; the reference sweep ships with the package: `accel-toolkit import "
                f"reference-small` (in Python: Store.import_parquet(reference_data()))."
            )
        if not src.is_dir():
            raise StoreError(
                f"{src} is not a folder of Parquet files (see `accel-toolkit export`)."
            )
        found = [t for t in KEYS if (src / f"{t}.parquet").exists()]
        if not found:
            raise StoreError(f"{src} holds none of {', '.join(f'{t}.parquet' for t in KEYS)}.")
        added = {}
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            for table in found:
                p = (src / f"{table}.parquet").as_posix()
                before = _scalar(con, f"SELECT count(*) FROM {table}")
                cols = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
                con.execute(
                    f"INSERT OR IGNORE INTO {table} ({', '.join(cols)}) "
                    f"SELECT {', '.join(cols)} FROM read_parquet('{p}')"
                )
                if table == "runs":  # a newer export finishes a run an older one left running
                    con.execute(
                        "UPDATE runs SET status = src.status, finished_at = src.finished_at "
                        f"FROM read_parquet('{p}') AS src WHERE runs.run_id = src.run_id "
                        "AND runs.status = 'running' AND src.status <> 'running'"
                    )
                added[table] = _scalar(con, f"SELECT count(*) FROM {table}") - before
            con.execute("COMMIT")
        return added

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"


def open_store(db: Store | str | os.PathLike[str] | None = None, *, create: bool = True) -> Store:
    """A :class:`Store` from a path, an existing store, or ``None`` (the default database).

    ``create=False`` raises :class:`MissingDatabaseError` for a file that does not exist.
    """
    return db if isinstance(db, Store) else Store(db, create=create)
