"""``accel-toolkit bench``: measure a sweep (a preset or a ``--grid`` file), or resume one."""

from __future__ import annotations

import argparse
import difflib
import json
import math
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = ["read_grid", "register"]

#: the values a fresh (not resumed) sweep takes for options left out
DEFAULTS = {"backends": "cpu", "preset": "tiny", "dtype": "float32", "seed": 0, "rounds": 3}


def read_grid(path: str) -> list[dict[str, Any]] | dict[str, list[dict[str, Any]]]:
    """A ``--grid`` file: a JSON list of parameter dicts, or ``{kernel: [dicts]}``."""
    from ..exceptions import ConfigError

    example = '[{"rows": 512, "cols": 512}] or {"softmax": [{"rows": 512, "cols": 512}]}'
    try:
        grid = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"Cannot read --grid {path}: {exc}. Give a JSON file like {example}."
        ) from None

    def is_configs(v: Any) -> bool:
        return isinstance(v, list) and bool(v) and all(isinstance(c, dict) for c in v)

    if is_configs(grid) or (
        isinstance(grid, dict) and grid and all(is_configs(v) for v in grid.values())
    ):
        return grid  # type: ignore[no-any-return]
    raise ConfigError(
        f"--grid {path} must hold a non-empty JSON list of parameter dicts or a "
        f"{{kernel: [dicts]}} mapping, e.g. {example}."
    )


