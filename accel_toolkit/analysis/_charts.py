"""Altair charts of comparisons and regressions (returned, never shown)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import ConfigError

__all__ = ["compare_chart", "history_chart_with_steps", "regression_chart"]

VERDICT_COLORS = {"slower": "#cf222e", "faster": "#1a7f37", "same": "#8c959f",
                  "ambiguous": "#bf8700", "missing": "#d0d7de"}
KIND_COLORS = {"regression": "#cf222e", "improvement": "#1a7f37"}


def _label(df: pd.DataFrame) -> pd.Series:
    from ._regressions import describe_series

    lab = describe_series(df)
    if "device" in df and df["device"].nunique(dropna=True) > 1:
        lab = lab + " @ " + df["device"].astype(str)
    return lab


def _ratio_axis(title: str) -> Any:
    import altair as alt

    return alt.X("ratio:Q", title=title, scale=alt.Scale(type="log", zero=False))


def compare_chart(df: pd.DataFrame, *, threshold: float | None = None) -> Any:
    """Ratio candidate/baseline per configuration with its CI, coloured by verdict.

    The grey band is ``[1/(1+threshold), 1+threshold]`` (``threshold`` from ``df.attrs`` by
    default); right of 1 is slower.
    """
    import altair as alt

    d = df[np.isfinite(df["ratio"].astype(float))].copy()
    if d.empty:
        raise ConfigError("Nothing to draw: no configuration was measured on both sides.")
    t = float(threshold if threshold is not None else df.attrs.get("threshold", 0.05))
    d["config"] = _label(d)
    d["p_value"] = d["p_value"].astype(float)
    base, cand = df.attrs.get("baseline", "baseline"), df.attrs.get("candidate", "candidate")
    y = alt.Y("config:N", sort=alt.EncodingSortField("ratio", order="descending"), title=None,
              axis=alt.Axis(labelLimit=420))
    band = alt.Chart(pd.DataFrame({"lo": [1 / (1 + t)], "hi": [1 + t]})).mark_rect(
        color="#eaeef2").encode(x="lo:Q", x2="hi:Q")
    one = alt.Chart(pd.DataFrame({"x": [1.0]})).mark_rule(color="#57606a").encode(x="x:Q")
    tip = ["config", "verdict", alt.Tooltip("ratio:Q", format=".3f"),
           alt.Tooltip("ratio_ci_low:Q", format=".3f"), alt.Tooltip("ratio_ci_high:Q", format=".3f"),
           alt.Tooltip("p_value:Q", format=".2g"), "test",
           alt.Tooltip("baseline_median_s:Q", format=".3g"),
           alt.Tooltip("candidate_median_s:Q", format=".3g")]
    color = alt.Color("verdict:N", scale=alt.Scale(domain=list(VERDICT_COLORS),
                                                   range=list(VERDICT_COLORS.values())))
    bars = alt.Chart(d).mark_rule(strokeWidth=2).encode(
        x=alt.X("ratio_ci_low:Q", scale=alt.Scale(type="log", zero=False)), x2="ratio_ci_high:Q",
        y=y, color=color)
    pts = alt.Chart(d).mark_point(filled=True, size=60).encode(
        x=_ratio_axis(f"{cand} / {base} (median time; > 1 is slower)"), y=y, color=color,
        tooltip=tip)
    return (band + one + bars + pts).properties(
        title=f"{cand} vs {base}: ratio of medians with {df.attrs.get('level', 0.99):.0%} CI",
        width=480, height=alt.Step(18))


def regression_chart(steps: pd.DataFrame) -> Any:
    """Every detected step: its ratio (after/before) with CI, coloured by kind."""
    import altair as alt

    if steps.empty:
        raise ConfigError("Nothing to draw: no steps were detected.")
    d = steps.copy()
    d["config"] = _label(d)
    d["label"] = d["config"] + " @ " + d["start_run_id"].astype(str).str[:8]
    d["start_time"] = pd.to_datetime(d["start_time"], utc=True).dt.strftime("%Y-%m-%d %H:%M")
    color = alt.Color("kind:N", scale=alt.Scale(domain=list(KIND_COLORS),
                                                range=list(KIND_COLORS.values())))
    y = alt.Y("label:N", sort=alt.EncodingSortField("ratio", order="descending"), title=None,
              axis=alt.Axis(labelLimit=420))
    one = alt.Chart(pd.DataFrame({"x": [1.0]})).mark_rule(color="#57606a").encode(x="x:Q")
    bars = alt.Chart(d).mark_rule(strokeWidth=2).encode(
        x=alt.X("ratio_ci_low:Q", scale=alt.Scale(type="log", zero=False)), x2="ratio_ci_high:Q",
        y=y, color=color)
    pts = alt.Chart(d).mark_point(filled=True, size=60).encode(
        x=_ratio_axis("after / before (median time; > 1 is a regression)"), y=y, color=color,
        tooltip=["config", "kind", "start_run_id", "start_time", "before_run_id",
                 alt.Tooltip("ratio:Q", format=".3f"), alt.Tooltip("ratio_ci_low:Q", format=".3f"),
                 alt.Tooltip("ratio_ci_high:Q", format=".3f")])
    return (one + bars + pts).properties(title="Steps in the history of each configuration",
                                         width=480, height=alt.Step(18))


def history_chart_with_steps(history: pd.DataFrame, steps: pd.DataFrame | None = None, *,
                             series_key: str | None = None) -> Any:
    """One configuration's medians across runs (with CIs), its fitted levels and its steps.

    ``history`` is from :func:`~accel_toolkit.analysis.load_history` (or a synthetic history:
    ``created_at`` is used when ``run_time`` is missing); ``steps`` from
    :func:`~accel_toolkit.analysis.detect_regressions`. Steps are vertical rules at the first
    run of the new level (red: regression, green: improvement); the dashed line is the
    median of each level.
    """
    import altair as alt

    keys = history["series_key"].unique().tolist() if not history.empty else []
    if series_key is None:
        if len(keys) != 1:
            raise ConfigError(f"history has {len(keys)} series; pass series_key= one of them.")
        series_key = keys[0]
    g = history[history["series_key"] == series_key].copy()
    if g.empty:
        raise ConfigError(f"No series {series_key!r} in the history.")
    tcol = "run_time" if "run_time" in g else "created_at"
    g["time"] = pd.to_datetime(g[tcol], utc=True)
    g = g.sort_values("time").reset_index(drop=True)
    s = (steps[steps["series_key"] == series_key].copy() if steps is not None and not steps.empty
         else pd.DataFrame(columns=["start_run_id", "kind", "ratio"]))
    # fitted levels: median between consecutive steps
    starts = sorted(g.index[g["run_id"].isin(s["start_run_id"])].tolist())
    bounds = [0, *starts, len(g)]
    g["level_s"] = np.nan
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        g.loc[a:b - 1, "level_s"] = g.loc[a:b - 1, "median_s"].median()
    if not s.empty:
        s = s.merge(g[["run_id", "time"]], left_on="start_run_id", right_on="run_id", how="left")
        s["time"] = s["time"].dt.strftime("%Y-%m-%dT%H:%M:%S%z")
        s["change"] = s["ratio"].map(lambda r: f"{(r - 1) * 100:+.1f}%")
    g["time"] = g["time"].dt.strftime("%Y-%m-%dT%H:%M:%S%z")
    title = series_key
    first = g.iloc[0]
    if "kernel" in g:
        p = first.get("params")
        p = json.loads(p) if isinstance(p, str) else (p or {})
        args = ",".join(f"{k}={v}" for k, v in p.items())
        title = f"{first['kernel']}({args}) {first.get('dtype')} on {first.get('backend')}/{first.get('venue')}"
    x = alt.X("time:T", title="run start", axis=alt.Axis(format="%m-%d %H:%M", labelAngle=-30))
    yscale = alt.Scale(type="log", zero=False)
    layers = []
    if {"ci_low_s", "ci_high_s"} <= set(g.columns):
        layers.append(alt.Chart(g).mark_area(opacity=0.25, color="#54aeff").encode(
            x=x, y=alt.Y("ci_low_s:Q", scale=yscale), y2="ci_high_s:Q"))
    tip = ["run_id", alt.Tooltip("median_s:Q", format=".4g")]
    if "tag" in g:
        tip.append("tag")
    if "git_commit" in g:
        tip.append("git_commit")
    layers.append(alt.Chart(g).mark_line(point=True, color="#0969da").encode(
        x=x, y=alt.Y("median_s:Q", title="median time (s)", scale=yscale), tooltip=tip))
    layers.append(alt.Chart(g).mark_line(strokeDash=[4, 3], color="#24292f", interpolate="step-after")
                  .encode(x=x, y=alt.Y("level_s:Q", scale=yscale)))
    if not s.empty:
        layers.append(alt.Chart(s).mark_rule(strokeWidth=2).encode(
            x="time:T",
            color=alt.Color("kind:N", scale=alt.Scale(domain=list(KIND_COLORS),
                                                      range=list(KIND_COLORS.values()))),
            tooltip=["kind", "change", "start_run_id", "before_run_id",
                     alt.Tooltip("ratio_ci_low:Q", format=".3f"),
                     alt.Tooltip("ratio_ci_high:Q", format=".3f")]))
    return alt.layer(*layers).properties(title=title, width=560, height=220)
