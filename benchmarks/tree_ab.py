"""Two source trees of the toolkit, measured interleaved on this machine: are the figures the same?

A refactor must not change a measured figure. This script runs the demo's sweep (every kernel of
tree A's library, the ``small`` preset, by default on cpu, webgpu and webnn) with each tree in
turn, in the order A B | B A for ``--passes`` blocks, each run a fresh process with its own
calibration, and stores every pass in its own DuckDB file per side. It then prints, per backend,
the geometric mean over configurations of median_B / median_A for each block, and the share of
configurations whose block-median ratio lies within +-10% and +-25%, pass by pass.

Usage (from the repository root, with the old tree checked out elsewhere)::

    git worktree add /tmp/before <old-commit>
    python benchmarks/tree_ab.py --a /tmp/before --b . --passes 2 --out /tmp/tree_ab

Noise: on a shared 2-core VM the same code differs by 10-40% run to run, so read the per-block
figures side by side; a real change shows in every block and in the same direction.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

KEY = ["kernel", "backend", "dtype", "params"]


def run_side(
    tree: Path, db: Path, kernels: str, backends: str, preset: str, budget: float, tag: str
) -> float:
    """Run one sweep with ``tree`` first on the import path; return its wall time in s."""
    env = dict(os.environ, PYTHONPATH=str(tree.resolve()))
    where = subprocess.run(
        [sys.executable, "-c", "import accel_toolkit; print(accel_toolkit.__file__)"],
        env=env,
        cwd=tree,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if not Path(where).resolve().is_relative_to(tree.resolve()):
        raise SystemExit(f"{tree} imports accel_toolkit from {where}, not from itself.")
    # ``python -m`` puts the working folder first on sys.path: run each side from its tree.
    cmd = [
        sys.executable,
        "-m",
        "accel_toolkit.cli",
        "bench",
        "--kernels",
        kernels,
        "--backends",
        backends,
        "--preset",
        preset,
        "--time-budget",
        str(budget),
        "--rounds",
        "1",
        "--tag",
        tag,
        "--db",
        str(db),
    ]
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=tree, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def kernels_of(tree: Path) -> str:
    """The kernel names of ``tree``'s library, comma-separated."""
    env = dict(os.environ, PYTHONPATH=str(tree.resolve()))
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "from accel_toolkit.kernels import kernel_names; print(','.join(kernel_names()))",
        ],
        env=env,
        cwd=tree,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def load(db: Path) -> pd.DataFrame:
    """Every ok row of ``db`` with its run tag."""
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(
            "SELECT m.kernel, m.backend, m.dtype, CAST(m.params AS VARCHAR) AS params, "
            "m.median_s, r.tag FROM measurements m JOIN runs r USING (run_id) "
            "WHERE m.status = 'ok'"
        ).df()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--a", type=Path, required=True, help="baseline source tree")
    ap.add_argument("--b", type=Path, required=True, help="candidate source tree")
    ap.add_argument("--backends", default="cpu,webgpu,webnn")
    ap.add_argument("--preset", default="small")
    ap.add_argument("--time-budget", type=float, default=0.25)
    ap.add_argument("--passes", type=int, default=2, help="blocks of A B | B A")
    ap.add_argument("--out", type=Path, default=Path("out/tree_ab"))
    args = ap.parse_args()
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    kernels = kernels_of(args.a)
    order = []
    for p in range(args.passes):
        order += [("A", p), ("B", p)] if p % 2 == 0 else [("B", p), ("A", p)]
    for side, p in order:
        tree = args.a if side == "A" else args.b
        wall = run_side(
            tree,
            args.out / f"{side}.duckdb",
            kernels,
            args.backends,
            args.preset,
            args.time_budget,
            f"pass{p}",
        )
        print(f"pass {p} side {side}: {wall:.0f} s", flush=True)
    a, b = load(args.out / "A.duckdb"), load(args.out / "B.duckdb")
    m = a.merge(b, on=[*KEY, "tag"], suffixes=("_a", "_b"))
    m["ratio"] = m["median_s_b"] / m["median_s_a"]
    rows = []
    for (backend, tag), g in m.groupby(["backend", "tag"]):
        r = g["ratio"]
        rows.append(
            {
                "backend": backend,
                "pass": tag,
                "configs": len(r),
                "geomean B/A": float(np.exp(np.log(r).mean())),
                "within 10%": float((abs(r - 1) <= 0.10).mean()),
                "within 25%": float((abs(r - 1) <= 0.25).mean()),
            }
        )
    pd.set_option("display.width", 140)
    print(pd.DataFrame(rows).round(3).to_string(index=False))
    # per backend and kernel, over every pass: the drift of one pass cancels across A B | B A
    per = m.groupby(["backend", "kernel"])["ratio"].agg(
        configs="size", geomean=lambda r: float(np.exp(np.log(r).mean()))
    )
    print(per.round(3).unstack("backend").to_string())
    only_a = set(map(tuple, a[KEY].values)) - set(map(tuple, b[KEY].values))
    only_b = set(map(tuple, b[KEY].values)) - set(map(tuple, a[KEY].values))
    print(f"ok configurations only in A: {len(only_a)}, only in B: {len(only_b)}")


if __name__ == "__main__":
    main()
