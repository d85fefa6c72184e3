"""Replay kept gate evaluations with more blocks: what a rule and a block count would have
said, judged on blocks that were really measured.

``gate_false_alarms.py --keep-dbs`` keeps each evaluation's database (10 blocks of both sides
by default). This script joins ``--join K`` consecutive evaluations of the same lane (the
same folder of databases) into one comparison of ``K x 10`` blocks, in the order they were
measured, and judges it with ``ab``'s statistic (paired ratios, t-test over blocks, Holm) under
each ``--rule``:

* ``fixed-N``: the first ``N`` blocks (``--fixed``, e.g. ``10,20,30``);
* ``seq-ambiguous``: ``ab --sequential ambiguous``: start at ``--start`` blocks, add two
  while any configuration is ``ambiguous``, up to all the joined blocks;
* ``seq-leaning``: ``ab --sequential leaning`` (its default): add two only while a
  configuration *leans slower*, its estimate above ``1 + threshold`` but the rule has not
  called it ``slower`` (Pinpoint's "more attempts while the difference is unclear",
  restricted to the direction a gate fails on).

Each joined group counts once (disjoint groups, so the groups are independent). The
candidate of an A/B group is the same shim recalibrated once per evaluation, so its slowdown
varies a little between the joined evaluations (``gate_false_alarms.py``'s docstring); a real
change would not, which makes the replay's detection a slight underestimate. An A/A group
flags when any configuration is ``slower``; an A/B group detects when one of the slowed
kernel's configurations is.

Usage::

    python benchmarks/gate_replay.py docs/data/gate-campaign-2026-12-06/two-lanes-aa.jsonl \\
        docs/data/gate-campaign-2026-12-06/two-lanes-ab.jsonl --join 2 --fixed 10,20
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def _groups(records: list[dict[str, Any]], join: int) -> list[list[dict[str, Any]]]:
    """Disjoint runs of ``join`` consecutive evaluations of one lane (databases in one folder,
    ordered by their time-stamped names), for each mode separately."""
    lanes: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for rec in records:
        db = Path(rec.get("db") or "")
        if db.is_file():
            lanes[(rec["mode"], str(db.parent))].append(rec)
    out = []
    for recs in lanes.values():
        recs.sort(key=lambda r: Path(r["db"]).name)
        out += [recs[i : i + join] for i in range(0, len(recs) - join + 1, join)]
    return out


def _joined(group: list[dict[str, Any]]) -> pd.DataFrame:
    """The ``ok`` rows of the group's databases, both sides renamed to one baseline and one
    candidate tag, so their runs become consecutive blocks."""
    from accel_toolkit.store import open_store

    parts = []
    for rec in group:
        res = open_store(Path(rec["db"]), create=False).results()
        side = np.where(res["tag"].str.contains(":candidate:"), "candidate", "baseline")
        parts.append(res.assign(tag=side))
    return pd.concat(parts, ignore_index=True)


def _first_blocks(results: pd.DataFrame, n: int) -> pd.DataFrame:
    """Each side's first ``n`` runs (blocks), by when they started."""
    keep = []
    for _, rows in results.groupby("tag"):
        starts = rows.groupby("run_id")["created_at"].min().sort_values()
        keep += list(starts.index[:n])
    return results[results["run_id"].isin(keep)]


def _judge(results: pd.DataFrame, n: int, rule: str, args: argparse.Namespace) -> Any:
    """``ab``'s comparison (a ``BlockComparison``) of the first ``n`` blocks under ``rule``:
    the campaign's own judge (``gate_false_alarms._judge``, paired ratios of each block's
    passes, ``ab``'s test), so the replay and the campaign cannot disagree on the statistic."""
    from gate_false_alarms import _judge as judge

    # the campaign took turns configuration by configuration: ab's unit for that is the pair
    opts = argparse.Namespace(
        threshold=args.threshold, alpha=args.alpha, rule=rule, interleave="config"
    )
    tags = {"baseline": "baseline", "candidate": "candidate"}
    return judge(_first_blocks(results, n), tags, "median", opts)


def _outcome(table: pd.DataFrame, mode: str, slow: str) -> bool:
    """A/A: any configuration slower (a false alarm); A/B: a slowed configuration slower."""
    flagged = table[table["verdict"] == "slower"]["config"]
    return bool(flagged.str.startswith(f"{slow}(").any() if mode == "ab" else len(flagged))


def _sequential(
    results: pd.DataFrame, total: int, rule: str, policy: str, args: argparse.Namespace
) -> tuple[pd.DataFrame, int]:
    """What ``ab --sequential policy`` would have ended with: the table and the blocks."""
    from accel_toolkit._ab import wants_more_blocks

    n = args.start
    res = _judge(results, n, rule, args)
    while n < total and wants_more_blocks(res, policy, args.threshold):
        n = min(n + 2, total)
        res = _judge(results, n, rule, args)
    return res.table, n


def replay(records: list[dict[str, Any]], args: argparse.Namespace) -> pd.DataFrame:
    """One row per joined group, rule and policy: flagged or not, and the blocks used."""
    rows = []
    fixed = [int(x) for x in args.fixed.split(",") if x]
    for group in _groups(records, args.join):
        mode = group[0]["mode"]
        results = _joined(group)
        total = int(results.groupby("tag")["run_id"].nunique().min())
        for rule in args.rules.split(","):
            for n in fixed:
                if n <= total:
                    table = _judge(results, n, rule, args).table
                    rows.append((mode, rule, f"fixed-{n}", _outcome(table, mode, args.slow), n))
            for policy in ("ambiguous", "leaning"):
                table, used = _sequential(results, total, rule, policy, args)
                rows.append((mode, rule, f"seq-{policy}", _outcome(table, mode, args.slow), used))
    return pd.DataFrame(rows, columns=["mode", "rule", "policy", "flagged", "blocks"])


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """Rate (with its exact 95% interval) and blocks used, per mode, rule and policy."""
    from scipy.stats import binomtest

    out = []
    for (mode, rule, policy), g in df.groupby(["mode", "rule", "policy"], sort=False):
        k, n = int(g["flagged"].sum()), len(g)
        ci = binomtest(k, n).proportion_ci(0.95)
        out.append(
            {
                "mode": mode,
                "rule": rule,
                "policy": policy,
                "groups": n,
                "flagged": k,
                "rate": f"{k / n:.1%} ({ci.low:.1%}-{ci.high:.1%})",
                "blocks_mean": round(float(g["blocks"].mean()), 1),
                "blocks_max": int(g["blocks"].max()),
            }
        )
    return pd.DataFrame(out)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("jsonl", type=Path, nargs="+", help="gate_false_alarms.py --out files")
    ap.add_argument("--join", type=int, default=2, help="evaluations joined per group")
    ap.add_argument("--fixed", default="10,20", help="fixed block counts to judge at")
    ap.add_argument("--start", type=int, default=10, help="blocks before a sequential look")
    ap.add_argument("--rules", default="strict,estimate")
    ap.add_argument("--threshold", type=float, default=0.05)
    ap.add_argument("--alpha", type=float, default=0.01)
    ap.add_argument("--slow", default="softmax")
    ap.add_argument("--out", type=Path, default=None, help="CSV of every group's outcome")
    args = ap.parse_args()
    records = []
    for f in args.jsonl:
        mode = "ab" if "ab" in f.stem.split("-") else "aa"
        records += [{**json.loads(line), "mode": mode} for line in f.read_text().splitlines()]
    df = replay(records, args)
    if args.out:
        df.to_csv(args.out, index=False)
    print(summary(df).to_string(index=False))


if __name__ == "__main__":
    main()
