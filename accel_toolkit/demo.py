"""``make demo``: run the benchmark notebook on cpu, webgpu and webnn, then write a report.

Runs ``notebooks/benchmark.ipynb`` through papermill at the ``small`` preset into the
default results database (``$ACCEL_TOOLKIT_DB`` or ``~/.local/share/accel_toolkit/``),
then writes ``out/report.html`` for every run tagged ``demo`` (so a second demo shows a
history) and prints where everything is. A backend that cannot run here does not stop
the demo: its rows say why, and so does the report.

    python -m accel_toolkit.demo [--backends cpu,webgpu,webnn] [--out out/]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .kernels import kernel_names

__all__ = ["DEFAULTS", "main", "run_demo"]

#: what the demo measures: every kernel of the library, a few minutes on a 2-core machine
#: with browsers included
DEFAULTS: dict[str, str] = {
    "kernels": ",".join(kernel_names()),
    "backends": "cpu,webgpu,webnn",
    "preset": "small",
    "time_budget": "0.25",
    "tag": "demo",
}


def run_demo(
    *,
    out: str | Path = "out",
    db: str | Path | None = None,
    kernels: str = DEFAULTS["kernels"],
    backends: str = DEFAULTS["backends"],
    preset: str = DEFAULTS["preset"],
    time_budget: float = float(DEFAULTS["time_budget"]),
    tag: str = DEFAULTS["tag"],
    log_output: bool = False,
) -> dict[str, object]:
    """Run the benchmark notebook and write the report; return the paths and run ids."""
    from .notebooks import run_notebook
    from .report import build_report
    from .store import default_db_path

    out = Path(out)
    db_path = Path(db).expanduser() if db else default_db_path()
    db_path.parent.mkdir(parents=True, exist_ok=True)
    run = run_notebook(
        "benchmark",
        {
            "kernels": kernels,
            "backends": backends,
            "preset": preset,
            "time_budget": time_budget,
            "tag": tag,
        },
        out / "notebooks",
        db=db_path,
        log_output=log_output,
    )
    report = build_report(
        db_path, tag=tag, baseline="cpu", title="accel_toolkit demo: cpu vs WebGPU vs WebNN"
    )
    html = report.write(out / "report.html")
    rows = report.context.results
    mine = rows[rows["run_id"].isin(run.run_ids)]
    return {
        "notebook": run.output,
        "run_ids": run.run_ids,
        "db": db_path,
        "report": html,
        "status": mine.groupby(["backend", "status"]).size(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m accel_toolkit.demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", default="out", help="folder for the notebook and report.html")
    parser.add_argument("--db", default=None, help="results database (default: the default one)")
    for key in ("kernels", "backends", "preset", "tag"):
        parser.add_argument(f"--{key}", default=DEFAULTS[key])
    parser.add_argument("--time-budget", type=float, default=float(DEFAULTS["time_budget"]))
    parser.add_argument("--log-output", action="store_true", help="stream the notebook output")
    args = parser.parse_args(argv)

    from .exceptions import AccelToolkitError

    t0 = time.monotonic()
    print(
        f"accel_toolkit demo: {args.kernels} on {args.backends} ({args.preset} preset, "
        f"{args.time_budget:g} s per configuration) via notebooks/benchmark.ipynb ...",
        flush=True,
    )
    try:
        res = run_demo(
            out=args.out,
            db=args.db,
            kernels=args.kernels,
            backends=args.backends,
            preset=args.preset,
            time_budget=args.time_budget,
            tag=args.tag,
            log_output=args.log_output,
        )
    except AccelToolkitError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    status: Any = res["status"]
    print("\nresults of this run (backend, status, count):")
    for (backend, st), n in status.items():
        print(f"  {backend:8s} {st:12s} {n}")
    print(f"\nexecuted notebook : {res['notebook']}")
    print(f"runs stored       : {', '.join(res['run_ids'])}")  # type: ignore[arg-type]
    print(f"results database  : {res['db']}")
    print(f"report            : {Path(str(res['report'])).resolve()}")
    print(f"({time.monotonic() - t0:.0f} s)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
