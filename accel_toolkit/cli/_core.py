"""Core subcommands: doctor, kernels, bench, query, export, import."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["register"]


def _parse_pins(items: list[str] | None) -> dict[str, Any]:
    from ..exceptions import ParameterError

    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ParameterError(f"--param expects K=V (e.g. --param M=128), got {item!r}.")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _doctor(args: argparse.Namespace) -> int:
    from ..backends import doctor

    found = doctor(args.backends.split(",") if args.backends else None)
    if args.json:
        print(json.dumps([a.as_dict() for a in found], indent=2, default=str))
        return 0
    for a in found:
        mark = "yes" if a.available else "no "
        dev = a.device.get("name", "") if a.device else ""
        print(f"{a.name:8s} {mark}  {dev}")
        print(f"{'':8s}      {a.reason}")
    return 0


def _kernels(args: argparse.Namespace) -> int:
    from .._api import list_kernels
    from ._format import print_frame

    print_frame(list_kernels(), args.format)
    return 0


def _bench(args: argparse.Namespace) -> int:
    from .._api import bench
    from ._format import print_frame, summary_table

    df = bench(
        args.kernels, args.backends, preset=args.preset, params=_parse_pins(args.param),
        dtypes=args.dtype, seed=args.seed, time_budget=args.time_budget, db=args.db,
        tag=args.tag, command=" ".join(["accel-toolkit", *sys.argv[1:]]),
        progress=not args.json and sys.stderr.isatty(), shuffle=_shuffle(args.shuffle),
    )
    if args.json:
        print(df.to_json(orient="records", date_format="iso", default_handler=str))
    else:
        print_frame(summary_table(df))
        from ..store import open_store

        print(f"\n{len(df)} results stored in {open_store(args.db).path} (run {df['run_id'].iloc[0] if len(df) else '-'})")
    bad = df["status"].isin(["error", "mismatch"]).sum() if len(df) else 0
    return 1 if bad else 0


def _shuffle(value: str | None) -> bool | int:
    if value is None:
        return False
    if value == "random":
        return True
    try:
        return int(value)
    except ValueError:
        from ..exceptions import ConfigError

        raise ConfigError(f"--shuffle takes a non-negative integer seed or nothing, got {value!r}.") from None


def _query(args: argparse.Namespace) -> int:
    from ..store import open_store
    from ._format import print_frame

    print_frame(open_store(args.db).query(args.sql), args.format)
    return 0


def _export(args: argparse.Namespace) -> int:
    from ..store import open_store

    for p in open_store(args.db).export_parquet(args.folder):
        print(p)
    return 0


def _import(args: argparse.Namespace) -> int:
    from ..store import open_store

    store = open_store(args.db)
    for folder in args.folders:
        added = store.import_parquet(folder)
        print(f"{folder}: " + ", ".join(f"{k} +{v}" for k, v in added.items()))
    return 0


def _db_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", help="DuckDB file (default: $ACCEL_TOOLKIT_DB or "
                   "~/.local/share/accel_toolkit/results.duckdb)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="which backends run here, why not, and on which device")
    p.add_argument("--json", action="store_true", help="a JSON list of {name, available, reason, device}")
    p.add_argument("--backends", help="only these (comma-separated)")
    p.set_defaults(func=_doctor)

    p = sub.add_parser("kernels", help="list the kernel library")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.set_defaults(func=_kernels)

    p = sub.add_parser("bench", help="benchmark kernels x presets x backends and store the results")
    p.add_argument("--kernels", required=True, help="comma-separated kernel names")
    p.add_argument("--backends", default="cpu", help="comma-separated backends (default cpu)")
    p.add_argument("--preset", default="tiny", help="tiny | small | medium | large")
    p.add_argument("--param", action="append", metavar="K=V", help="pin a parameter (repeatable)")
    p.add_argument("--dtype", default="float32", help="float32, float16 or both comma-separated")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--time-budget", type=float, default=None, help="seconds of sampling per configuration")
    p.add_argument("--tag", default=None, help="label for the run")
    p.add_argument("--shuffle", nargs="?", const="random", default=None, metavar="SEED",
                   help="measure configurations in a random order (optionally seeded), so "
                        "drift during the sweep biases no group of them")
    p.add_argument("--json", action="store_true", help="print the stored rows as JSON")
    _db_arg(p)
    p.set_defaults(func=_bench)

    p = sub.add_parser("query", help="run SQL against the results database")
    p.add_argument("sql", help='e.g. "SELECT kernel, backend, median_s FROM results"')
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    _db_arg(p)
    p.set_defaults(func=_query)

    p = sub.add_parser("export", help="write every table to Parquet files in a folder")
    p.add_argument("folder")
    _db_arg(p)
    p.set_defaults(func=_export)

    p = sub.add_parser("import", help="merge Parquet exports (from other machines) without duplicates")
    p.add_argument("folders", nargs="+")
    _db_arg(p)
    p.set_defaults(func=_import)
