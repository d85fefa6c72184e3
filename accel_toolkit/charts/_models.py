"""Charts of whole-model results: where a forward's time goes, and backends side by side."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..exceptions import ConfigError
from ._prep import check_frame, finite, params_label
from ._theme import PALETTE

__all__ = ["model_backends", "op_breakdown"]


def _label(df: pd.DataFrame) -> pd.Series:
    return df["backend"].astype(str) + " · " + df["params"].map(params_label)


def op_breakdown(
    breakdown: pd.DataFrame, results: pd.DataFrame, *, width: int = 420, step: int = 22
) -> Any:
    """Stacked bars of one forward's time per op, one bar per backend and shape.

    Each bar is one forward split into its ops' shares (so a 5 ms and a 5 s forward are
    both readable); its label carries the forward's total milliseconds.

    Parameters
    ----------
    breakdown : pandas.DataFrame
        ``op_breakdown`` rows (``result_id, op, calls, seconds, share, timer``).
    results : pandas.DataFrame
        The ``results`` rows they split (``result_id, kernel, backend, params``).
    width, step : int
        Plot width, and height per bar.

    Returns
    -------
    altair.Chart or altair.FacetChart
        One panel per model; a bar whose only op is ``graph`` was timed as a whole.
    """
    import altair as alt

    ops = check_frame(
        breakdown, ("result_id", "op", "calls", "seconds", "share", "timer"), "op_breakdown"
    )
    rows = check_frame(results, ("result_id", "kernel", "backend", "params"), "op_breakdown")
    data = ops.merge(rows[["result_id", "kernel", "backend", "params"]], on="result_id")
    data = data[finite(data["seconds"])].copy()
    if data.empty:
        raise ConfigError(
            "op_breakdown(): no per-op rows matching these results; run "
            "`accel-toolkit bench --models minilm-l6` to record some."
        )
    data["model"] = data["kernel"].astype(str).str.removeprefix("model:")
    data["ms"] = data["seconds"] * 1e3
    total = data.groupby("result_id")["ms"].transform("sum")
    data["run"] = _label(data) + " (" + total.map(lambda v: f"{v:.4g}") + " ms)"
    data["part"] = data["ms"] / total
    order = data.groupby("op")["share"].sum().sort_values(ascending=False).index.tolist()
    chart = (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X(
                "part:Q",
                stack="zero",
                title="share of one forward's time",
                axis=alt.Axis(format="%"),
            ),
            y=alt.Y("run:N", title=None, sort=None),
            color=alt.Color("op:N", title="op", sort=order),
            order=alt.Order("seconds:Q", sort="descending"),
            tooltip=[
                alt.Tooltip("run:N", title="backend · shape"),
                alt.Tooltip("op:N"),
                alt.Tooltip("calls:Q"),
                alt.Tooltip("ms:Q", format=".4~g"),
                alt.Tooltip("share:Q", format=".1%"),
                alt.Tooltip("timer:N"),
            ],
        )
    )
    n = int(data.groupby("model")["run"].nunique().max())
    chart = chart.properties(width=width, height=step * n)
    if data["model"].nunique() > 1:
        return chart.facet(row=alt.Row("model:N", title=None)).resolve_scale(y="independent")
    return chart.properties(title=f"Where the time goes: {data['model'].iloc[0]}")


def model_backends(results: pd.DataFrame, *, width: int = 420, step: int = 22) -> Any:
    """Median time per forward of each backend (dot) with its 99% CI (rule), per model and shape.

    Parameters
    ----------
    results : pandas.DataFrame
        ``results`` rows of models (``kernel`` starting ``model:``); only ``ok`` rows drawn.

    Returns
    -------
    altair.LayerChart or altair.FacetChart
    """
    import altair as alt

    need = ("kernel", "backend", "params", "status", "median_s", "ci_low_s", "ci_high_s")
    data = check_frame(results, need, "model_backends")
    data = data[(data["status"] == "ok") & finite(data["median_s"])].copy()
    if data.empty:
        raise ConfigError("model_backends(): no successful model rows to draw.")
    data["model"] = data["kernel"].astype(str).str.removeprefix("model:")
    data["shape"] = data["params"].map(params_label)
    for c in ("median_s", "ci_low_s", "ci_high_s", "first_run_s"):
        if c in data:
            data[c.replace("_s", "_ms")] = data[c].astype(float) * 1e3
    best = data.groupby(["model", "shape"])["median_s"].transform("min")
    data["x_of_fastest"] = data["median_s"] / best
    y = alt.Y("backend:N", title=None, sort=alt.EncodingSortField("median_s", order="ascending"))
    xs = alt.Scale(type="log")
    tips = [
        alt.Tooltip("backend:N"),
        alt.Tooltip("shape:N"),
        alt.Tooltip("median_ms:Q", title="median (ms)", format=".4~g"),
        alt.Tooltip("ci_low_ms:Q", title="CI low (ms)", format=".4~g"),
        alt.Tooltip("ci_high_ms:Q", title="CI high (ms)", format=".4~g"),
        alt.Tooltip("x_of_fastest:Q", title="x of the fastest", format=".3~g"),
    ]
    if "first_run_ms" in data:
        tips.append(alt.Tooltip("first_run_ms:Q", title="first run (ms)", format=".4~g"))
    bars = (
        alt.Chart()
        .mark_point(filled=True, size=80, color=PALETTE["series"])
        .encode(
            x=alt.X(
                "median_ms:Q",
                scale=xs,
                title="milliseconds per forward (median)",
                axis=alt.Axis(labelOverlap="greedy", format="~s"),
            ),
            y=y,
            tooltip=tips,
        )
    )
    ci = (
        alt.Chart()
        .mark_rule(color=PALETTE["ink"])
        .encode(x="ci_low_ms:Q", x2="ci_high_ms:Q", y=y, tooltip=tips)
    )
    n = int(data.groupby(["model", "shape"])["backend"].nunique().max())
    chart = alt.layer(bars, ci, data=data).properties(width=width, height=step * n)
    if data[["model", "shape"]].drop_duplicates().shape[0] > 1:
        return chart.facet(
            row=alt.Row("model:N", title=None), column=alt.Column("shape:N", title=None)
        ).resolve_scale(y="independent")
    return chart.properties(title=f"Backends: {data['model'].iloc[0]}, {data['shape'].iloc[0]}")
