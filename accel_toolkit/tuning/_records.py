"""The ``tuning`` table: what the tuner writes, and the look-ups that use it.

Every point tried is one row (its knobs, the shape, the time, the status); the winner of a
bucket in a session is the row with ``chosen = true``. :func:`best` is the look-up the
backends use; :func:`invalidate` marks a chosen point that now gives a wrong result, so it
is never used again and the next ``tune`` searches that bucket afresh.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from ..store import Store, to_json

__all__ = ["Point", "TunedEntry", "add_points", "best", "invalidate", "tuning_table"]


@dataclass
class Point:
    """One point tried: where, what, and how it went (a row of the tuning table)."""

    kernel: str
    variant: str
    backend: str
    fingerprint: str
    adapter: Mapping[str, Any]
    bucket: str
    params: Mapping[str, Any]
    dtype: str
    knobs: Mapping[str, Any]
    knobs_key: str
    rung: int
    status: str
    median_s: float | None = None
    n_samples: int = 0
    max_abs_err: float | None = None
    error: str | None = None
    chosen: bool = False
    extra: Mapping[str, Any] | None = None
    session_id: str = ""
    tuning_id: str = ""


@dataclass(frozen=True)
class TunedEntry:
    """The best stored point of one (kernel, backend, adapter, bucket, dtype)."""

    tuning_id: str
    knobs: dict[str, Any]
    median_s: float
    params: dict[str, Any]
    session_id: str


_COLUMNS = (
    "tuning_id",
    "created_at",
    "session_id",
    "kernel",
    "variant",
    "backend",
    "fingerprint",
    "adapter",
    "bucket",
    "params",
    "dtype",
    "knobs",
    "knobs_key",
    "rung",
    "status",
    "chosen",
    "median_s",
    "n_samples",
    "max_abs_err",
    "error",
    "extra",
)


def add_points(store: Store, points: list[Point]) -> list[str]:
    """Insert ``points`` (ids are assigned where empty); returns their ids."""
    rows = []
    for p in points:
        p.tuning_id = p.tuning_id or uuid.uuid4().hex
        rows.append(
            [
                p.tuning_id,
                datetime.now(timezone.utc),
                p.session_id,
                p.kernel,
                p.variant,
                p.backend,
                p.fingerprint,
                to_json(p.adapter),
                p.bucket,
                to_json(p.params),
                p.dtype,
                to_json(p.knobs),
                p.knobs_key,
                p.rung,
                p.status,
                p.chosen,
                p.median_s,
                p.n_samples,
                p.max_abs_err,
                p.error,
                to_json(p.extra or {}),
            ]
        )
    if rows:
        marks = ", ".join("?" * len(_COLUMNS))
        with store.connect() as con:
            con.executemany(f"INSERT INTO tuning ({', '.join(_COLUMNS)}) VALUES ({marks})", rows)
    return [p.tuning_id for p in points]


def best(
    store: Store, kernel: str, backend: str, fingerprint: str, bucket: str, dtype: str = "float32"
) -> TunedEntry | None:
    """The newest chosen, still valid point for this adapter and bucket (``None``: none)."""
    with store.connect(read_only=True) as con:
        row = con.execute(
            "SELECT tuning_id, knobs, median_s, params, session_id FROM tuning "
            "WHERE kernel = ? AND backend = ? AND fingerprint = ? AND bucket = ? AND dtype = ? "
            "AND chosen AND status = 'ok' ORDER BY created_at DESC LIMIT 1",
            [kernel, backend, fingerprint, bucket, dtype],
        ).fetchone()
    if row is None:
        return None
    from ._space import SPACES

    legacy = SPACES[kernel].legacy if kernel in SPACES else {}
    return TunedEntry(
        row[0],
        {**legacy, **json.loads(row[1])},
        float(row[2] or "nan"),
        json.loads(row[3]),
        row[4],
    )


def invalidate(store: Store, tuning_id: str, reason: str) -> None:
    """Mark a chosen point invalid (it gave a wrong result); look-ups skip it from now on."""
    with store.connect() as con:
        con.execute(
            "UPDATE tuning SET status = 'invalidated', error = ? WHERE tuning_id = ?",
            [reason, tuning_id],
        )


def tuning_table(
    store: Store,
    *,
    kernel: str | None = None,
    backend: str | None = None,
    fingerprint: str | None = None,
    session_id: str | None = None,
) -> pd.DataFrame:
    """Rows of the tuning table, oldest first, filtered by the arguments given."""
    where, args = [], []
    for col, val in (
        ("kernel", kernel),
        ("backend", backend),
        ("fingerprint", fingerprint),
        ("session_id", session_id),
    ):
        if val is not None:
            where.append(f"{col} = ?")
            args.append(val)
    sql = "SELECT * FROM tuning" + (" WHERE " + " AND ".join(where) if where else "")
    return store.query(sql + " ORDER BY created_at", args)
