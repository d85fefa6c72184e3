"""Core subcommands: doctor, kernels, query, export, import, verify."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .._driver_noise import quiet_driver_noise

__all__ = ["register"]


def _doctor(args: argparse.Namespace) -> int:
    from ..backends import doctor

    with quiet_driver_noise():
        found = doctor(args.backends.split(",") if args.backends else None)
    if args.json:
        print(json.dumps([a.as_dict() for a in found], indent=2, default=str))
        return 0
    for a in found:
        mark = "yes" if a.available else "no "
        dev = a.device.get("name", "") if a.device else ""
        print(f"{a.name:8s} {mark}  {dev}")
        print(f"{'':8s}      {a.reason}")
    from ..backends._pool import CORES_PER_BROWSER, default_browsers

    print(
        f"browser pool: {default_browsers()} browser(s) by default (one per "
        f"{CORES_PER_BROWSER} cores; bench --browsers N, accel-toolkit worker --browsers N)"
    )
    return 0


def _kernels(args: argparse.Namespace) -> int:
    from .._api import list_kernels
    from ._format import print_frame

    print_frame(list_kernels(), args.format)
    return 0


def _query(args: argparse.Namespace) -> int:
    from ..store import open_store
    from ._format import print_frame

    print_frame(open_store(args.db, create=False).query(args.sql), args.format)
    return 0


def _export(args: argparse.Namespace) -> int:
    from ..store import open_store
    from ..store._schema import KEYS

    store = open_store(args.db, create=False)
    written = store.export_parquet(args.folder, skip_unreadable=True)
    for p in written:
        print(p)
    lost = [t for t in KEYS if t not in {p.stem for p in written}]
    if lost:
        print(
            f"accel-toolkit: warning: {store.path} is corrupt; table(s) {', '.join(lost)} "
            f"could not be read and were not exported (`accel-toolkit verify --db "
            f"{store.path}` shows why).",
            file=sys.stderr,
        )
        return 1
    return 0


def _import_source(folder: str) -> Path:
    """``folder``, or the reference sweep shipped in the package when it is named and absent."""
    from ..store import reference_data

    path = Path(folder)
    if not path.exists() and path.name == "reference-small":
        return reference_data("reference-small")
    return path


def _import(args: argparse.Namespace) -> int:
    from ..store import open_store

    store = open_store(args.db)
    for folder in args.folders:
        source = _import_source(folder)
        added = store.import_parquet(source)
        where = "" if str(source) == folder else f" (the copy shipped in {source})"
        print(f"{folder}{where}: " + ", ".join(f"{k} +{v}" for k, v in added.items()))
    return 0


def _verify(args: argparse.Namespace) -> int:
    from ..exceptions import NotADatabaseError
    from ..store import open_store
    from ._format import print_frame

    try:
        store = open_store(args.db, create=False)
        table = store.verify()
    except NotADatabaseError as exc:
        print(f"accel-toolkit: {exc}", file=sys.stderr)
        return 1
    print_frame(table.fillna(""), args.format)
    bad = table[~table["ok"]]
    if len(bad):
        print(
            f"accel-toolkit: {store.path} is corrupt: {', '.join(bad['table'])} cannot be "
            f"read in full. Restore it from a backup, or save the readable tables with "
            f"`accel-toolkit export FOLDER --db {store.path}`.",
            file=sys.stderr,
        )
        return 1
    print(f"{store.path}: every table reads back ({int(table['rows'].sum())} rows).")
    return 0


def _db_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db",
        help="DuckDB file (default: $ACCEL_TOOLKIT_DB or "
        "~/.local/share/accel_toolkit/results.duckdb)",
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("doctor", help="which backends run here, why not, and on which device")
    p.add_argument(
        "--json", action="store_true", help="a JSON list of {name, available, reason, device}"
    )
    p.add_argument("--backends", help="only these (comma-separated)")
    p.set_defaults(func=_doctor)

    p = sub.add_parser("kernels", help="list the kernel library")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.set_defaults(func=_kernels)

    p = sub.add_parser(
        "query",
        help="run read-only SQL against the results database",
        description="Run SQL on an existing database, read-only: it cannot write the "
        "database or other files, nor install extensions (use export for Parquet).",
    )
    p.add_argument("sql", help='e.g. "SELECT kernel, backend, median_s FROM results"')
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    _db_arg(p)
    p.set_defaults(func=_query)

    p = sub.add_parser("export", help="write every table to Parquet files in a folder")
    p.add_argument("folder")
    _db_arg(p)
    p.set_defaults(func=_export)

    p = sub.add_parser(
        "import", help="merge Parquet exports (from other machines) without duplicates"
    )
    p.add_argument(
        "folders",
        nargs="+",
        help="folders written by export; 'reference-small' is the reference sweep "
        "shipped with the package",
    )
    _db_arg(p)
    p.set_defaults(func=_import)

    p = sub.add_parser(
        "verify",
        help="read every table of a database and say whether it is intact",
        description="Exit 0: every row of every table reads back; 1: the file is damaged "
        "(the tables that fail are listed; export saves the others).",
    )
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    _db_arg(p)
    p.set_defaults(func=_verify)
