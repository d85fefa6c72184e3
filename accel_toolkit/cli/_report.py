"""``accel-toolkit report``: one self-contained HTML report from the results store."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def _report(args: argparse.Namespace) -> int:
    import sys

    from ..report import build_report
    from ..store import open_store

    baseline = None if args.baseline in ("", "none") else args.baseline
    report = build_report(
        open_store(args.db, create=False),
        run_ids=args.runs,
        tag=args.tag,
        baseline=baseline,
        title=args.title,
        charts="static" if args.static else "interactive",
    )
    path = report.write(args.out)
    ctx = report.context
    ok = set(ctx.results.loc[ctx.results["status"] == "ok", "backend"])
    if baseline and baseline not in ok:
        have = ", ".join(sorted(ok)) or "none"
        print(
            f"accel-toolkit: warning: --baseline {baseline} has no successful results in "
            f"the selected runs (backends with results: {have}), so the report has no "
            f"speedups; pass --baseline with one of those, or bench {baseline} too.",
            file=sys.stderr,
        )
    print(
        f"wrote {path} ({len(ctx.results)} results from {len(ctx.run_ids)} run(s) in "
        f"{ctx.store.path})"
    )
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "report",
        help="write a self-contained HTML report (renders offline)",
        description="Write one HTML file with the summary, environment, a section per kernel "
        "(charts and tables), failures and how to reproduce every run. It needs no network.",
    )
    p.add_argument(
        "--db",
        help="DuckDB file (default: $ACCEL_TOOLKIT_DB or "
        "~/.local/share/accel_toolkit/results.duckdb)",
    )
    sel = p.add_mutually_exclusive_group()
    sel.add_argument("--tag", help="only runs with this tag")
    sel.add_argument("--runs", nargs="+", metavar="ID", help="only these run ids")
    p.add_argument(
        "--baseline",
        default="cpu",
        help="backend the speedups are relative to (default cpu; 'none' for none)",
    )
    p.add_argument("--title", default=None, help="page title")
    p.add_argument(
        "--static",
        action="store_true",
        help="inline SVG charts rendered in Python (no JavaScript, no tooltips)",
    )
    p.add_argument("--out", default="report.html", help="output file (default report.html)")
    p.set_defaults(func=_report)
