"""Subcommands ``compare``, ``check`` (the CI gate) and ``regressions``.

Exit statuses of ``check``: 0 no configuration significantly slower by more than the
threshold; 1 at least one is; 2 usage error (unknown tag, missing database, bad option).
``--threshold`` takes a percent (``5%``) or a fraction (``0.05``); a bare number above 1 is
refused as ambiguous (:func:`accel_toolkit.parse_threshold`, shared with
:func:`accel_toolkit.check`).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["register"]


def _threshold(text: str) -> float:
    """``--threshold``: a percent (``5%``) or a fraction (``0.05``); ``5`` alone is refused."""
    import warnings

    from .._check import parse_threshold
    from ..exceptions import ConfigError

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = parse_threshold(text)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    for w in caught:
        print(f"accel-toolkit: warning: {w.message}", file=sys.stderr)
    return value


def _existing_store(db: str | None):  # type: ignore[no-untyped-def]
    from ..store import open_store

    return open_store(db, create=False)


def _compare_frame(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from ..analysis import compare

    return compare(
        _existing_store(args.db),
        baseline=args.baseline,
        candidate=args.candidate,
        by=args.by,
        alpha=args.alpha,
        threshold=args.threshold,
        kernels=args.kernels.split(",") if args.kernels else None,
        backends=args.backends.split(",") if args.backends else None,
    )


def _printable(df: pd.DataFrame) -> pd.DataFrame:
    from ..analysis import describe_series
    from ._format import _fmt_time

    if df.empty:
        return df

    def pct(v: float) -> str:
        return "-" if v != v else f"{(v - 1) * 100:+.1f}%"

    # runs with rounds: the larger spread of the two sides across their rounds (NaN: one round)
    worst = df[["baseline_round_spread", "candidate_round_spread"]].max(axis=1)
    cols = ["config", "baseline", "candidate", "change", "ci", "p", "test", "verdict"]
    if worst.notna().any():
        cols.insert(5, "round spread")
    return df.assign(
        **{"round spread": worst.map(lambda v: "-" if v != v else f"{v:.1%}")},
        config=describe_series(df),
        baseline=df["baseline_median_s"].map(_fmt_time),
        candidate=df["candidate_median_s"].map(_fmt_time),
        change=df["ratio"].map(pct),
        ci=[
            f"[{pct(a)}, {pct(b)}]"
            for a, b in zip(df["ratio_ci_low"], df["ratio_ci_high"], strict=True)
        ],
        p=df["p_value"].map(lambda v: "-" if v != v else f"{v:.2g}"),
    )[cols]


def _compare(args: argparse.Namespace) -> int:
    from ..analysis import gate_json, gate_markdown
    from ._format import print_frame

    df = _compare_frame(args)
    if args.format == "json":
        print(json.dumps(gate_json(df), default=str, indent=1))
    elif args.format == "markdown":
        print(gate_markdown(df))
    else:
        print_frame(_printable(df))
    return 0


def _check(args: argparse.Namespace) -> int:
    from .._check import check

    verdict = check(
        _existing_store(args.db),
        baseline=args.baseline,
        candidate=args.candidate,
        by=args.by,
        alpha=args.alpha,
        threshold=f"{args.threshold * 100:.12g}%",
        kernels=args.kernels.split(",") if args.kernels else None,
        backends=args.backends.split(",") if args.backends else None,
    )
    if args.format == "json":
        print(json.dumps(verdict.as_dict(), default=str, indent=1))
    else:
        print(verdict.markdown)
    return verdict.status


def _regressions(args: argparse.Namespace) -> int:
    from ..analysis import describe_series, detect_regressions
    from ._format import _fmt_time, print_frame

    steps = detect_regressions(
        _existing_store(args.db),
        series_filter=args.filter,
        threshold=args.threshold,
        save=not args.no_save,
    )
    if args.format == "json":
        print(steps.to_json(orient="records", date_format="iso", default_handler=str))
        return 0
    n = steps.attrs.get("n_series", 0)
    if steps.empty:
        print(
            f"No steps larger than {args.threshold:.0%} and the noise in {n} series "
            f"({steps.attrs.get('n_points', 0)} points)."
        )
        return 0
    table = steps.assign(
        config=describe_series(steps),
        change=steps["ratio"].map(lambda r: f"{(r - 1) * 100:+.1f}%"),
        ci=[
            f"[{(a - 1) * 100:+.1f}%, {(b - 1) * 100:+.1f}%]"
            for a, b in zip(steps["ratio_ci_low"], steps["ratio_ci_high"], strict=True)
        ],
        before=steps["before_s"].map(_fmt_time),
        after=steps["after_s"].map(_fmt_time),
        start=steps["start_time"].astype(str).str[:19],
    )[
        [
            "kind",
            "config",
            "change",
            "ci",
            "before",
            "after",
            "start",
            "before_run_id",
            "start_run_id",
        ]
    ]
    print_frame(table, args.format)
    print(
        f"\n{len(steps)} step(s) in {n} series"
        + ("" if args.no_save else " (stored in table regressions)")
    )
    return 0


def _db_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db",
        help="DuckDB file (default: $ACCEL_TOOLKIT_DB or "
        "~/.local/share/accel_toolkit/results.duckdb)",
    )


def _compare_args(p: argparse.ArgumentParser, default_threshold: str) -> None:
    from ..analysis import BY_COLUMNS

    p.add_argument("--baseline", required=True, help="baseline label (a tag by default)")
    p.add_argument("--candidate", required=True, help="candidate label")
    p.add_argument(
        "--by", default="tag", choices=BY_COLUMNS, help="what the labels are (default tag)"
    )
    p.add_argument(
        "--threshold",
        type=_threshold,
        default=_threshold(default_threshold),
        help="smallest change that counts: a percent (5%%) or a fraction (0.05); "
        "a bare number above 1 is refused (default " + default_threshold.replace("%", "%%") + ")",
    )
    p.add_argument(
        "--alpha", type=float, default=0.002, help="Mann-Whitney significance level (default 0.002)"
    )
    p.add_argument("--kernels", help="only these kernels (comma-separated)")
    p.add_argument("--backends", help="only these backends (comma-separated)")
    _db_arg(p)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "compare", help="compare two tags / runs / commits / devices, per configuration"
    )
    _compare_args(p, "5%")
    p.add_argument("--format", choices=["table", "markdown", "json"], default="table")
    p.set_defaults(func=_compare)

    p = sub.add_parser(
        "check",
        help="CI gate: exit 1 if the candidate is significantly slower than the baseline",
        description="Exit 0: nothing significantly slower by more than the threshold; 1: something "
        "is; 2: usage error. Prints a Markdown summary for a pull-request comment (or JSON).",
    )
    _compare_args(p, "5%")
    p.add_argument("--format", choices=["markdown", "json"], default="markdown")
    p.set_defaults(func=_check)

    p = sub.add_parser(
        "regressions", help="detect steps in each configuration's history and store them"
    )
    p.add_argument(
        "--filter",
        help="substring of kernel/backend/venue/device/dtype, or an SQL "
        "condition on the results view",
    )
    p.add_argument(
        "--threshold",
        type=_threshold,
        default=_threshold("2%"),
        help="smallest step reported: a percent (2%%) or a fraction (0.02); default 2%%",
    )
    p.add_argument("--no-save", action="store_true", help="do not write the regressions table")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    _db_arg(p)
    p.set_defaults(func=_regressions)
