"""``accel-toolkit notebook``: run the shipped notebooks through papermill."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from ..notebooks import parse_value, run_notebook

    params = {name: parse_value(value) for name, value in (args.parameter or [])}
    run = run_notebook(
        args.notebook,
        params,
        args.output,
        db=args.db,
        log_output=args.log_output,
        progress_bar=args.progress,
    )
    print(f"executed notebook: {run.output}")
    if run.run_ids:
        print(f"runs stored: {', '.join(run.run_ids)}")
    return 0


def _list(args: argparse.Namespace) -> int:
    import papermill as pm

    from ..notebooks import NOTEBOOKS, notebook_path

    for name in NOTEBOOKS:
        path = notebook_path(name)
        params = pm.inspect_notebook(str(path))
        print(f"{name}  ({path})")
        for p in params.values():
            help_ = f"  # {p['help']}" if p.get("help") else ""
            print(f"    -p {p['name']} {p['default']}{help_}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("notebook", help="run the benchmark/report/explore notebooks (papermill)")
    nsub = p.add_subparsers(dest="notebook_command", metavar="ACTION")
    nsub.required = True
    r = nsub.add_parser(
        "run",
        help="execute a notebook with parameters",
        description="Execute notebooks/NAME.ipynb with papermill. The executed notebook's path "
        "is recorded with every run it stores. Example: accel-toolkit notebook run benchmark "
        "-p kernels matmul,softmax -p backends cpu,webgpu --output out/",
    )
    r.add_argument("notebook", help="benchmark, report, explore, or a path to an .ipynb")
    r.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        metavar=("NAME", "VALUE"),
        help="a notebook parameter (repeatable); values like 0.5, 3, true, none and "
        "JSON lists/dicts are converted, anything else is a string",
    )
    r.add_argument(
        "--output", "-o", default=None, help="executed notebook (.ipynb) or a folder (default out/)"
    )
    r.add_argument("--db", help="results database (the notebook's db_path parameter)")
    r.add_argument("--log-output", action="store_true", help="stream the notebook's output")
    r.add_argument("--progress", action="store_true", help="show papermill's cell progress bar")
    r.set_defaults(func=_run)
    ls = nsub.add_parser("list", help="the notebooks and their parameters")
    ls.set_defaults(func=_list)
