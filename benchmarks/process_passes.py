"""A/A block noise of one process per side and block, by passes per process.

Every block runs, for each variant in a shuffled order, an A process and a B process (B A in
odd blocks) of identical code, each ``accel-toolkit bench --rounds PASSES --time-budget
BUDGET`` over the cpu kernels matmul, softmax, layernorm and attention at the tiny and small
presets, one BLAS thread. A block's figure for a configuration is the median over the
process's passes; the block noise is the standard deviation over blocks of
log(B / A) less the block's median over configurations (what ``ab --interleave process``
tests). It prints the noise per variant (median over configurations, for the median and the
min statistic) and each variant's mean process wall time.

Usage::

    python benchmarks/process_passes.py --blocks 14 --variants 1x0.05,3x0.02,5x0.01,5x0.02

The figures are in docs/reproducibility.md ("Taking turns").
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
KERNELS = ("matmul", "softmax", "layernorm", "attention")


def _measure(folder: Path, variants: dict[str, tuple[int, float]], blocks: int) -> dict:
    from accel_toolkit._ab import thread_env
    from accel_toolkit.kernels import get_kernel

    grid = {
        k: [dict(p) for n in ("tiny", "small") for p in get_kernel(k).preset(n)] for k in KERNELS
    }
    (folder / "grid.json").write_text(json.dumps(grid))
    env = {**os.environ, **thread_env(1), "PYTHONPATH": str(ROOT)}
    wall: dict[str, list[float]] = {v: [] for v in variants}
    for b in range(blocks):
        order = list(variants)
        random.shuffle(order)
        for v in order:
            passes, budget = variants[v]
            for side in ("A", "B") if b % 2 == 0 else ("B", "A"):
                t0 = time.perf_counter()
                subprocess.run(
                    [sys.executable, "-m", "accel_toolkit.cli", "bench", "--kernels",
                     ",".join(KERNELS), "--backends", "cpu", "--grid", str(folder / "grid.json"),
                     "--time-budget", str(budget), "--rounds", str(passes), "--tag",
                     f"{v}:{side}", "--db", str(folder / f"{v}.duckdb")],
                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
                )  # fmt: skip
                wall[v].append(time.perf_counter() - t0)
        print(f"block {b + 1}/{blocks}", flush=True)
    return wall


def _noise(db: Path, stat: str) -> float:
    from accel_toolkit.store import Store

    r = Store(db, create=False).results()
    r = r[r["status"] == "ok"].assign(side=lambda x: x["tag"].str[-1])
    per = r.groupby(["side", "run_id", "config_key"])[stat].median().reset_index()
    runs = r.groupby(["side", "run_id"])["created_at"].min().reset_index()
    runs = runs.sort_values("created_at").assign(block=lambda x: x.groupby("side").cumcount())
    per = per.merge(runs[["run_id", "block"]], on="run_id")
    p = per.pivot_table(index=["config_key", "block"], columns="side", values=stat)
    d = np.log(p["B"] / p["A"]).unstack("block")
    return float((d - d.median(axis=0)).std(axis=1, ddof=1).median())


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--blocks", type=int, default=14)
    ap.add_argument("--variants", default="1x0.05,3x0.02,5x0.01,5x0.02", help="PASSESxBUDGET,...")
    args = ap.parse_args()
    variants = {}
    for v in args.variants.split(","):
        passes, budget = v.split("x")
        variants[v] = (int(passes), float(budget))
    with tempfile.TemporaryDirectory(prefix="passes-") as tmp:
        wall = _measure(Path(tmp), variants, args.blocks)
        print("\nvariant (passes x s)  block noise: median  min   process wall")
        for v in variants:
            db = Path(tmp) / f"{v}.duckdb"
            print(
                f"{v:21s} {_noise(db, 'median_s'):13.3f} {_noise(db, 'min_s'):5.3f} "
                f"{np.mean(wall[v]):8.1f} s"
            )


if __name__ == "__main__":
    main()
