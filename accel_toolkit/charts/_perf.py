"""Performance charts: latency vs problem size, and the roofline with its ceilings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import ConfigError
from ._prep import check_frame, finite, prepare, tooltips

__all__ = ["ceilings", "latency", "roofline"]

_SIZE_TITLES = {"flops": "FLOPs per call", "bytes": "bytes moved per call"}


def latency(
    df: pd.DataFrame,
    *,
    x: str = "flops",
    width: int = 320,
    height: int = 220,
    columns: int = 3,
) -> Any:
    """Median time per call against problem size, one line per backend, 99% CI error bars.

    Parameters
    ----------
    df : DataFrame
        Rows of the ``results`` view (``Store().results()`` or ``bench()``); only
        ``status == "ok"`` rows are drawn.
    x : {"flops", "bytes"}
        The problem-size axis (from the kernel's cost model).
    width, height : int
        Size of one panel; several kernels give one panel each (``columns`` per row).

    Returns
    -------
    altair.LayerChart or altair.FacetChart
        Log-log chart; tooltips carry kernel, params, dtype, backend, device and the CI.
    """
    import altair as alt

    if x not in _SIZE_TITLES:
        raise ConfigError(f"latency(x=...) must be 'flops' or 'bytes', got {x!r}.")
    need = ("kernel", "params", "backend", "median_s", "ci_low_s", "ci_high_s", x)
    data = prepare(check_frame(df, need, "latency"))
    data = data[finite(data[x]) & finite(data["median_s"])]
    if data.empty:
        raise ConfigError(
            f"latency(): no successful measurements with a positive {x!r} to draw; "
            f"run bench() first, or use x='bytes' for kernels without FLOPs."
        )
    xenc = alt.X(
        f"{x}:Q", scale=alt.Scale(type="log"), title=_SIZE_TITLES[x], axis=alt.Axis(format="~s")
    )
    tips = tooltips(
        alt.Tooltip("median_s:Q", title="median (s)", format=".3~s"),
        alt.Tooltip("ci_low_s:Q", title="CI low (s)", format=".3~s"),
        alt.Tooltip("ci_high_s:Q", title="CI high (s)", format=".3~s"),
        alt.Tooltip(f"{x}:Q", title=_SIZE_TITLES[x], format=".3~s"),
    )
    color = alt.Color("backend:N", title="backend")
    base = alt.Chart().encode(x=xenc, color=color)
    lines = base.mark_line(point=alt.OverlayMarkDef(size=40, filled=True)).encode(
        y=alt.Y(
            "median_s:Q",
            scale=alt.Scale(type="log"),
            title="median time per call (s)",
            axis=alt.Axis(format="~s"),
        ),
        strokeDash=alt.StrokeDash("dtype:N", title="dtype"),
        detail="dtype:N",
        tooltip=tips,
    )
    bars = base.mark_rule(strokeWidth=2, opacity=0.7).encode(
        y="ci_low_s:Q",
        y2="ci_high_s:Q",
        tooltip=tips,
    )
    layered = alt.layer(bars, lines, data=data).properties(width=width, height=height)
    if data["kernel"].nunique() > 1:
        return layered.facet(
            facet=alt.Facet("kernel:N", title=None),
            columns=columns,
        ).resolve_scale(x="independent", y="independent")
    return layered.properties(title=f"{data['kernel'].iloc[0]}: time per call vs size")


def ceilings(
    df: pd.DataFrame,
    declared: Mapping[str, Mapping[str, float]] | pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Roofline ceilings per backend and device: peak GFLOP/s and GB/s.

    Without ``declared`` they are *measured*: the best GFLOP/s and the best GB/s any
    successful configuration reached on that backend and device in ``df`` (so every
    point lies on or under its roofline). ``declared`` overrides them per backend (or per
    device name): ``{"cpu": {"gflops": 200, "gbps": 20}}``.

    Returns
    -------
    DataFrame
        ``backend, device, peak_gflops, peak_gbps, source``.
    """
    need = ("backend", "median_s", "flops", "bytes")
    data = prepare(check_frame(df, need, "ceilings"))
    data = data[finite(data["median_s"])]
    rows = []
    for (backend, device), g in data.groupby(["backend", "device"], sort=True):
        gflops = (g["flops"] / g["median_s"] / 1e9).replace([np.inf, -np.inf], np.nan)
        gbps = (g["bytes"] / g["median_s"] / 1e9).replace([np.inf, -np.inf], np.nan)
        rows.append(
            {
                "backend": backend,
                "device": device,
                "peak_gflops": float(gflops.max()),
                "peak_gbps": float(gbps.max()),
                "source": "best measured",
            }
        )
    out = pd.DataFrame(rows, columns=["backend", "device", "peak_gflops", "peak_gbps", "source"])
    if declared is None:
        return out
    if isinstance(declared, pd.DataFrame):
        check_frame(declared, ("backend", "peak_gflops", "peak_gbps"), "ceilings(declared)")
        declared = {
            r["backend"]: {"gflops": r["peak_gflops"], "gbps": r["peak_gbps"]}
            for _, r in declared.iterrows()
        }
    if not isinstance(declared, Mapping):
        raise ConfigError(
            "ceilings= must map a backend or device name to "
            "{'gflops': ..., 'gbps': ...}, or be a DataFrame."
        )
    for name, peak in declared.items():
        if not isinstance(peak, Mapping) or not {"gflops", "gbps"} <= set(peak):
            raise ConfigError(
                f"ceilings[{name!r}] must be {{'gflops': float, 'gbps': float}}, got {peak!r}."
            )
        if not (float(peak["gflops"]) > 0 and float(peak["gbps"]) > 0):
            raise ConfigError(f"ceilings[{name!r}] must be positive, got {dict(peak)!r}.")
        hit = (out["backend"] == name) | (out["device"] == name)
        if hit.any():
            out.loc[hit, "peak_gflops"] = float(peak["gflops"])
            out.loc[hit, "peak_gbps"] = float(peak["gbps"])
            out.loc[hit, "source"] = "declared"
        else:
            out.loc[len(out)] = [name, "", float(peak["gflops"]), float(peak["gbps"]), "declared"]
    return out


def roofline(
    df: pd.DataFrame,
    *,
    ceilings: Mapping[str, Mapping[str, float]] | pd.DataFrame | None = None,
    width: int = 480,
    height: int = 320,
) -> Any:
    """Achieved GFLOP/s against arithmetic intensity (FLOP/byte) under each roofline.

    Parameters
    ----------
    df : DataFrame
        Rows of the ``results`` view; ``ok`` rows with FLOPs are drawn.
    ceilings : dict or DataFrame, optional
        Declared peaks per backend/device (see :func:`ceilings`); by default the ceilings
        are the best GFLOP/s and GB/s measured on each backend and device in ``df``.

    Returns
    -------
    altair.LayerChart
        Points colored by backend, shaped by kernel; dashed rooflines per backend.
    """
    import altair as alt

    need = ("kernel", "params", "backend", "median_s", "flops", "bytes")
    data = prepare(check_frame(df, need, "roofline"))
    data = data[finite(data["flops"]) & finite(data["bytes"]) & finite(data["median_s"])].copy()
    if data.empty:
        raise ConfigError(
            "roofline(): no successful measurements with FLOPs and bytes to "
            "draw; run bench() on kernels that compute (matmul, softmax, ...)."
        )
    data["intensity"] = data["flops"] / data["bytes"]
    data["gflops"] = data["flops"] / data["median_s"] / 1e9
    data["gbps"] = data["bytes"] / data["median_s"] / 1e9
    peaks = _ceilings_fn(df, ceilings)
    lo, hi = data["intensity"].min() / 2, data["intensity"].max() * 2
    grid = np.geomspace(lo, hi, 60)
    lines = []
    for r in peaks.itertuples():
        if not (np.isfinite(r.peak_gflops) and np.isfinite(r.peak_gbps)):
            continue
        for ai in grid:
            lines.append(
                {
                    "backend": r.backend,
                    "device": r.device,
                    "intensity": ai,
                    "gflops": min(r.peak_gflops, r.peak_gbps * ai),
                    "peak_gflops": r.peak_gflops,
                    "peak_gbps": r.peak_gbps,
                    "source": r.source,
                }
            )
    roof = pd.DataFrame(lines)
    x = alt.X(
        "intensity:Q",
        scale=alt.Scale(type="log", nice=False),
        title="arithmetic intensity (FLOP/byte)",
    )
    y = alt.Y("gflops:Q", scale=alt.Scale(type="log"), title="achieved GFLOP/s")
    color = alt.Color("backend:N", title="backend")
    points = (
        alt.Chart(data)
        .mark_point(filled=True, size=60, opacity=0.85)
        .encode(
            x=x,
            y=y,
            color=color,
            shape=alt.Shape("kernel:N", title="kernel"),
            tooltip=tooltips(
                alt.Tooltip("gflops:Q", title="GFLOP/s", format=".3~g"),
                alt.Tooltip("gbps:Q", title="GB/s", format=".3~g"),
                alt.Tooltip("intensity:Q", title="FLOP/byte", format=".3~g"),
                alt.Tooltip("median_s:Q", title="median (s)", format=".3~s"),
            ),
        )
    )
    layers = [points]
    if not roof.empty:
        layers.insert(
            0,
            alt.Chart(roof)
            .mark_line(strokeDash=[6, 3], opacity=0.8)
            .encode(
                x=x,
                y=y,
                color=color,
                detail="device:N",
                tooltip=[
                    alt.Tooltip("backend:N"),
                    alt.Tooltip("device:N"),
                    alt.Tooltip("peak_gflops:Q", title="peak GFLOP/s", format=".3~g"),
                    alt.Tooltip("peak_gbps:Q", title="peak GB/s", format=".3~g"),
                    alt.Tooltip("source:N", title="ceiling"),
                ],
            ),
        )
    source = ", ".join(sorted(set(peaks["source"]))) or "none"
    return alt.layer(*layers).properties(
        width=width,
        height=height,
        title=alt.Title("Roofline", subtitle=f"dashed: ceilings per backend ({source})"),
    )


_ceilings_fn = ceilings
