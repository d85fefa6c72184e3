"""How the machine's speed moved during a run: the shift all configurations share, by round.

On a shared machine the whole machine gets faster or slower between the rounds of one
``bench --rounds K`` run, every configuration together, with no CPU time stolen to show it
(measurements: docs/reproducibility.md, "Rounds as the unit"). A
configuration's ``round_spread`` mixes that shift with its own noise; :func:`round_drift`
separates it: for each round, the median over configurations of the ratio to the same
configuration in the run's first round. It says how far a figure measured at another time
can move with no change in the code, which no within-round CI shows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._blocks import MIN_CONFIGS_FOR_SHIFT
from ._compare import IDENTITY

__all__ = ["drift_line", "round_drift"]


def round_drift(
    results: pd.DataFrame, *, value: str = "median_s", min_configs: int = MIN_CONFIGS_FOR_SHIFT
) -> pd.DataFrame:
    """The shift every configuration shares in each round of each run, against its round 0.

    Parameters
    ----------
    results : DataFrame
        Rows of the ``results`` view (or of :func:`~accel_toolkit.bench`): ``run_id``,
        ``round``, ``status``, the configuration's identity and ``value``.
    value : str
        The per-round figure compared (``median_s`` or ``min_s``).
    min_configs : int
        Rounds sharing fewer configurations with round 0 get no shift: a median over one or
        two configurations is their own noise, not the machine's.

    Returns
    -------
    DataFrame
        One row per (run, round) of the runs with two or more rounds: ``run_id``, ``round``,
        ``shift`` (the median over configurations of ``value / value in round 0``, minus 1;
        NaN under ``min_configs``) and ``configs`` (how many configurations it is over).
    """
    cols = ["run_id", "round", "shift", "configs"]
    if results.empty or "round" not in results or value not in results:
        return pd.DataFrame(columns=cols)
    ok = results[(results["status"] == "ok") & (results[value] > 0)]
    keys = [k for k in IDENTITY if k in ok]
    out = []
    for run, rows in ok.groupby("run_id", sort=False):
        rnd = rows["round"].fillna(0).astype(int)
        if rnd.nunique() < 2:
            continue
        logs = (
            rows.assign(_round=rnd, _log=np.log(rows[value].astype(float)))
            .groupby([*keys, "_round"], dropna=False)["_log"]
            .median()
            .unstack("_round")
        )
        first = logs.columns.min()
        for r in logs.columns:
            d = (logs[r] - logs[first]).dropna()
            shift = float(np.expm1(d.median())) if len(d) >= min_configs else float("nan")
            out.append({"run_id": run, "round": int(r), "shift": shift, "configs": len(d)})
    return pd.DataFrame(out, columns=cols)


def drift_line(drift: pd.DataFrame) -> str | None:
    """One sentence per run of :func:`round_drift`, or ``None`` when no run has a shift."""
    lines = []
    for run, rows in drift.groupby("run_id", sort=False):
        shifts = rows.sort_values("round")["shift"]
        if shifts.isna().all():
            continue
        moved = float(shifts.max() - shifts.min())
        lines.append(
            f"Run {run}: the rounds ran "
            + ", ".join("-" if s != s else f"{s:+.1%}" for s in shifts)
            + f" against round 0 (median over {int(rows['configs'].max())} configurations). "
            f"The machine's speed moved by {moved:.1%} during the run, every configuration "
            "together: a figure measured at another time can differ by that much with no "
            "change in the code."
        )
    return "\n".join(lines) or None
