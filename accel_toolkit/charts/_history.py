"""Charts over time and phases: history across runs, first run vs steady state."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import ConfigError
from ..kernels import config_key
from ._prep import check_frame, finite, prepare, tooltips
from ._theme import PALETTE

__all__ = ["first_run", "history"]

BROWSER_BACKENDS = ("webgpu", "webnn", "wgpu")


def _change_rows(change_points: Any, configs: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Normalise change points to ``config, run_index, label, kind`` rows.

    A change point starts at run ``start_run_id``/``run_id`` when given, else at the last
    run that started at or before its ``time``/``start_time``; the rule is drawn just
    before that run.
    """
    cols = ["config", "run_index", "label", "kind"]
    if change_points is None:
        return pd.DataFrame(columns=cols)
    if isinstance(change_points, pd.DataFrame):
        records = change_points.to_dict("records")
    elif isinstance(change_points, Mapping):
        records = [dict(change_points)]
    elif isinstance(change_points, Iterable) and not isinstance(change_points, str):
        records = [dict(c) if isinstance(c, Mapping) else {"time": c} for c in change_points]
    else:
        raise ConfigError(
            "change_points must be a DataFrame, a list of dicts or a list of "
            "times (e.g. the rows of the regressions table)."
        )
    by_key = dict(zip(configs["config_key"], configs["config"], strict=True))
    only = configs["config"].iloc[0] if len(configs) == 1 else None
    index_of = dict(zip(runs["run_id"], runs["run_index"], strict=True))
    times = pd.to_datetime(runs["time"], utc=True)
    rows = []
    for c in records:
        run = c.get("start_run_id", c.get("run_id"))
        t = c.get("time", c.get("start_time"))
        if run in index_of:
            idx = index_of[run]
        elif t is not None and not (isinstance(t, float) and t != t):
            ts = pd.Timestamp(t)
            ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts
            upto = runs["run_index"][times <= ts]
            if upto.empty:
                continue
            idx = int(upto.max())
        else:
            raise ConfigError(f"A change point needs 'start_run_id' or 'time', got {c!r}.")
        key = c.get("config_key")
        if key is None and c.get("kernel") is not None and c.get("dtype") is not None:
            params = c.get("params")
            params = json.loads(params) if isinstance(params, str) else dict(params or {})
            key = config_key(c["kernel"], params, c["dtype"])
        cfg = by_key.get(key) if key is not None else only
        if cfg is None:
            continue  # a change point of a configuration not drawn here
        kind = c.get("kind") or "change"
        ratio = c.get("ratio")
        label = f"{kind} ×{float(ratio):.3g}" if ratio is not None and ratio == ratio else str(kind)
        rows.append({"config": cfg, "run_index": idx - 0.5, "label": label, "kind": kind})
    return pd.DataFrame(rows, columns=cols)


def _run_label(tag: Any, time: Any) -> str:
    """A run on the x-axis: its tag, else when it started (UTC)."""
    if isinstance(tag, str) and tag:
        return tag
    stamp = pd.Timestamp(time)
    return "" if pd.isna(stamp) else f"{stamp:%m-%d %H:%M}"


def _levels(data: pd.DataFrame, steps: pd.DataFrame) -> pd.DataFrame:
    """The fitted level of every series: the median of its medians between change points.

    One row per point of ``data`` (``layer="level"``, ``level_s``); a series is one
    configuration on one backend, cut just before the run where each of its steps starts.
    """
    cuts = steps.groupby("config")["run_index"].apply(lambda r: sorted(set(r)))
    parts = []
    for (cfg, _), g in data.groupby(["config", "backend"], sort=False):
        g = g.sort_values("run_index", kind="stable")
        edges = [-np.inf, *cuts.get(cfg, []), np.inf]
        segment = pd.cut(g["run_index"], edges, labels=False)
        parts.append(
            g.assign(
                layer="level", label="", level_s=g.groupby(segment)["median_s"].transform("median")
            )
        )
    return pd.concat(parts, ignore_index=True)


