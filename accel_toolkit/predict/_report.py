"""Charts and a report section for the speed predictor (for notebooks and the HTML report)."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..exceptions import PredictionError

__all__ = ["PredictionsSection", "predicted_vs_measured_chart", "predictions_section"]


def predicted_vs_measured_chart(predictions: pd.DataFrame, *, title: str | None = None) -> Any:
    """Log-log chart of predicted vs measured latency, one rule per prediction interval.

    ``predictions`` has ``measured_s, pred_s, low_s, high_s`` (e.g. the second frame of
    ``evaluate(..., return_predictions=True)``) and optionally ``split`` and ``kernel``.
    """
    import altair as alt

    df = predictions.copy()
    if "split" not in df:
        df["split"] = "held-out"
    if "kernel" not in df:
        df["kernel"] = ""
    df["params"] = df["params"].astype(str) if "params" in df else ""
    df["inside"] = (df["measured_s"] >= df["low_s"]) & (df["measured_s"] <= df["high_s"])
    for col in ("measured", "pred", "low", "high"):  # the report's unit: microseconds
        df[f"{col}_us"] = df[f"{col}_s"] * 1e6
    lo = float(min(df["measured_us"].min(), df["low_us"].min()))
    hi = float(max(df["measured_us"].max(), df["high_us"].max()))
    log = alt.Scale(type="log", domain=[lo, hi])
    us = alt.Axis(format="~g")
    base = alt.Chart(df).encode(x=alt.X("measured_us:Q", scale=log, axis=us, title="measured (µs)"))
    rules = base.mark_rule(opacity=0.35).encode(
        y=alt.Y("low_us:Q", scale=log, axis=us, title="predicted (µs), with interval"),
        y2="high_us:Q",
        color=alt.Color("kernel:N"),
    )
    points = base.mark_point(filled=True, size=30).encode(
        y=alt.Y("pred_us:Q", scale=log),
        color=alt.Color("kernel:N"),
        shape=alt.Shape("inside:N", title="measured inside interval"),
        tooltip=[
            "kernel",
            "split",
            "params",
            *(
                alt.Tooltip(f"{c}_us:Q", title=f"{c} (µs)", format=".3~g")
                for c in ("measured", "pred", "low", "high")
            ),
        ],
    )
    diag = (
        alt.Chart(pd.DataFrame({"x": [lo, hi]}))
        .mark_line(color="gray", strokeDash=[4, 4])
        .encode(x=alt.X("x:Q", scale=log), y=alt.Y("x:Q", scale=log))
    )
    chart = (rules + points + diag).properties(width=320, height=320)
    if df["split"].nunique() > 1:
        chart = chart.facet(column=alt.Column("split:N", title=None))
    return chart.properties(title=title or "predicted vs measured (held-out configurations)")


@dataclass
class PredictionsSection:
    """What the report shows about the predictor.

    Attributes
    ----------
    title : str
    summary : str
        One paragraph of plain text (what was held out, headline scores, or what to run first).
    tables : dict of str -> DataFrame
        ``"evaluation"`` (per split and kernel), ``"noise"`` (repeat-measurement spread).
    charts : dict of str -> altair.Chart
        ``"predicted_vs_measured"``.
    ok : bool
        False when the store held too little data (``summary`` says what to run).
    """

    title: str
    summary: str
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    charts: dict[str, Any] = field(default_factory=dict)
    ok: bool = True

    def _repr_html_(self) -> str:
        parts = [f"<h3>{html.escape(self.title)}</h3>", f"<p>{html.escape(self.summary)}</p>"]
        for name, t in self.tables.items():
            parts.append(
                f"<h4>{html.escape(name)}</h4>" + t.to_html(index=False, float_format="%.3f")
            )
        return "".join(parts)


def predictions_section(
    store: Any,
    *,
    kernels: Sequence[str] | None = None,
    backends: Sequence[str] | None = None,
    tag: str | None = None,
    model_params: Mapping[str, Any] | None = None,
    repeats: int = 1,
) -> PredictionsSection:
    """Evaluate the predictor on a store and return tables and charts for a report.

    Never raises for lack of data: with too few measurements the section has ``ok=False``
    and its ``summary`` says what to measure first.
    """
    from ._evaluate import evaluate, measurement_noise

    title = "Predicting speed of unmeasured configurations"
    try:
        table, preds = evaluate(
            store,
            kernels=kernels,
            backends=backends,
            tag=tag,
            model_params=model_params,
            repeats=repeats,
            return_predictions=True,
        )
    except PredictionError as exc:
        return PredictionsSection(
            title, f"Not enough data to train and evaluate the predictor: {exc}", ok=False
        )
    statistic = dict(model_params or {}).get("statistic", "median")
    noise = measurement_noise(store, kernels=kernels, backends=backends, statistic=statistic)
    lines = []
    for r in table[(table["kernel"] == "all") & (table["backend"] == "all")].itertuples(
        index=False
    ):
        lines.append(
            f"{r.split}: {r.within_10pct:.0%} within +-10%, MAPE {r.mape:.2f}, "
            f"Spearman {r.spearman:.2f}, {r.nominal:.0%} intervals hold "
            f"{r.coverage:.0%} ({r.n_test} held-out)"
        )
    what = (
        "each run's fastest calibrated sample, best of the repeated runs"
        if statistic == "min"
        else "each run's median"
    )
    summary = (
        f"Whole configurations held out (unseen shapes); predicted figure: {what}. "
        + "; ".join(lines)
        + "."
    )
    chart = predicted_vs_measured_chart(preds[preds["repeat"] == 0])
    return PredictionsSection(
        title, summary, {"evaluation": table, "noise": noise}, {"predicted_vs_measured": chart}
    )
