"""The CI gate: turn a comparison into an exit status and a pull-request comment."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from ..charts import describe_series

__all__ = ["gate_json", "gate_markdown", "gate_status"]


def gate_status(df: pd.DataFrame) -> int:
    """1 if any configuration is ``slower`` (significant and beyond the threshold), else 0."""
    return int(bool((df["verdict"] == "slower").any())) if not df.empty else 0


def _time(s: float) -> str:
    if s is None or not math.isfinite(s):
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s:.3g} s"


def _pct(r: float) -> str:
    return "-" if r is None or not math.isfinite(r) else f"{(r - 1) * 100:+.1f}%"


def _table(df: pd.DataFrame) -> list[str]:
    lines = [
        "| configuration | baseline | candidate | change | 99% CI | p | test |",
        "|---|---|---|---|---|---|---|",
    ]
    labels = describe_series(df)
    for lab, r in zip(labels, df.to_dict("records"), strict=True):
        p = r["p_value"]
        lines.append(
            f"| `{lab}` | {_time(r['baseline_median_s'])} | {_time(r['candidate_median_s'])} "
            f"| **{_pct(r['ratio'])}** | {_pct(r['ratio_ci_low'])} .. {_pct(r['ratio_ci_high'])} "
            f"| {'-' if not math.isfinite(p) else f'{p:.2g}'} | {r['test']} |"
        )
    return lines


def gate_markdown(df: pd.DataFrame) -> str:
    """A Markdown summary of a comparison, fit for a pull-request comment."""
    a = df.attrs
    t = float(a.get("threshold", 0.05))
    counts = df["verdict"].value_counts().to_dict() if not df.empty else {}
    n_slow = counts.get("slower", 0)
    head = (
        f"### :x: {n_slow} configuration(s) slower by more than {t:.0%}"
        if n_slow
        else f"### :white_check_mark: no configuration slower by more than {t:.0%}"
    )
    out = [
        head,
        "",
        f"`{a.get('candidate')}` vs `{a.get('baseline')}` (by {a.get('by', 'tag')}): "
        + ", ".join(
            f"{counts.get(k, 0)} {k}"
            for k in ("slower", "faster", "same", "ambiguous", "missing")
            if counts.get(k, 0)
        )
        + f". Mann-Whitney U at alpha={a.get('alpha', 0.002)}, ratio of medians with "
        f"bootstrap {a.get('level', 0.99):.0%} CI.",
        "",
    ]
    for verdict, title in (
        ("slower", "Slower"),
        ("faster", "Faster"),
        ("ambiguous", "Ambiguous (too noisy to tell)"),
    ):
        part = df[df["verdict"] == verdict]
        if not part.empty:
            out += [f"#### {title}", "", *_table(part), ""]
    rest = df[df["verdict"].isin(["same"])]
    if not rest.empty:
        out += [
            "<details><summary>Unchanged configurations</summary>",
            "",
            *_table(rest),
            "",
            "</details>",
            "",
        ]
    miss = df[df["verdict"] == "missing"]
    if not miss.empty:
        out += [f"{len(miss)} configuration(s) measured on one side only (not compared).", ""]
    return "\n".join(out)


def gate_json(df: pd.DataFrame) -> dict[str, Any]:
    """The comparison as a JSON-able dict: settings, counts, exit status and rows."""
    rows = df.drop(columns=[c for c in ("significant",) if c not in df]).to_dict("records")
    clean = [
        {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()}
        for r in rows
    ]
    return {
        **{k: v for k, v in df.attrs.items()},
        "counts": df["verdict"].value_counts().to_dict() if not df.empty else {},
        "status": gate_status(df),
        "rows": clean,
    }