def history(
    df: pd.DataFrame,
    *,
    change_points: pd.DataFrame | Sequence[Any] | None = None,
    config_keys: Sequence[str] | None = None,
    levels: bool = False,
    width: int = 360,
    height: int = 180,
    columns: int = 2,
) -> Any:
    """Median time of each configuration across runs, with its 99% CI band, per backend.

    Parameters
    ----------
    df : DataFrame
        Rows of the ``results`` view from several runs (``Store().results()``), or the
        points of :func:`~accel_toolkit.analysis.load_history` (the same columns).
    change_points : DataFrame or list, optional
        Steps to mark with a vertical rule before the run where they start: rows with
        ``start_run_id`` (or ``run_id``) or a ``time``/``start_time`` and, when several
        configurations are drawn, ``config_key`` or ``kernel``/``params``/``dtype`` (the
        regressions table has them all); ``kind`` and ``ratio`` label the rule, and an
        ``improvement`` is drawn in the improvement color.
    config_keys : list of str, optional
        Only these configurations (one panel each).
    levels : bool
        Also draw each series' fitted level (dashed): the median of its medians between
        consecutive change points.

    Returns
    -------
    altair.LayerChart or altair.FacetChart
    """
    import altair as alt

    need = (
        "kernel",
        "params",
        "backend",
        "median_s",
        "ci_low_s",
        "ci_high_s",
        "created_at",
        "config_key",
    )
    data = prepare(check_frame(df, need, "history"))
    data = data[finite(data["median_s"])]
    if "run_id" not in data.columns:
        raise ConfigError("history() needs the run_id column of the results view.")
    if config_keys is not None:
        data = data[data["config_key"].isin(list(config_keys))]
    if data.empty:
        raise ConfigError("history(): no successful measurements to draw (check config_keys).")
    runs = (
        data.groupby("run_id", as_index=False)["created_at"]
        .min()
        .sort_values("created_at", kind="stable")
        .rename(columns={"created_at": "time"})
    )
    runs["run_index"] = range(1, len(runs) + 1)
    has_tags = {"tag", "run_id"} <= set(df.columns)
    tags = df.groupby("run_id")["tag"].first() if has_tags else pd.Series(dtype=object)
    runs["run_label"] = [
        _run_label(tags.get(r), t) for r, t in zip(runs["run_id"], runs["time"], strict=True)
    ]
    data = data.merge(runs, on="run_id").assign(layer="series", label="")
    configs = data.drop_duplicates("config_key")[["config_key", "config"]]
    steps = _change_rows(change_points, configs, runs).assign(layer="change")
    parts = [data, steps] + ([_levels(data, steps)] if levels else [])
    combined = pd.concat(parts, ignore_index=True)
    labels = json.dumps(["", *runs["run_label"]])  # index -> tag, else start time
    x = alt.X(
        "run_index:Q",
        title="run (tag, or start time UTC; oldest first)",
        axis=alt.Axis(
            values=list(range(1, len(runs) + 1)),
            labelExpr=f"{labels}[datum.value] || datum.value",
            labelAngle=-30 if len(runs) > 4 else 0,
        ),
        scale=alt.Scale(domain=[0.5, len(runs) + 0.5], nice=False),
    )
    color = alt.Color("backend:N", title="backend")
    series = alt.Chart().transform_filter("datum.layer === 'series'")
    band = series.mark_area(opacity=0.2).encode(
        x=x,
        y=alt.Y(
            "ci_low_s:Q",
            title="median time per call (s)",
            axis=alt.Axis(format="~s"),
            scale=alt.Scale(zero=False),
        ),
        y2="ci_high_s:Q",
        color=color,
    )
    line = series.mark_line(point=True).encode(
        x=x,
        y="median_s:Q",
        color=color,
        tooltip=tooltips(
            alt.Tooltip("median_s:Q", title="median (s)", format=".3~s"),
            alt.Tooltip("ci_low_s:Q", title="CI low (s)", format=".3~s"),
            alt.Tooltip("ci_high_s:Q", title="CI high (s)", format=".3~s"),
            alt.Tooltip("run_id:N", title="run"),
            alt.Tooltip("time:N", title="run started"),
        ),
    )
    layers = [band, line]
    if levels:
        layers.append(
            alt.Chart()
            .transform_filter("datum.layer === 'level'")
            .mark_line(
                strokeDash=[4, 3],
                interpolate="step-after",
            )
            .encode(
                x=x,
                y="level_s:Q",
                color=color,
                detail="backend:N",
                tooltip=[alt.Tooltip("level_s:Q", title="fitted level (s)", format=".3~s")],
            )
        )
    if not steps.empty:
        layers.append(
            alt.Chart()
            .transform_filter("datum.layer === 'change'")
            .mark_rule(
                strokeDash=[4, 2],
                strokeWidth=2,
            )
            .encode(
                x=x,
                color=alt.condition(
                    "datum.kind === 'improvement'",
                    alt.value(PALETTE["improvement"]),
                    alt.value(PALETTE["regression"]),
                ),
                tooltip=[alt.Tooltip("label:N", title="change point")],
            )
        )
    chart = alt.layer(*layers, data=combined).properties(width=width, height=height)
    if data["config"].nunique() > 1:
        return chart.facet(facet=alt.Facet("config:N", title=None), columns=columns).resolve_scale(
            y="independent"
        )
    return chart.properties(title=f"History: {data['config'].iloc[0]}")


