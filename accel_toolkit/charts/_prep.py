"""Shaping rows of the ``results`` view for charts: labels, validation, latest rows."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, cast

import numpy as np
import pandas as pd

from ..exceptions import ConfigError

__all__ = [
    "CHART_COLUMNS",
    "TOOLTIP_FIELDS",
    "check_frame",
    "describe_series",
    "latest",
    "params_label",
    "prepare",
    "tooltips",
]

#: the configuration every tooltip carries (plus the chart's own figures)
TOOLTIP_FIELDS = ("kernel", "params_label", "dtype", "backend", "device")


#: the columns a chart may use (everything else stays out of the inlined data)
CHART_COLUMNS = (
    "run_id",
    "created_at",
    "kernel",
    "family",
    "params_label",
    "dtype",
    "config",
    "config_key",
    "backend",
    "venue",
    "device",
    "median_s",
    "ci_low_s",
    "ci_high_s",
    "iqr_s",
    "n_samples",
    "first_run_s",
    "flops",
    "bytes",
    "gflops",
    "gbps",
    "status",
)


def params_label(params: Any) -> str:
    """``M=64 N=64 K=32`` from a params dict (or its JSON text)."""
    if isinstance(params, str):
        try:
            params = json.loads(params)
        except ValueError:
            return cast(str, params)
    if isinstance(params, Mapping):
        return " ".join(f"{k}={v}" for k, v in params.items())
    return "" if params is None else str(params)


def describe_series(df: pd.DataFrame) -> pd.Series:
    """``kernel(M=..,N=..) dtype on backend/venue`` for each row of a steps or compare frame."""

    def one(r: Any) -> str:
        p = r.get("params")
        try:
            p = json.loads(p) if isinstance(p, str) else (p or {})
        except ValueError:
            p = {}
        args = ",".join(f"{k}={v}" for k, v in p.items())
        where = "/".join(str(r[k]) for k in ("backend", "venue") if r.get(k) is not None)
        return f"{r.get('kernel')}({args}) {r.get('dtype')}" + (f" on {where}" if where else "")

    if df.empty:
        return pd.Series([], dtype=str, index=df.index)
    return pd.Series([one(r) for r in df.to_dict("records")], index=df.index, dtype=str)


def check_frame(df: Any, required: Iterable[str], chart: str) -> pd.DataFrame:
    """Raise :class:`ConfigError` unless ``df`` is a DataFrame with the ``required`` columns."""
    if not isinstance(df, pd.DataFrame):
        raise ConfigError(
            f"{chart}() needs a pandas DataFrame of results (e.g. Store().results() or the "
            f"return value of bench()), got {type(df).__name__}."
        )
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ConfigError(
            f"{chart}() needs the column(s) {missing} of the results view; pass rows from "
            f"Store().results() or bench(), not a summary table."
        )
    return df


def prepare(df: pd.DataFrame, *, ok_only: bool = True) -> pd.DataFrame:
    """A copy with ``params_label``, ``config`` and ``device`` filled; only ``ok`` rows.

    Only :data:`CHART_COLUMNS` are kept (the spec inlines the data); times become text.
    """
    out = df.copy()
    if ok_only and "status" in out.columns:
        out = out[out["status"] == "ok"]
    if "params" in out.columns:
        out["params_label"] = out["params"].map(params_label)
    else:
        out["params_label"] = ""
    if "device" not in out.columns:
        out["device"] = ""
    out["device"] = out["device"].fillna("").astype(str)
    if "dtype" not in out.columns:
        out["dtype"] = "float32"
    out["config"] = (
        out["kernel"].astype(str) + " " + out["params_label"] + " " + out["dtype"].astype(str)
    )
    out = out[[c for c in CHART_COLUMNS if c in out.columns]]
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].map(lambda t: t.isoformat() if pd.notna(t) else None)
    return out.reset_index(drop=True)


def latest(df: pd.DataFrame, keys: Iterable[str] = ("config_key", "backend")) -> pd.DataFrame:
    """The most recent row of each ``keys`` group (rows are kept in creation order)."""
    keys = [k for k in keys if k in df.columns]
    if not keys or df.empty:
        return df
    order = df.sort_values("created_at", kind="stable") if "created_at" in df.columns else df
    return order.drop_duplicates(keys, keep="last").reset_index(drop=True)


def tooltips(*extra: Any) -> list[Any]:
    """The configuration tooltip fields followed by ``extra`` encodings."""
    import altair as alt

    base = [
        alt.Tooltip("kernel:N", title="kernel"),
        alt.Tooltip("params_label:N", title="params"),
        alt.Tooltip("dtype:N", title="dtype"),
        alt.Tooltip("backend:N", title="backend"),
        alt.Tooltip("device:N", title="device"),
    ]
    return base + list(extra)


def finite(series: pd.Series) -> np.ndarray:
    """Boolean mask of finite, positive values (what a log axis can show)."""
    v = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    return cast(np.ndarray, np.isfinite(v) & (v > 0))
