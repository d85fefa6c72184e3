"""``accel-toolkit ab``: two code versions measured interleaved in one job, then gated.

Exit statuses: 0 nothing slower by more than the threshold; 1 something is (a configuration,
or the suite as a whole); 2 usage error, including a ref that does not exist or fails to
import or measure (nothing is written to the database then).
"""

from __future__ import annotations

import argparse
import json
import sys

__all__ = ["register"]


def _ab(args: argparse.Namespace) -> int:
    from .._ab import ab
    from ..analysis._rounds import rounds_json
    from ._check import _threshold

    res = ab(
        args.baseline,
        args.candidate,
        kernels=args.kernels,
        backends=args.backends,
        preset=None if args.grid else args.preset,
        grid=args.grid,
        dtype=args.dtype,
        time_budget=args.time_budget,
        blocks=args.blocks,
        passes=args.passes,
        interleave=args.interleave,
        sequential=args.sequential,
        max_blocks=max(args.max_blocks, args.blocks),
        db=args.db,
        repo=args.repo,
        baseline_python=args.baseline_python,
        candidate_python=args.candidate_python,
        tag_prefix=args.tag_prefix,
        threshold=_threshold(args.threshold),
        alpha=args.alpha,
        test=args.test,
        control=args.control.split(";") if args.control else None,
        statistic=args.statistic,
        rule=args.rule,
        threads=args.threads,
    )
    if args.format == "json":
        print(
            json.dumps(
                {
                    **rounds_json(res.comparison),
                    "tags": res.tags,
                    "commits": res.commits,
                    "blocks": res.blocks,
                    "wall_s": res.wall_s,
                    "db": res.db,
                },
                default=str,
                indent=1,
            )
        )
    else:
        print(res.markdown)
    print(
        f"accel-toolkit: stored as tags {res.tags['baseline']!r} and "
        f"{res.tags['candidate']!r} in {res.db}",
        file=sys.stderr,
    )
    return res.status


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from .._ab import (
        DEFAULT_BLOCKS,
        DEFAULT_MAX_BLOCKS,
        DEFAULT_PASSES,
        DEFAULT_RULE,
        DEFAULT_SEQUENTIAL,
        DEFAULT_THREADS,
        SEQUENTIAL,
    )

    p = sub.add_parser(
        "ab",
        help="CI gate in one job: measure two git refs (or environments) interleaved "
        "A B | B A, store both, exit 1 if the candidate is slower",
        description="Check out --baseline and --candidate (git refs of --repo) into throwaway "
        "worktrees and run each with this Python first on PYTHONPATH (the package is pure "
        "Python), or run two named interpreters (--baseline-python/--candidate-python). In each "
        "block a fresh process per side, both pinned to one core, take turns configuration by "
        "configuration (A B, then B A) for --passes passes; a block's log ratio is the median "
        "of its passes' paired ratios. Per block "
        "and configuration, log(candidate/baseline) less the block's shared shift is tested "
        "over blocks with Holm's correction. Exit 0: nothing slower by more than the "
        "threshold; 1: something is; 2: usage error or a ref that cannot be measured.",
    )
    p.add_argument("--baseline", required=True, help="git ref (or environment name)")
    p.add_argument("--candidate", required=True, help="git ref (or environment name)")
    p.add_argument("--kernels", required=True, help="comma-separated kernel names")
    p.add_argument("--backends", default="cpu", help="comma-separated backends (default cpu)")
    p.add_argument("--preset", default="tiny", help="tiny | small | medium | large (default tiny)")
    p.add_argument("--grid", metavar="FILE.json", help="measure exactly these configurations")
    p.add_argument("--dtype", help="float32, float16 or both comma-separated")
    p.add_argument(
        "--time-budget",
        type=float,
        default=None,
        help="seconds of sampling per configuration and pass (each pass gives one median; "
        "the blocks are the samples)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=DEFAULT_THREADS,
        help=f"BLAS/OpenMP threads of both sides (default {DEFAULT_THREADS}: a second BLAS "
        "thread waiting for a shared core costs a scheduler quantum; 0: the environment's)",
    )
    p.add_argument(
        "--blocks",
        type=int,
        default=DEFAULT_BLOCKS,
        help=f"blocks, each a fresh process per side (default {DEFAULT_BLOCKS})",
    )
    p.add_argument(
        "--interleave",
        choices=["config", "process"],
        default="config",
        help="config (default): in each block the two sides' processes, on one core, take "
        "turns configuration by configuration; process: one side's process, then the "
        "other's (needed for refs that predate taking turns)",
    )
    p.add_argument(
        "--passes",
        type=int,
        default=DEFAULT_PASSES,
        help=f"shuffled passes over the configurations in each block's processes; a block's "
        f"figure is their median (default {DEFAULT_PASSES})",
    )
    p.add_argument(
        "--sequential",
        nargs="?",
        const=DEFAULT_SEQUENTIAL,
        default=DEFAULT_SEQUENTIAL,
        choices=SEQUENTIAL,
        help="when to add blocks two at a time, up to --max-blocks: leaning (default) while a "
        "configuration's estimate is above the threshold but it is not yet slower; ambiguous "
        "while any configuration is ambiguous; off: exactly --blocks",
    )
    p.add_argument(
        "--max-blocks",
        type=int,
        default=DEFAULT_MAX_BLOCKS,
        help=f"cap of --sequential (default {DEFAULT_MAX_BLOCKS})",
    )
    p.add_argument(
        "--threshold", default="5%", help="smallest change that counts: 5%% or 0.05 (default 5%%)"
    )
    p.add_argument(
        "--alpha",
        type=float,
        default=0.01,
        help="the gate's family-wise false-alarm level (default 0.01)",
    )
    p.add_argument(
        "--statistic",
        choices=["median", "min"],
        default="median",
        help="each round's figure: its median (default) or its fastest sample",
    )
    p.add_argument(
        "--rule",
        choices=["estimate", "strict"],
        default=DEFAULT_RULE,
        help="strict: slower when the Holm-adjusted lower bound of the ratio clears the "
        "threshold; estimate: when significantly above 1 and the estimate above the threshold "
        f"(about a quarter of the blocks); default {DEFAULT_RULE}",
    )
    p.add_argument(
        "--test",
        choices=["t", "sign-flip", "signed-rank"],
        default="t",
        help="test over blocks (default t; signed-rank: Wilcoxon with the Hodges-Lehmann "
        "estimate, robust to a few blocks thrown far off, from about 16 blocks)",
    )
    p.add_argument(
        "--control",
        help="configuration label(s) (;-separated) whose change is "
        "each block's shared shift, instead of the median over configurations",
    )
    p.add_argument("--repo", default=".", help="the git repository of the refs (default .)")
    p.add_argument(
        "--baseline-python",
        help="interpreter of the baseline's environment (then --baseline is only its name)",
    )
    p.add_argument("--candidate-python", help="interpreter of the candidate's environment")
    p.add_argument("--tag-prefix", help="prefix of the two tags (default ab-<time>-<id>)")
    p.add_argument("--format", choices=["markdown", "json"], default="markdown")
    p.add_argument(
        "--db",
        help="DuckDB file both sides are stored in (default: "
        "$ACCEL_TOOLKIT_DB or ~/.local/share/accel_toolkit/results.duckdb)",
    )
    p.set_defaults(func=_ab)
