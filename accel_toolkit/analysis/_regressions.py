"""Regressions over history: one series per configuration across runs, steps stored in DuckDB.

A *series* is one configuration (``config_key`` = kernel + parameters + dtype) on one
backend, venue and device, with one point per run (its median and 99 % CI; the most recent
measurement if a run measured it twice), ordered by the run's start time. Each series goes
through :func:`~accel_toolkit.analysis.detect_steps`; the steps are written to the
``regressions`` table (replacing earlier detections of the same series) and returned.
"""

from __future__ import annotations

import hashlib
import os
import re
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from ..charts import describe_series, history_chart_with_steps, regression_chart
from ..store import Store, open_store, to_json
from ._steps import DEFAULT_GAMMA, DEFAULT_MIN_SIZE, detect_steps

__all__ = ["detect_regressions", "find_steps", "load_history", "regressions_section"]

STEP_COLUMNS = [
    "regression_id",
    "detected_at",
    "series_key",
    "kernel",
    "params",
    "dtype",
    "backend",
    "venue",
    "device",
    "kind",
    "start_run_id",
    "start_time",
    "before_run_id",
    "after_run_id",
    "before_s",
    "after_s",
    "ratio",
    "ratio_ci_low",
    "ratio_ci_high",
    "extra",
]
_SQL_HINT = re.compile(r"[=<>]|\b(like|ilike|in|and|or|not|is|between)\b", re.IGNORECASE)

_HISTORY_SQL = """
SELECT m.result_id, m.run_id, r.created_at AS run_time, r.tag, r.git_commit,
       m.kernel, m.params, m.dtype, m.backend, m.venue, m.device, m.config_key,
       m.median_s, m.ci_low_s, m.ci_high_s, m.n_samples, m.created_at
FROM measurements m JOIN runs r USING (run_id)
WHERE m.status = 'ok' AND m.median_s > 0
"""


def _series_key(df: pd.DataFrame) -> pd.Series:
    parts = [
        df[c].astype("string").fillna("-") for c in ("config_key", "backend", "venue", "device")
    ]
    key = parts[0]
    for p in parts[1:]:
        key = key + "|" + p
    return key.astype(str)


def load_history(
    store: Store | str | os.PathLike[str] | None = None, *, series_filter: str | None = None
) -> pd.DataFrame:
    """Every series' points, oldest run first.

    Parameters
    ----------
    store : Store or path, optional
        The results database.
    series_filter : str, optional
        Either a case-insensitive substring of ``kernel backend venue device dtype`` (e.g.
        ``"matmul"``, ``"webgpu"``) or, if it looks like SQL (has ``=``, ``<``, ``LIKE``,
        ``IN`` ...), a condition on the ``results`` view, e.g.
        ``"kernel = 'matmul' AND backend IN ('cpu', 'wgpu')"``.

    Returns
    -------
    pandas.DataFrame
        ``series_key, result_id, run_id, run_time, tag, git_commit, kernel, params, dtype,
        backend, venue, device, config_key, median_s, ci_low_s, ci_high_s, n_samples``.
    """
    st = open_store(store)
    sql = _HISTORY_SQL
    if series_filter and _SQL_HINT.search(series_filter):
        sql += f" AND m.result_id IN (SELECT result_id FROM results WHERE {series_filter})"
    df = st.query(sql)
    if df.empty:
        return df.assign(series_key=pd.Series(dtype=str))
    if series_filter and not _SQL_HINT.search(series_filter):
        text = (
            df["kernel"].astype(str)
            + " "
            + df["backend"].astype(str)
            + " "
            + df["venue"].astype(str)
            + " "
            + df["device"].astype(str)
            + " "
            + df["dtype"].astype(str)
        ).str.lower()
        df = df[text.str.contains(series_filter.lower(), regex=False)]
    df = df.assign(series_key=_series_key(df))
    df = (
        df.sort_values(["run_time", "created_at"])
        .groupby(["series_key", "run_id"], sort=False)
        .tail(1)
        .sort_values(["series_key", "run_time"])
        .reset_index(drop=True)
    )
    return df


def find_steps(
    history: pd.DataFrame,
    *,
    threshold: float = 0.02,
    gamma: float = DEFAULT_GAMMA,
    min_size: int = DEFAULT_MIN_SIZE,
    level: float = 0.99,
) -> pd.DataFrame:
    """Steps in every series of a history frame (from :func:`load_history`, or synthetic).

    The frame needs ``series_key, run_id, median_s`` and, optionally, ``run_time`` (or
    ``created_at``), ``ci_low_s, ci_high_s`` and the configuration columns. Rows must be in
    time order within each series. Returns rows shaped like the ``regressions`` table.
    """
    rows: list[dict[str, Any]] = []
    if history.empty:
        return pd.DataFrame(columns=STEP_COLUMNS)
    tcol = "run_time" if "run_time" in history else "created_at"
    detected = datetime.now(timezone.utc)
    for key, g in history.groupby("series_key", sort=False):
        g = g.reset_index(drop=True)
        has_ci = {"ci_low_s", "ci_high_s"} <= set(g.columns)
        steps = detect_steps(
            g["median_s"].to_numpy(dtype=float),
            ci_low=g["ci_low_s"].to_numpy(dtype=float) if has_ci else None,
            ci_high=g["ci_high_s"].to_numpy(dtype=float) if has_ci else None,
            threshold=threshold,
            gamma=gamma,
            min_size=min_size,
            level=level,
        )
        first = g.iloc[0]
        for s in steps:
            start, before = g.iloc[s.index], g.iloc[s.index - 1]
            params = first.get("params")
            rows.append(
                {
                    "regression_id": hashlib.sha1(f"{key}|{start['run_id']}".encode()).hexdigest()[
                        :16
                    ],
                    "detected_at": detected,
                    "series_key": str(key),
                    "kernel": first.get("kernel"),
                    "params": params
                    if isinstance(params, str) or params is None
                    else to_json(params),
                    "dtype": first.get("dtype"),
                    "backend": first.get("backend"),
                    "venue": first.get("venue"),
                    "device": first.get("device"),
                    "kind": s.kind,
                    "start_run_id": start["run_id"],
                    "start_time": start.get(tcol),
                    "before_run_id": before["run_id"],
                    "after_run_id": start["run_id"],
                    "before_s": s.before,
                    "after_s": s.after,
                    "ratio": s.ratio,
                    "ratio_ci_low": s.ci_low,
                    "ratio_ci_high": s.ci_high,
                    "extra": to_json(
                        {
                            "config_key": first.get("config_key"),
                            "start_index": s.index,
                            "n_points": len(g),
                            "n_before": s.n_before,
                            "n_after": s.n_after,
                            "noise": s.noise,
                            "level": s.level,
                            "threshold": threshold,
                            "gamma": gamma,
                            "min_size": min_size,
                            "before_commit": before.get("git_commit"),
                            "after_commit": start.get("git_commit"),
                            "before_tag": before.get("tag"),
                            "after_tag": start.get("tag"),
                        }
                    ),
                }
            )
    df = pd.DataFrame(rows, columns=STEP_COLUMNS)
    if not df.empty:
        df = df.sort_values(["kind", "ratio"], ascending=[False, False]).reset_index(drop=True)
    return df