def first_run(
    df: pd.DataFrame,
    *,
    backends: Sequence[str] | None = None,
    width: int = 360,
    step: int = 18,
) -> Any:
    """First call (compile, pipeline build, allocation) against the steady-state median.

    One row per configuration, a dumbbell from the steady-state median to the first-run
    time, one panel per backend (log time axis).

    Parameters
    ----------
    backends : list of str, optional
        Which backends to show (default: all with a first-run time).

    Returns
    -------
    altair.LayerChart or altair.FacetChart
    """
    import altair as alt

    need = ("kernel", "params", "backend", "median_s", "first_run_s")
    data = prepare(check_frame(df, need, "first_run"))
    data = data[finite(data["median_s"]) & finite(data["first_run_s"])].copy()
    if backends is not None:
        data = data[data["backend"].isin(list(backends))]
    if data.empty:
        raise ConfigError(
            "first_run(): no successful measurements with a first-run time "
            f"{'on ' + ', '.join(backends) if backends else ''} to draw."
        )
    data["first_over_steady"] = data["first_run_s"] / data["median_s"]
    y = alt.Y("config:N", title=None, sort=None)
    xs = alt.Scale(type="log")
    tips = tooltips(
        alt.Tooltip("first_run_s:Q", title="first run (s)", format=".3~s"),
        alt.Tooltip("median_s:Q", title="steady median (s)", format=".3~s"),
        alt.Tooltip("first_over_steady:Q", title="first / steady", format=".3~g"),
    )
    rule = (
        alt.Chart()
        .mark_rule(color=PALETTE["neutral"])
        .encode(
            x=alt.X("median_s:Q", scale=xs, title="seconds per call", axis=alt.Axis(format="~s")),
            x2="first_run_s:Q",
            y=y,
            tooltip=tips,
        )
    )
    dots = (
        alt.Chart()
        .transform_fold(
            ["first_run_s", "median_s"],
            as_=["phase_field", "seconds"],
        )
        .transform_calculate(
            phase="datum.phase_field === 'first_run_s' ? 'first run' : 'steady-state median'",
        )
        .mark_point(filled=True, size=70)
        .encode(
            x=alt.X("seconds:Q", scale=xs),
            y=y,
            color=alt.Color(
                "phase:N",
                title=None,
                scale=alt.Scale(
                    domain=["first run", "steady-state median"],
                    range=[PALETTE["first-run"], PALETTE["series"]],
                ),
            ),
            tooltip=tips,
        )
    )
    n = data.groupby("backend")["config"].nunique().max()
    chart = alt.layer(rule, dots, data=data).properties(width=width, height=step * int(n))
    if data["backend"].nunique() > 1:
        return chart.facet(row=alt.Row("backend:N", title=None)).resolve_scale(y="independent")
    return chart.properties(title=f"First run vs steady state: {data['backend'].iloc[0]}")
