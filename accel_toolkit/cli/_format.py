"""Printing DataFrames as tables, CSV or JSON for the command line."""

from __future__ import annotations

import pandas as pd

__all__ = ["print_frame", "summary_table"]


def print_frame(df: pd.DataFrame, fmt: str = "table") -> None:
    if fmt == "csv":
        print(df.to_csv(index=False), end="")
    elif fmt == "json":
        print(df.to_json(orient="records", date_format="iso", default_handler=str))
    elif df.empty:
        print("(no rows)")
    else:
        with pd.option_context(
            "display.max_rows",
            500,
            "display.max_columns",
            50,
            "display.width",
            200,
            "display.max_colwidth",
            60,
        ):
            print(df.to_string(index=False))


def _fmt_time(s: float) -> str:
    if s != s:  # NaN
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s:.3g} s"


def summary_table(df: pd.DataFrame) -> pd.DataFrame:
    """The human summary of a sweep: one line per configuration x backend."""
    if df.empty:
        return df
    out = pd.DataFrame(
        {
            "kernel": df["kernel"],
            "params": df["params"].map(
                lambda p: (
                    " ".join(f"{k}={v}" for k, v in p.items()) if isinstance(p, dict) else str(p)
                )
            ),
            "dtype": df["dtype"],
            "backend": df["backend"],
            "venue": df["venue"],
            "median": df["median_s"].map(_fmt_time),
            "99% CI": [
                f"[{_fmt_time(a)}, {_fmt_time(b)}]" if a == a else "-"
                for a, b in zip(df["ci_low_s"], df["ci_high_s"], strict=False)
            ],
            "n": df["n_samples"],
            "GFLOP/s": df["gflops"].map(lambda v: f"{v:.3g}" if v == v and v is not None else "-"),
            "max err": df["max_abs_err"].map(
                lambda v: f"{v:.2g}" if v == v and v is not None else "-"
            ),
            "status": df["status"],
            "error": df["error"].fillna("").map(lambda e: (e[:70] + "...") if len(e) > 70 else e),
        }
    )
    if "round_spread" in df and (df["rounds"].fillna(1) > 1).any():  # how well it reproduces
        out.insert(
            7, "spread over rounds", df["round_spread"].map(lambda v: f"{v:.1%}" if v == v else "-")
        )
        out.insert(0, "round", df["round"])
    return out