def parse_pins(items: list[str] | None, kernels: list[str]) -> dict[str, Any]:
    """``--param K=V`` pins, each checked against the parameters of ``kernels``."""
    from ..exceptions import ParameterError
    from ..kernels import get_kernel

    names = sorted({p for k in kernels for p in get_kernel(k).param_names})
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ParameterError(f"--param expects K=V (e.g. --param M=128), got {item!r}.")
        k, v = (part.strip() for part in item.split("=", 1))
        if k not in names:
            close = difflib.get_close_matches(k, names, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ParameterError(
                f"--param {k}: none of the kernels {', '.join(kernels)} has a "
                f"parameter {k!r}.{hint} Parameters: {', '.join(names)}."
            )
        out[k] = v
    return out


def _time_budget(value: float | None) -> float | None:
    from ..exceptions import ConfigError

    if value is not None and not (math.isfinite(value) and value > 0):
        raise ConfigError(
            f"--time-budget must be a positive number of seconds per "
            f"configuration (e.g. 0.5), got {value:g}."
        )
    return value


def _shuffle(value: str | None) -> bool | int:
    from ..exceptions import ConfigError

    if value is None:
        return False
    if value == "random":
        return True
    try:
        seed = int(value)
    except ValueError:
        seed = -1
    if seed < 0:
        raise ConfigError(f"--shuffle takes a non-negative integer seed or nothing, got {value!r}.")
    return seed


def _recorded(args: argparse.Namespace) -> dict[str, Any]:
    """The run ``--resume`` names: its settings and seed, as ``bench`` keywords."""
    from ..exceptions import ConfigError
    from ..harness import TimingSettings
    from ..store import open_store

    store = open_store(args.db, create=False)
    runs = store.query("SELECT settings, seed FROM runs WHERE run_id = ?", [args.resume])
    if runs.empty:
        raise ConfigError(
            f"No run {args.resume!r} in {store.path} to resume; "
            f'`accel-toolkit query "SELECT run_id, status FROM runs" --db '
            f"{store.path}` lists them."
        )
    s = json.loads(runs["settings"].iloc[0] or "{}")
    fields = set(TimingSettings.__dataclass_fields__)
    seed = runs["seed"].iloc[0]
    return {
        "kernels": s.get("kernels"),
        "backends": s.get("backends"),
        "preset": s.get("preset"),
        "grid": s.get("grid"),
        "params": s.get("params"),
        "dtypes": s.get("dtypes"),
        "seed": None if seed is None or seed != seed else int(seed),
        "settings": TimingSettings(**{k: v for k, v in s.items() if k in fields}),
        "rounds": s.get("rounds", 1),  # runs from before rounds measured one
    }


def bench_keywords(args: argparse.Namespace) -> dict[str, Any]:
    """The :func:`accel_toolkit.bench` keywords of a ``bench`` command line.

    With ``--resume``, options left out take the run's recorded values; options given must
    match them (``bench`` refuses a resume that differs from the run's plan).
    """
    from ..exceptions import ConfigError
    from ..harness import TimingSettings

    base = _recorded(args) if args.resume else {}
    if args.grid and args.preset:
        raise ConfigError("Pass --grid FILE or --preset NAME, not both.")
    kernels = args.kernels or ",".join(base.get("kernels") or [])
    if not kernels:
        raise ConfigError(
            "--kernels is required (e.g. --kernels matmul,softmax), unless "
            "--resume RUN_ID names a run to continue."
        )
    names = [k.strip() for k in kernels.split(",") if k.strip()]
    grid = read_grid(args.grid) if args.grid else base.get("grid")
    preset = args.preset or (None if args.grid else base.get("preset", DEFAULTS["preset"]))
    if grid is None and preset is None:
        preset = DEFAULTS["preset"]
    pins = parse_pins(args.param, names) if args.param else base.get("params")
    budget = _time_budget(args.time_budget)
    settings = (
        TimingSettings.from_budget(budget)
        if budget is not None or not args.resume
        else base["settings"]
    )
    seed = args.seed if args.seed is not None else base.get("seed")
    return {
        "kernels": kernels,
        "backends": args.backends or base.get("backends") or DEFAULTS["backends"],
        "preset": None if grid is not None else preset,
        "grid": grid,
        "params": pins or None,
        "dtypes": args.dtype or base.get("dtypes") or DEFAULTS["dtype"],
        "seed": DEFAULTS["seed"] if seed is None else seed,
        "settings": settings,
        "resume": args.resume,
        "rounds": base.get("rounds", DEFAULTS["rounds"]) if args.rounds is None else args.rounds,
    }


def _interrupted(db: str | None, command: str, resume: str | None, started: datetime) -> int:
    """Say which run Ctrl-C stopped, what it kept and how to resume it; exit status 130."""
    from ..store import open_store

    try:
        store = open_store(db, create=False)
        if resume:
            run_id: str | None = resume
        else:
            runs = store.query(
                "SELECT run_id FROM runs WHERE command = ? AND created_at >= ? "
                "ORDER BY created_at DESC LIMIT 1",
                [command, started],
            )
            run_id = None if runs.empty else str(runs["run_id"].iloc[0])
        if run_id is None:
            raise LookupError
        n = int(
            store.query("SELECT count(*) AS n FROM measurements WHERE run_id = ?", [run_id])[
                "n"
            ].iloc[0]
        )
    except Exception:  # the message must not fail; fall back to the generic one
        print("accel-toolkit: interrupted; results measured so far are stored.", file=sys.stderr)
        return 130
    again = shlex.join(["accel-toolkit", "bench", "--resume", run_id, "--db", str(store.path)])
    print(
        f"accel-toolkit: interrupted; run {run_id} keeps the {n} result(s) measured so far "
        f"in {store.path}. Resume it with: {again}",
        file=sys.stderr,
    )
    return 130


def _bench(args: argparse.Namespace) -> int:
    from .._api import bench
    from ..analysis._drift import drift_line, round_drift
    from ..models._bench import bench_models_command, check_model_flags
    from ..store import open_store
    from ._format import print_frame, summary_table

    check_model_flags(vars(args))
    if args.models:  # whole models (accel_toolkit.models), not kernels
        return bench_models_command(
            args.models,
            args.backends,
            args.batch,
            args.seq,
            db=args.db,
            tag=args.tag,
            command=shlex.join(["accel-toolkit", *args.argv]),
            time_budget=_time_budget(args.time_budget),
            seed=args.seed,
            as_json=args.json,
            dtype=args.dtype,
        )
    keywords = bench_keywords(args)
    command = shlex.join(["accel-toolkit", *args.argv])
    started = datetime.now(timezone.utc)
    try:
        df = bench(
            **keywords,
            db=args.db,
            tag=args.tag,
            command=command,
            progress=not args.json and sys.stderr.isatty(),
            shuffle=_shuffle(args.shuffle),
            cluster=args.cluster,
            parallel=args.parallel,
            where=args.where,
            browsers=args.browsers,
        )
    except KeyboardInterrupt:
        return _interrupted(args.db, command, args.resume, started)
    if args.json:
        print(df.to_json(orient="records", date_format="iso", default_handler=str))
    else:
        print_frame(summary_table(df))
        run = df["run_id"].iloc[0] if len(df) else "-"
        print(f"\n{len(df)} results stored in {open_store(args.db).path} (run {run})")
        drift = drift_line(round_drift(df)) if keywords["rounds"] > 1 else None
        if drift:
            print(drift)
        elif keywords["rounds"] == 1 and len(df) and (df["status"] == "ok").any():
            print(
                "One round: each 99% CI says how precise this run was, not how well the "
                "figure reproduces at another time. For figures you will compare later, run "
                "--rounds 3 or more (docs/reproducibility.md)."
            )
    bad = df["status"].isin(["error", "mismatch"]).sum() if len(df) else 0
    return 1 if bad else 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "bench",
        help="benchmark kernels x presets x backends and store the results",
        description="Measure kernels x configurations x backends and store every result. "
        "The configurations are a preset (--preset) or exactly those of a JSON file (--grid). "
        "--resume RUN_ID continues an interrupted run with its recorded plan.",
    )
    p.add_argument("--kernels", help="comma-separated kernel names (required unless --resume)")
    p.add_argument(
        "--models",
        help="comma-separated model names instead of kernels "
        "(minilm-l6, vit-b16, whisper-tiny-encoder); rows are kernel 'model:<name>' "
        "with a per-op breakdown in the op_breakdown table",
    )
    p.add_argument("--batch", help="with --models: comma-separated batch sizes (default 1)")
    p.add_argument("--seq", help="with --models: comma-separated sequence lengths (default 32)")
    p.add_argument("--backends", help="comma-separated backends (default cpu)")
    p.add_argument("--preset", help="tiny | small | medium | large (default tiny)")
    p.add_argument(
        "--grid",
        metavar="FILE.json",
        help="measure exactly these configurations: a JSON list of parameter dicts, "
        "or {kernel: [dicts]}",
    )
    p.add_argument("--param", action="append", metavar="K=V", help="pin a parameter (repeatable)")
    p.add_argument("--dtype", help="float32, float16 or both comma-separated (default float32)")
    p.add_argument("--seed", type=int, default=None, help="input seed (default 0)")
    p.add_argument(
        "--time-budget",
        type=float,
        default=None,
        help="seconds of sampling per configuration (positive)",
    )
    p.add_argument("--tag", default=None, help="label for the run")
    p.add_argument(
        "--resume",
        metavar="RUN_ID",
        help="continue this run: measure only what it has not stored, with its "
        "recorded kernels, configurations, backends and timing",
    )
    p.add_argument(
        "--shuffle",
        nargs="?",
        const="random",
        default=None,
        metavar="SEED",
        help="measure configurations in a random order (optionally seeded), so "
        "drift during the sweep biases no group of them",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=None,
        metavar="K",
        help="measure every configuration K times, in K rounds of their own "
        "shuffled order, each calibrated afresh (default 3; with --resume, the "
        "run's own); the spread across rounds says how well a figure reproduces. "
        "--rounds 1 is a third of the time, for a quick look",
    )
    p.add_argument(
        "--cluster",
        metavar="tcp://HOST:8786",
        help="measure on this Dask cluster's workers (`accel-toolkit worker`); the "
        "results are written here",
    )
    p.add_argument(
        "--parallel",
        type=int,
        default=None,
        metavar="N",
        help="measure on a LocalCluster of N worker processes on this machine",
    )
    p.add_argument(
        "--where",
        choices=["any", "all"],
        default="any",
        help="on a cluster: each configuration on any one machine offering its "
        "backend (default), or on all of them",
    )
    p.add_argument(
        "--browsers",
        type=int,
        default=None,
        metavar="N",
        help="browsers per pool (default: what the cores can feed; see doctor)",
    )
    p.add_argument("--json", action="store_true", help="print the stored rows as JSON")
    p.add_argument(
        "--db",
        help="DuckDB file (default: $ACCEL_TOOLKIT_DB or "
        "~/.local/share/accel_toolkit/results.duckdb)",
    )
    p.set_defaults(func=_bench)
