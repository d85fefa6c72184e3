"""Comparing backends: speedups over a baseline backend and their heatmap."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import ConfigError
from ._prep import check_frame, finite, latest, prepare

__all__ = ["speedup_heatmap", "speedups"]


def speedups(df: pd.DataFrame, baseline: str = "cpu") -> pd.DataFrame:
    """Speedup of every backend over ``baseline``, per kernel.

    For each kernel and backend, the geometric mean over the configurations (kernel,
    params, dtype) that both it and the baseline measured successfully of
    ``baseline median / backend median`` (> 1: faster than the baseline). When a
    configuration was measured in several runs the latest row counts.

    Returns
    -------
    DataFrame
        ``kernel, backend, device, speedup, n_configs, min_speedup, max_speedup, configs``.
    """
    need = ("kernel", "params", "backend", "median_s", "config_key")
    data = prepare(check_frame(df, need, "speedups"))
    data = latest(data[finite(data["median_s"])])
    if not isinstance(baseline, str) or not baseline:
        raise ConfigError(f"baseline must be a backend name such as 'cpu', got {baseline!r}.")
    if baseline not in set(data["backend"]):
        have = ", ".join(sorted(set(data["backend"]))) or "none"
        raise ConfigError(
            f"The baseline backend {baseline!r} has no successful results here (backends with "
            f"results: {have}). Pick one of those as baseline, or bench {baseline!r} too."
        )
    base = data[data["backend"] == baseline][["config_key", "median_s"]].rename(
        columns={"median_s": "base_s"}
    )
    merged = data.merge(base, on="config_key", how="inner")
    merged["ratio"] = merged["base_s"] / merged["median_s"]
    rows = []
    for (kernel, backend), g in merged.groupby(["kernel", "backend"], sort=True):
        r = g["ratio"].to_numpy(dtype=float)
        rows.append(
            {
                "kernel": kernel,
                "backend": backend,
                "device": ", ".join(sorted(set(g["device"]) - {""})),
                "speedup": float(np.exp(np.mean(np.log(r)))),
                "n_configs": len(r),
                "min_speedup": float(r.min()),
                "max_speedup": float(r.max()),
                "configs": "; ".join(sorted(set(g["params_label"] + " " + g["dtype"]))),
            }
        )
    cols = [
        "kernel",
        "backend",
        "device",
        "speedup",
        "n_configs",
        "min_speedup",
        "max_speedup",
        "configs",
    ]
    return pd.DataFrame(rows, columns=cols)


def speedup_heatmap(
    df: pd.DataFrame,
    baseline: str = "cpu",
    *,
    cell: int = 72,
) -> Any:
    """Kernel x backend heatmap of the geometric-mean speedup over ``baseline``.

    Colors are on a log scale centred on 1x (blue: faster than the baseline, red:
    slower); every cell is labelled. See :func:`speedups` for the numbers.

    Returns
    -------
    altair.LayerChart
    """
    import altair as alt

    table = speedups(df, baseline)
    if table.empty:
        raise ConfigError(f"No configurations shared with the baseline {baseline!r} to compare.")
    table["label"] = table["speedup"].map(lambda v: f"{v:.3g}×")
    span = float(np.max(np.abs(np.log10(table["speedup"])))) or 1.0
    span = max(span, 0.3)
    base = alt.Chart(table).encode(
        x=alt.X("backend:N", title=None, axis=alt.Axis(labelAngle=0, orient="top")),
        y=alt.Y("kernel:N", title=None),
        tooltip=[
            alt.Tooltip("kernel:N"),
            alt.Tooltip("backend:N"),
            alt.Tooltip("device:N"),
            alt.Tooltip("speedup:Q", title=f"speedup over {baseline} (geo-mean)", format=".3~g"),
            alt.Tooltip("n_configs:Q", title="shared configs"),
            alt.Tooltip("min_speedup:Q", title="min", format=".3~g"),
            alt.Tooltip("max_speedup:Q", title="max", format=".3~g"),
            alt.Tooltip("configs:N", title="params dtype"),
        ],
    )
    rect = base.mark_rect(stroke="white", strokeWidth=1).encode(
        color=alt.Color(
            "speedup:Q",
            title="speedup",
            scale=alt.Scale(
                type="log", scheme="redblue", domainMid=1, domain=[10**-span, 10**span]
            ),
            legend=alt.Legend(
                labelExpr=(
                    "(datum.value >= 10 ? format(datum.value, ',.0f') : "
                    "format(datum.value, '.2~g')) + '×'"
                )
            ),
        ),
    )
    text = base.mark_text(fontSize=12).encode(
        text="label:N",
        color=alt.condition(
            f"abs(log(datum.speedup) / LN10) > {0.6 * span}", alt.value("white"), alt.value("black")
        ),
    )
    nb, nk = table["backend"].nunique(), table["kernel"].nunique()
    return alt.layer(rect, text).properties(
        width=max(cell * nb, 160),
        height=max(cell * nk * 0.6, 60),
        title=alt.Title(f"Speedup over {baseline}", subtitle="geometric mean over shared configs"),
    )
