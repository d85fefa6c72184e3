"""Charts of comparisons between runs and of steps over history (returned, never shown)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import ConfigError
from ._history import history as history_chart
from ._prep import describe_series
from ._theme import KIND_COLORS, PALETTE, VERDICT_COLORS

__all__ = ["compare_chart", "history_chart_with_steps", "regression_chart"]


def _label(df: pd.DataFrame) -> pd.Series:
    lab = describe_series(df)
    if "device" in df and df["device"].nunique(dropna=True) > 1:
        lab = lab + " @ " + df["device"].astype(str)
    return lab


def _ratio_axis(title: str) -> Any:
    import altair as alt

    return alt.X("ratio:Q", title=title, scale=alt.Scale(type="log", zero=False))


def _one_rule() -> Any:
    """The vertical rule at a ratio of 1 (no change)."""
    import altair as alt

    return (
        alt.Chart(pd.DataFrame({"x": [1.0]})).mark_rule(color=PALETTE["reference"]).encode(x="x:Q")
    )


def _ratio_marks(
    d: pd.DataFrame, y: Any, color: Any, title: str, tooltip: list[Any]
) -> tuple[Any, Any]:
    """The CI bar and the point of each row's ratio, on a log axis."""
    import altair as alt

    bars = (
        alt.Chart(d)
        .mark_rule(strokeWidth=2)
        .encode(
            x=alt.X("ratio_ci_low:Q", scale=alt.Scale(type="log", zero=False)),
            x2="ratio_ci_high:Q",
            y=y,
            color=color,
        )
    )
    pts = (
        alt.Chart(d)
        .mark_point(filled=True, size=60)
        .encode(x=_ratio_axis(title), y=y, color=color, tooltip=tooltip)
    )
    return bars, pts


def _sorted_y(field: str) -> Any:
    import altair as alt

    return alt.Y(
        f"{field}:N",
        sort=alt.EncodingSortField("ratio", order="descending"),
        title=None,
        axis=alt.Axis(labelLimit=420),
    )


def compare_chart(df: pd.DataFrame, *, threshold: float | None = None) -> Any:
    """Ratio candidate/baseline per configuration with its CI, coloured by verdict.

    ``df`` is the frame of :func:`~accel_toolkit.analysis.compare`. The grey band is
    ``[1/(1+threshold), 1+threshold]`` (``threshold`` from ``df.attrs`` by default); right
    of 1 is slower.
    """
    import altair as alt

    d = df[np.isfinite(df["ratio"].astype(float))].copy()
    if d.empty:
        raise ConfigError("Nothing to draw: no configuration was measured on both sides.")
    t = float(threshold if threshold is not None else df.attrs.get("threshold", 0.05))
    d["config"] = _label(d)
    d["p_value"] = d["p_value"].astype(float)
    base, cand = df.attrs.get("baseline", "baseline"), df.attrs.get("candidate", "candidate")
    band = (
        alt.Chart(pd.DataFrame({"lo": [1 / (1 + t)], "hi": [1 + t]}))
        .mark_rect(color=PALETTE["band"])
        .encode(x="lo:Q", x2="hi:Q")
    )
    tip = [
        "config",
        "verdict",
        alt.Tooltip("ratio:Q", format=".3f"),
        alt.Tooltip("ratio_ci_low:Q", format=".3f"),
        alt.Tooltip("ratio_ci_high:Q", format=".3f"),
        alt.Tooltip("p_value:Q", format=".2g"),
        "test",
        alt.Tooltip("baseline_median_s:Q", format=".3g"),
        alt.Tooltip("candidate_median_s:Q", format=".3g"),
    ]
    color = alt.Color(
        "verdict:N",
        scale=alt.Scale(domain=list(VERDICT_COLORS), range=list(VERDICT_COLORS.values())),
    )
    bars, pts = _ratio_marks(
        d, _sorted_y("config"), color, f"{cand} / {base} (median time; > 1 is slower)", tip
    )
    return (band + _one_rule() + bars + pts).properties(
        title=f"{cand} vs {base}: ratio of medians with {df.attrs.get('level', 0.99):.0%} CI",
        width=480,
        height=alt.Step(18),
    )


def regression_chart(steps: pd.DataFrame) -> Any:
    """Every detected step: its ratio (after/before) with CI, coloured by kind.

    ``steps`` is the frame of :func:`~accel_toolkit.analysis.detect_regressions`.
    """
    import altair as alt

    if steps.empty:
        raise ConfigError("Nothing to draw: no steps were detected.")
    d = steps.copy()
    d["config"] = _label(d)
    d["label"] = d["config"] + " @ " + d["start_run_id"].astype(str).str[:8]
    d["start_time"] = pd.to_datetime(d["start_time"], utc=True).dt.strftime("%Y-%m-%d %H:%M")
    color = alt.Color(
        "kind:N", scale=alt.Scale(domain=list(KIND_COLORS), range=list(KIND_COLORS.values()))
    )
    tip = [
        "config",
        "kind",
        "start_run_id",
        "start_time",
        "before_run_id",
        alt.Tooltip("ratio:Q", format=".3f"),
        alt.Tooltip("ratio_ci_low:Q", format=".3f"),
        alt.Tooltip("ratio_ci_high:Q", format=".3f"),
    ]
    bars, pts = _ratio_marks(
        d, _sorted_y("label"), color, "after / before (median time; > 1 is a regression)", tip
    )
    return (_one_rule() + bars + pts).properties(
        title="Steps in the history of each configuration", width=480, height=alt.Step(18)
    )


def history_chart_with_steps(
    history: pd.DataFrame, steps: pd.DataFrame | None = None, *, series_key: str | None = None
) -> Any:
    """One series' medians across runs with their CIs, its fitted levels and its steps.

    The frames of the regression analysis drawn by
    :func:`~accel_toolkit.charts.history` (``levels=True``):
    ``history`` is from :func:`~accel_toolkit.analysis.load_history` (or
    :func:`~accel_toolkit.analysis.synthetic_history`, whose series stand in for the
    configuration), ``steps`` from :func:`~accel_toolkit.analysis.detect_regressions`.
    Steps are rules just before the first run of the new level.

    Parameters
    ----------
    series_key : str, optional
        Which series to draw; needed when ``history`` holds several.
    """
    keys = history["series_key"].unique().tolist() if not history.empty else []
    if series_key is None:
        if len(keys) != 1:
            raise ConfigError(f"history has {len(keys)} series; pass series_key= one of them.")
        series_key = keys[0]
    g = history[history["series_key"] == series_key].copy()
    if g.empty:
        raise ConfigError(f"No series {series_key!r} in the history.")
    # a synthetic series names no configuration: it stands in for one
    for col, value in (
        ("kernel", series_key),
        ("params", ""),
        ("backend", ""),
        ("config_key", series_key),
    ):
        if col not in g.columns:
            g[col] = value
    s = None
    if steps is not None and not steps.empty:
        s = steps[steps["series_key"] == series_key].assign(config_key=g["config_key"].iloc[0])
    return history_chart(g, change_points=s, levels=True, width=560, height=220)