def _save(store: Store, series: list[str], steps: pd.DataFrame) -> None:
    with store.connect() as con:
        con.execute("BEGIN TRANSACTION")
        if series:
            con.register("_series", pd.DataFrame({"series_key": series}))
            con.execute(
                "DELETE FROM regressions WHERE series_key IN (SELECT series_key FROM _series)"
            )
            con.unregister("_series")
        if not steps.empty:
            con.register("_steps", steps[STEP_COLUMNS])
            cols = ", ".join(STEP_COLUMNS)
            con.execute(f"INSERT OR REPLACE INTO regressions ({cols}) SELECT {cols} FROM _steps")
            con.unregister("_steps")
        con.execute("COMMIT")


def detect_regressions(
    store: Store | str | os.PathLike[str] | None = None,
    *,
    series_filter: str | None = None,
    threshold: float = 0.02,
    gamma: float = DEFAULT_GAMMA,
    min_size: int = DEFAULT_MIN_SIZE,
    level: float = 0.99,
    save: bool = True,
) -> pd.DataFrame:
    """Find steps in the history of every configuration and store them.

    Parameters
    ----------
    store : Store or path, optional
        The results database.
    series_filter : str, optional
        Substring or SQL condition (see :func:`load_history`).
    threshold : float
        Smallest relative step reported (0.02 = 2 %); steps must also exceed the noise.
    gamma, min_size, level
        Detector settings (see :func:`~accel_toolkit.analysis.detect_steps`).
    save : bool
        Replace the analysed series' rows of the ``regressions`` table with these.

    Returns
    -------
    pandas.DataFrame
        One row per step (regressions first, largest first), with the ``regressions``
        table's columns; ``extra`` (JSON) has the run counts on each side, the noise, and
        the git commits and tags either side of the step.
    """
    st = open_store(store)
    history = load_history(st, series_filter=series_filter)
    steps = find_steps(history, threshold=threshold, gamma=gamma, min_size=min_size, level=level)
    if save:
        _save(st, history["series_key"].unique().tolist() if not history.empty else [], steps)
    steps.attrs.update(
        n_series=int(history["series_key"].nunique()) if not history.empty else 0,
        n_points=len(history),
        threshold=threshold,
    )
    return steps


def regressions_section(
    store: Store | str | os.PathLike[str] | None = None,
    *,
    series_filter: str | None = None,
    threshold: float = 0.02,
    max_charts: int = 6,
    save: bool = True,
) -> tuple[pd.DataFrame, list[Any]]:
    """What an HTML report needs: the steps table and charts (overview + histories).

    Returns ``(steps, charts)``: ``steps`` has one row per step, readable columns first
    (``config, kind, change, ratio, ratio_ci_low, ratio_ci_high, before_s, after_s,
    start_time, before_run_id, start_run_id``; ``change`` is ``ratio - 1``), then ``device``
    and ``series_key`` (:func:`detect_regressions` gives every column);
    ``charts`` is a list of ``alt.Chart`` objects, first
    :func:`regression_chart` of every step, then :func:`history_chart_with_steps` of up to
    ``max_charts`` series with steps (regressions first). Both are empty when nothing was
    found (or the database is empty): check ``steps.attrs['n_series']``.
    """
    st = open_store(store)
    history = load_history(st, series_filter=series_filter)
    steps = find_steps(history, threshold=threshold)
    if save:
        _save(st, history["series_key"].unique().tolist() if not history.empty else [], steps)
    charts: list[Any] = []
    if not steps.empty:
        charts.append(regression_chart(steps))
        for key in list(dict.fromkeys(steps["series_key"]))[:max_charts]:
            charts.append(history_chart_with_steps(history, steps, series_key=key))
    table = steps.assign(config=describe_series(steps), change=steps["ratio"] - 1)[
        [
            "config",
            "kind",
            "change",
            "ratio",
            "ratio_ci_low",
            "ratio_ci_high",
            "before_s",
            "after_s",
            "start_time",
            "before_run_id",
            "start_run_id",
            "device",
            "series_key",
        ]
    ]
    table.attrs.update(
        n_series=int(history["series_key"].nunique()) if not history.empty else 0,
        n_points=len(history),
        threshold=threshold,
    )
    return table, charts
