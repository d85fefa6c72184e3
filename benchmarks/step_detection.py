"""Score the step detector against the naive rule on synthetic histories with planted steps.

    .venv/bin/python benchmarks/step_detection.py --series 150   # the published tables (seed 0)
    .venv/bin/python benchmarks/step_detection.py --tune         # the penalty sweep (seed 1000)
    .venv/bin/python benchmarks/step_detection.py --tune --cost l1   # asv's L1 cost, for comparison

For each step size (2 %, 5 %, 20 %) x noise level (1 %, 3 %, 10 %) we draw ``--series``
histories of ``--points`` runs, each with one planted slowdown at a random position (at
least 10 runs from either end), cycling through log-normal, outlier and bimodal noise
(:func:`accel_toolkit.analysis.synthetic_history`). Two tables: noise as the spread of the
raw samples within a run (nvbench's "noise"; ``scale="sample"``) and noise as the run-to-run
spread of the run medians (``scale="run"``, the hard case). A reported regression within
+-2 runs of the planted step is a true positive; any other reported regression is a false
positive.

* precision, recall, F1 over all histories of the cell;
* delay: runs of the new level that had to be measured before the step was flagged,
  replaying the history one run at a time (median over detected steps);
* false alarms per 1,000 points on histories with no change, per noise level.

The naive rule flags run ``i`` when it is more than 10 % above the mean of the runs before it
(consecutive flags count as one alarm). The penalty (``gamma``) is chosen once with
``--tune`` on a different seed, never per cell.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from accel_toolkit.analysis import DEFAULT_GAMMA, detect_steps, synthetic_history  # noqa: E402

STEPS = (0.02, 0.05, 0.20)
NOISES = (0.01, 0.03, 0.10)
TOL = int(__import__("os").environ.get("STEP_TOL", "2"))
MAX_DELAY = 20


COST = "huber"


def ours(
    y: np.ndarray, lo: np.ndarray, hi: np.ndarray, gamma: float, threshold: float
) -> list[int]:
    return [
        s.index
        for s in detect_steps(y, ci_low=lo, ci_high=hi, gamma=gamma, cost=COST, threshold=threshold)
        if s.kind == "regression"
    ]


def naive(y: np.ndarray, *_: object, min_history: int = 3) -> list[int]:
    csum = np.cumsum(y)
    alarms, prev = [], False
    for i in range(min_history, y.size):
        flag = y[i] > 1.10 * csum[i - 1] / i
        if flag and not prev:
            alarms.append(i)
        prev = flag
    return alarms


def _match(found: list[int], planted: int) -> tuple[int, int]:
    """(true positives, false positives) of ``found`` against one planted position."""
    hit = [f for f in found if abs(f - planted) <= TOL]
    tp = 1 if hit else 0
    return tp, len(found) - (1 if hit else 0)


def _delay(detector, y, lo, hi, planted: int, **kw) -> float:
    for k in range(1, MAX_DELAY + 1):
        n = planted + k
        if n > y.size:
            break
        if any(abs(f - planted) <= TOL for f in detector(y[:n], lo[:n], hi[:n], **kw)):
            return float(k)
    return float("nan")


def score_cell(
    step: float,
    noise: float,
    n_series: int,
    n_points: int,
    seed: int,
    gamma: float,
    threshold: float,
    delays: bool = True,
    scale: str = "run",
) -> dict[str, dict[str, float]]:
    cell_seed = seed * 10_000 + round(step * 1000) * 10 + round(noise * 100)  # independent cells
    df = synthetic_history(
        n_series, n_points, steps=[step], noise=noise, kind="mixed", scale=scale, seed=cell_seed
    )
    out = {}
    for name, det, kw in (
        ("ours", ours, {"gamma": gamma, "threshold": threshold}),
        ("naive", naive, {}),
    ):
        tp = fp = fn = 0
        dl = []
        for _, g in df.groupby("series", sort=False):
            y, lo, hi = (g[c].to_numpy() for c in ("median_s", "ci_low_s", "ci_high_s"))
            planted = int(np.flatnonzero(g["step"].to_numpy() != 0)[0])
            t, f = _match(det(y, lo, hi, **kw), planted)
            tp, fp, fn = tp + t, fp + f, fn + (1 - t)
            if t and delays:
                dl.append(_delay(det, y, lo, hi, planted, **kw))
        prec = tp / (tp + fp) if tp + fp else float("nan")
        rec = tp / (tp + fn)
        f1 = 2 * prec * rec / (prec + rec) if tp else 0.0
        out[name] = {
            "precision": prec,
            "recall": rec,
            "F1": f1,
            "delay": float(np.nanmedian(dl)) if dl and not np.all(np.isnan(dl)) else float("nan"),
        }
    return out


def false_alarms(
    noise: float,
    n_series: int,
    n_points: int,
    seed: int,
    gamma: float,
    threshold: float,
    scale: str = "run",
) -> dict[str, float]:
    df = synthetic_history(
        n_series,
        n_points,
        steps=[],
        noise=noise,
        kind="mixed",
        scale=scale,
        seed=seed * 10_000 + 5_000 + round(noise * 100),
    )
    counts = {"ours": 0, "naive": 0}
    for _, g in df.groupby("series", sort=False):
        y, lo, hi = (g[c].to_numpy() for c in ("median_s", "ci_low_s", "ci_high_s"))
        counts["ours"] += len(ours(y, lo, hi, gamma, threshold))
        counts["naive"] += len(naive(y))
    pts = len(df) / 1000
    return {k: v / pts for k, v in counts.items()}


def tune(args: argparse.Namespace) -> None:
    print(
        f"tuning ({args.cost}) on seed {args.seed + 1000}: F1 at 5 % / 3 % (run-to-run noise) "
        "and false alarms per 1,000 points"
    )
    for gamma in args.gammas:
        cell = score_cell(
            0.05,
            0.03,
            args.series,
            args.points,
            args.seed + 1000,
            gamma,
            args.threshold,
            delays=False,
        )
        fa = [
            false_alarms(
                nz, args.series, args.null_points, args.seed + 1000, gamma, args.threshold
            )["ours"]
            for nz in NOISES
        ]
        print(
            f"gamma={gamma:4.1f}  F1={cell['ours']['F1']:.3f}  "
            f"false alarms/1k: "
            + "  ".join(f"{nz:.0%}:{v:.2f}" for nz, v in zip(NOISES, fa, strict=True))
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--series", type=int, default=90, help="histories per cell (default 90)")
    ap.add_argument("--points", type=int, default=60, help="runs per history (default 60)")
    ap.add_argument("--null-points", type=int, default=120, help="runs per no-change history")
    ap.add_argument("--gamma", type=float, default=DEFAULT_GAMMA)
    ap.add_argument("--threshold", type=float, default=0.02)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--cost",
        choices=["huber", "l1"],
        default="huber",
        help="detector cost (l1 is asv's; see accel_toolkit/analysis/_steps.py)",
    )
    ap.add_argument("--tune", action="store_true")
    ap.add_argument("--gammas", type=float, nargs="+", default=[1.0, 1.5, 2.0, 3.0, 4.0])
    args = ap.parse_args()
    global COST
    COST = args.cost
    if args.tune:
        tune(args)
        return
    t0 = time.perf_counter()
    print(
        f"Step detection on synthetic histories: {args.series} histories x {args.points} runs "
        f"per cell, noise kinds log-normal/outliers/bimodal, gamma={args.gamma}, "
        f"threshold={args.threshold:.0%}, tolerance +-{TOL} runs, seed {args.seed}"
    )
    for scale, what in (
        (
            "sample",
            "noise = relative spread of the raw samples within a run "
            "(nvbench's 'noise'); runs drift by noise/4",
        ),
        ("run", "noise = run-to-run spread of the run medians themselves (the hard case)"),
    ):
        rows = []
        for step in STEPS:
            for noise in NOISES:
                cell = score_cell(
                    step,
                    noise,
                    args.series,
                    args.points,
                    args.seed,
                    args.gamma,
                    args.threshold,
                    scale=scale,
                )
                row = {"step": f"{step:.0%}", "noise": f"{noise:.0%}"}
                for name in ("ours", "naive"):
                    for metric, v in cell[name].items():
                        row[f"{name} {metric}"] = v
                rows.append(row)
        table = pd.DataFrame(rows)
        fa = pd.DataFrame(
            [
                {
                    "noise": f"{nz:.0%}",
                    **{
                        f"{k} false alarms / 1k points": v
                        for k, v in false_alarms(
                            nz,
                            args.series,
                            args.null_points,
                            args.seed,
                            args.gamma,
                            args.threshold,
                            scale=scale,
                        ).items()
                    },
                }
                for nz in NOISES
            ]
        )
        print(f"\n### scale={scale}: {what}\n")
        print(_markdown(table))
        print(f"\nNo-change histories ({args.series} x {args.null_points} runs per noise level):\n")
        print(_markdown(fa))
    print(f"\n({time.perf_counter() - t0:.0f} s)")


def _markdown(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    fmt = [
        [f"{v:.3f}" if isinstance(v, float) else str(v) for v in r]
        for r in df.itertuples(index=False)
    ]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(r) + " |" for r in fmt]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
