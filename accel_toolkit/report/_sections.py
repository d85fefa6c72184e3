"""Report sections: the built-in ones, and the plug-in ones of other toolkit modules.

A :class:`Section` has an id, a title and a ``build(ctx)`` function that returns blocks
(see :mod:`._blocks`). :data:`SECTIONS` lists the built-in sections in page order;
:data:`PLUGINS` names the functions of other toolkit modules (regression analysis,
prediction) that add a section each. A section that raises, or whose module does not
import, shows its error in the page instead of taking the report down or vanishing.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import charts
from ..kernels import kernel_names
from ._blocks import Block, ChartBlock, Code, ErrorBlock, Table, Text, to_blocks

__all__ = [
    "PLUGINS",
    "ReportContext",
    "SECTIONS",
    "Section",
    "build_section",
    "plugin_sections",
    "reproduce_command",
    "results_table",
]

BROWSER_BACKENDS = ("webgpu", "webnn", "wgpu")
STATUS_ORDER = ("ok", "mismatch", "error", "unsupported", "unavailable")


@dataclass
class ReportContext:
    """Everything a section may read: the selected rows, their runs and environments."""

    store: Any
    results: pd.DataFrame
    runs: pd.DataFrame
    environments: pd.DataFrame
    baseline: str | None
    run_ids: list[str]
    tag: str | None = None

    @property
    def ok(self) -> pd.DataFrame:
        return self.results[self.results["status"] == "ok"]

    @property
    def latest(self) -> pd.DataFrame:
        """The newest row of every configuration x backend."""
        return charts.latest(self.results)


@dataclass(frozen=True)
class Section:
    """One part of the report page."""

    id: str
    title: str
    build: Callable[[ReportContext], Any]


def build_section(section: Section, ctx: ReportContext) -> list[Block]:
    """The section's blocks, or one :class:`ErrorBlock` saying why it failed."""
    try:
        return to_blocks(section.build(ctx))
    except Exception as exc:
        return [ErrorBlock.from_exception(f"The section {section.title!r} failed", exc)]


# -- helpers ---------------------------------------------------------------------------


def _fmt_time(s: Any) -> str:
    try:
        s = float(s)
    except (TypeError, ValueError):
        return "–"
    if not np.isfinite(s):
        return "–"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if abs(s) >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s:.3g} s"


def _fmt_num(v: Any, fmt: str = ".3g") -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "–"
    return format(f, fmt) if np.isfinite(f) else "–"


def _params(p: Any) -> str:
    return charts.params_label(p)


def _try_chart(blocks: list[Block], title: str, make: Callable[[], Any], caption: str = "") -> None:
    try:
        blocks.append(ChartBlock(make(), caption))
    except Exception as exc:
        blocks.append(ErrorBlock.from_exception(f"The chart {title!r} could not be drawn", exc))


def _kernel_order(ctx: ReportContext) -> list[str]:
    have = list(dict.fromkeys(ctx.results["kernel"]))
    known = [k for k in kernel_names() if k in have]
    return known + [k for k in have if k not in known]


# -- built-in sections -----------------------------------------------------------------


def summary_section(ctx: ReportContext) -> list[Block]:
    df = ctx.results
    ok = ctx.ok
    t0, t1 = df["created_at"].min(), df["created_at"].max()
    n_cfg = df["config_key"].nunique()
    backends = ", ".join(dict.fromkeys(df["backend"]))
    blocks: list[Block] = [
        Text(
            f"{len(df)} measurements of {n_cfg} configurations of {df['kernel'].nunique()} kernels "
            f"on {backends}, from {len(ctx.runs)} run(s) between {t0:%Y-%m-%d %H:%M} and "
            f"{t1:%Y-%m-%d %H:%M} UTC. {len(ok)} succeeded and were checked against the numpy "
            f"reference; {len(df) - len(ok)} did not (see Failures)."
        )
    ]
    counts = (
        df.groupby(["backend", "status"])
        .size()
        .unstack(fill_value=0)
        .reindex(
            columns=[s for s in STATUS_ORDER if s in set(df["status"])]
            + sorted(set(df["status"]) - set(STATUS_ORDER)),
            fill_value=0,
        )
    )
    venues = df.groupby("backend")["venue"].agg(lambda v: ", ".join(sorted(set(v.dropna()))))
    devices = df.groupby("backend")["device"].agg(lambda v: ", ".join(sorted(set(v.dropna()))))
    counts.columns.name = None
    status = counts.assign(venue=venues, device=devices).reset_index()
    blocks.append(Table(status, "Results per backend and status"))
    ok_backends = set(ok["backend"])
    baseline = ctx.baseline
    if baseline and baseline in ok_backends and len(ok_backends) > 1:
        _try_chart(blocks, "speedup heatmap", lambda: charts.speedup_heatmap(df, baseline))
        sp = charts.speedups(df, baseline)
        sp = sp[sp["backend"] != baseline]
        blocks.append(
            Table(
                pd.DataFrame(
                    {
                        "kernel": sp["kernel"],
                        "backend": sp["backend"],
                        "device": sp["device"],
                        f"speedup over {ctx.baseline} (geo-mean)": sp["speedup"].map(
                            lambda v: f"{v:.3g}×"
                        ),
                        "range": [
                            f"{a:.3g}× – {b:.3g}×"
                            for a, b in zip(sp["min_speedup"], sp["max_speedup"], strict=True)
                        ],
                        "shared configs": sp["n_configs"],
                    }
                ),
                f"Speedups over {ctx.baseline}",
            )
        )
    elif ctx.baseline and ctx.baseline not in ok_backends:
        have = ", ".join(sorted(ok_backends)) or "none"
        blocks.append(
            Text(
                f"No speedups: the baseline {ctx.baseline!r} has no successful "
                f"results in this selection (backends with results: {have}).",
                muted=True,
            )
        )
    if len(ok):
        _try_chart(
            blocks,
            "roofline",
            lambda: charts.roofline(ctx.latest),
            "Achieved GFLOP/s against arithmetic intensity; the dashed ceilings are the "
            "best GFLOP/s and GB/s measured on each backend and device in this report.",
        )
    return blocks


def _flatten(d: Any, prefix: str = "", depth: int = 0) -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(d, str):
        try:
            d = json.loads(d)
        except ValueError:
            return {prefix or "value": d}
    if not isinstance(d, dict):
        return {prefix or "value": str(d)}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and depth < 1:
            out.update(_flatten(v, key, depth + 1))
        elif isinstance(v, list | dict):
            out[key] = json.dumps(v, default=str)
        elif v is not None:
            out[key] = str(v)
    return out


def environment_section(ctx: ReportContext) -> list[Block]:
    blocks: list[Block] = []
    env = ctx.environments
    if not env.empty:
        cols = {}
        for r in env.itertuples():
            fp = json.loads(r.fingerprint) if isinstance(r.fingerprint, str) else {}
            libs = fp.get("libraries", {})
            blas = "; ".join(
                f"{b.get('internal_api')} {b.get('version')} ({b.get('num_threads')} threads, "
                f"{b.get('threading_layer')}, {b.get('architecture')})"
                for b in fp.get("blas", [])
                if isinstance(b, dict)
            )
            mem = r.memory_bytes
            cols[str(r.env_id)] = {
                "host": r.hostname,
                "CPU": r.cpu_model,
                "cores": r.cores,
                "memory": f"{mem / 2**30:.1f} GiB" if pd.notna(mem) and mem else "–",
                "OS": r.os,
                "Python": r.python,
                "accel_toolkit": r.toolkit_version,
                "git commit": r.git_commit,
                "BLAS": blas or "–",
                "thread variables": ", ".join(f"{k}={v}" for k, v in fp.get("threads", {}).items())
                or "none set",
                "libraries": ", ".join(f"{k} {v}" for k, v in libs.items()),
            }
        table = pd.DataFrame(cols)
        table.index.name = "environment"
        blocks.append(Table(table.reset_index(), "Machines and software stacks"))
    dev = ctx.latest.dropna(subset=["device_info"])
    rows = [
        _device_row(backend, venue, device, g)
        for (backend, venue, device), g in dev.groupby(
            ["backend", "venue", "device"], dropna=False, sort=False
        )
    ]
    if rows:
        blocks.append(Table(pd.DataFrame(rows), "Devices, as each backend reported them"))
        blocks.append(
            Text(
                "Adapter features and limits of every row are in the store "
                "(measurements.device_info).",
                muted=True,
            )
        )
    return blocks


_DEVICE_SKIP = {
    "name",
    "features",
    "limits",
    "user_agent",
    "browser_brands",
    "adapter",
    "browser",
    "browser_version",
    "flags",
    "backend",
    "venue",
    "plan_name",
    "webnn_device_type",
    "executable",
}


def _device_row(backend: str, venue: str, device: str, g: pd.DataFrame) -> dict[str, str]:
    raw = g["device_info"].iloc[-1]
    info: dict[str, Any] = json.loads(raw) if isinstance(raw, str) else dict(raw or {})
    adapter: dict[str, Any] = info["adapter"] if isinstance(info.get("adapter"), dict) else {}
    ad = " / ".join(
        str(adapter[k])
        for k in ("vendor", "architecture", "device", "description")
        if adapter.get(k)
    )
    if adapter.get("isFallbackAdapter"):
        ad += " (fallback adapter)"
    browser = " ".join(str(info[k]) for k in ("browser", "browser_version") if info.get(k))
    flags = info.get("flags")
    other = {k: v for k, v in _flatten(info).items() if k.split(".")[0] not in _DEVICE_SKIP}
    return {
        "backend": backend,
        "venue": venue or "",
        "device": device or "",
        "browser": browser,
        "adapter": ad,
        "WebNN device": str(info.get("webnn_device_type") or ""),
        "timer": ", ".join(sorted(set(g["timer"].dropna()))) if "timer" in g else "",
        "flags": " ".join(flags) if isinstance(flags, list) else str(flags or ""),
        "other": "; ".join(
            f"{k}: {v if len(v) < 120 else v[:117] + '...'}" for k, v in other.items()
        ),
    }


def results_table(
    df: pd.DataFrame, baseline: str | None = None, *, kernel: bool = True
) -> pd.DataFrame:
    """Rows of the ``results`` view as a readable table (times with units, CI, speedup).

    ``baseline`` adds the speedup of each row over that backend's row of the same
    configuration (> 1: faster than the baseline). Rows of runs with rounds get a ``round
    spread`` column beside the within-round CI: the robust spread of the rounds' medians
    (``results.round_spread``, 1.4826 x MAD / median) and how many rounds it spans, so a tight
    CI is not taken for a reproducible figure.
    """
    spread = df["round_spread"] if "round_spread" in df else pd.Series(dtype=float)
    with_rounds = bool(pd.to_numeric(spread, errors="coerce").notna().any())
    base = None
    if baseline:
        b = df[(df["backend"] == baseline) & (df["status"] == "ok")]
        base = dict(zip(b["config_key"], b["median_s"], strict=True))
    rows = []
    for r in df.itertuples():
        sp = "–"
        if base is not None and r.status == "ok" and r.config_key in base and r.median_s:
            sp = f"{base[r.config_key] / r.median_s:.3g}×"
        row = {"kernel": r.kernel} if kernel else {}
        row.update(
            {
                "params": _params(r.params),
                "dtype": r.dtype,
                "backend": r.backend,
                "venue": r.venue,
                "device": r.device,
                "median": _fmt_time(r.median_s),
                "99% CI": f"{_fmt_time(r.ci_low_s)} – {_fmt_time(r.ci_high_s)}"
                if r.status == "ok"
                else "–",
                **({"round spread": _round_spread(r)} if with_rounds else {}),
                "n": int(r.n_samples) if pd.notna(r.n_samples) else "–",
                "first run": _fmt_time(r.first_run_s),
                "GFLOP/s": _fmt_num(r.gflops),
                "GB/s": _fmt_num(r.gbps),
                f"vs {baseline}" if baseline else "speedup": sp,
                "max abs err": _fmt_num(r.max_abs_err, ".2g"),
                "status": r.status,
                "run": r.run_id,
            }
        )
        rows.append(row)
    return pd.DataFrame(rows)


def _round_spread(r: Any) -> str:
    """``1.2% over 5 rounds`` for a row of a run with rounds, else ``–``."""
    v = getattr(r, "round_spread", None)
    if v is None or pd.isna(v):
        return "–"
    n = getattr(r, "rounds", None)
    return f"{v:.1%}" + (f" over {int(n)} rounds" if n is not None and pd.notna(n) else "")


def kernel_sections(ctx: ReportContext) -> list[Section]:
    """One section per kernel: latency chart, history (when several runs), table."""
    out = []
    for kernel in _kernel_order(ctx):

        def build(ctx: ReportContext, kernel: str = kernel) -> list[Block]:
            rows = ctx.latest[ctx.latest["kernel"] == kernel]
            ok = rows[rows["status"] == "ok"]
            blocks: list[Block] = []
            if len(ok):
                x = "flops" if (ok["flops"] > 0).all() else "bytes"
                _try_chart(
                    blocks,
                    f"{kernel} latency",
                    lambda: charts.latency(ok, x=x),
                    f"Median time per call against {x} per call; bars are 99% CIs.",
                )
            hist = ctx.results[(ctx.results["kernel"] == kernel) & (ctx.results["status"] == "ok")]
            if hist["run_id"].nunique() > 1:
                keys = list(dict.fromkeys(hist["config_key"]))[:6]
                more = "" if hist["config_key"].nunique() <= 6 else " (first 6 configurations)"
                _try_chart(
                    blocks,
                    f"{kernel} history",
                    lambda: charts.history(hist, config_keys=keys),
                    f"Median and 99% CI band across runs{more}.",
                )
            blocks.append(
                Table(
                    results_table(rows, ctx.baseline, kernel=False),
                    "Latest result per configuration and backend",
                )
            )
            return blocks

        out.append(Section(f"kernel-{kernel}", f"Kernel: {kernel}", build))
    return out


def first_run_section(ctx: ReportContext) -> list[Block]:
    ok = ctx.latest[ctx.latest["status"] == "ok"]
    browser = [b for b in BROWSER_BACKENDS if b in set(ok["backend"])]
    if ok.empty or ok["first_run_s"].isna().all():
        return [Text("No first-run times in this selection.", muted=True)]
    which = browser or None
    blocks: list[Block] = [
        Text(
            "The first call of each configuration (shader or graph compilation, pipeline "
            "creation, allocation) against the steady-state median. "
            + (
                "Browser backends: " + ", ".join(browser) + "."
                if browser
                else "No browser backend in this selection, so every backend is shown."
            )
        )
    ]
    _try_chart(blocks, "first run vs steady state", lambda: charts.first_run(ok, backends=which))
    return blocks


def failures_section(ctx: ReportContext) -> list[Block]:
    bad = ctx.results[ctx.results["status"] != "ok"]
    blocks: list[Block] = []
    runs = ctx.runs[ctx.runs["status"] != "complete"] if not ctx.runs.empty else ctx.runs
    if len(runs):
        blocks.append(
            Table(
                pd.DataFrame(
                    {
                        "run": runs["run_id"],
                        "status": runs["status"],
                        "measured": [
                            int((ctx.results["run_id"] == r).sum()) for r in runs["run_id"]
                        ],
                        "planned": runs["planned"],
                    }
                ),
                "Runs that did not complete (every result they finished is stored and shown)",
            )
        )
    if bad.empty:
        blocks.append(Text("Every configuration ran and matched the numpy reference.", muted=True))
        return blocks
    blocks.append(
        Table(
            pd.DataFrame(
                {
                    "kernel": bad["kernel"],
                    "params": bad["params"].map(_params),
                    "dtype": bad["dtype"],
                    "backend": bad["backend"],
                    "venue": bad["venue"],
                    "status": bad["status"],
                    "error": bad["error"].fillna(""),
                    "run": bad["run_id"],
                }
            ),
            f"{len(bad)} measurement(s) that did not succeed",
        )
    )
    return blocks


def _cli_value(v: Any) -> str:
    if isinstance(v, list | tuple):
        return ",".join(str(x) for x in v)
    if isinstance(v, dict):
        return json.dumps(v, sort_keys=True)
    return str(v)


def _get(run: Any, key: str) -> Any:
    """``run[key]``, with pandas' missing values (NaN, NaT, None) as None."""
    v = run.get(key)
    try:
        return None if v is None or pd.isna(v) else v
    except (TypeError, ValueError):  # lists and dicts
        return v


def reproduce_command(run: Any, db_path: str | None = None) -> str:
    """The command that repeats a run (the notebook run, its CLI command, or an equivalent)."""
    run = {k: _get(run, k) for k in run}
    params = run.get("notebook_params")
    params = json.loads(params) if isinstance(params, str) else params
    if run.get("notebook"):
        stem = Path(str(run["notebook"])).stem
        parts = ["accel-toolkit", "notebook", "run", stem]
        for k, v in (params or {}).items():
            if v is None or k == "notebook_output":
                continue
            parts += ["-p", k, _cli_value(v)]
        return shlex.join(parts)
    s = run.get("settings")
    s = json.loads(s) if isinstance(s, str) else (s or {})
    if run.get("command") and not s.get("grid"):
        return str(run["command"])
    parts = [
        "accel-toolkit",
        "bench",
        "--kernels",
        ",".join(s.get("kernels", [])),
        "--backends",
        ",".join(s.get("backends", [])),
    ]
    grid_file = None
    if s.get("grid"):  # the exact configurations, written to a file the command reads
        grid_file = f"grid-{run.get('run_id') or 'run'}.json"
        parts += ["--grid", grid_file]
    elif s.get("preset"):
        parts += ["--preset", str(s["preset"])]
    if s.get("params") and not s.get("grid"):
        for k, v in s["params"].items():
            parts += ["--param", f"{k}={v}"]
    if s.get("dtypes"):
        parts += ["--dtype", ",".join(s["dtypes"])]
    if run.get("seed") is not None and run.get("seed") == run.get("seed"):
        parts += ["--seed", str(int(run["seed"]))]
    if s.get("max_time"):
        parts += ["--time-budget", f"{s['max_time']:g}"]
    parts += ["--rounds", str(int(s.get("rounds") or 1))]  # bench's default has changed
    if run.get("tag"):
        parts += ["--tag", str(run["tag"])]
    if db_path:
        parts += ["--db", str(db_path)]
    if grid_file:
        grid = json.dumps(s["grid"], sort_keys=True)
        return f"cat > {grid_file} <<'GRID'\n{grid}\nGRID\n{shlex.join(parts)}"
    return shlex.join(parts)


def reproduce_section(ctx: ReportContext) -> list[Block]:
    blocks: list[Block] = [
        Text(
            "Every number above comes from one of these runs (the tables name the run of each "
            "row). The same parameters and seed give the same configurations and inputs."
        )
    ]
    rows = []
    for r in ctx.runs.to_dict("records"):
        r = {k: _get(r, k) for k in r}
        rows.append(
            {
                "run": r["run_id"],
                "started": f"{r['created_at']:%Y-%m-%d %H:%M:%S}",
                "status": r["status"],
                "tag": r.get("tag") or "",
                "git commit": r.get("git_commit") or "",
                "notebook": r.get("notebook") or "",
                "executed notebook": r.get("notebook_output") or "",
                "seed": r.get("seed"),
                "measured": int((ctx.results["run_id"] == r["run_id"]).sum()),
            }
        )
    blocks.append(Table(pd.DataFrame(rows), "Runs"))
    for r in ctx.runs.to_dict("records"):
        r = {k: _get(r, k) for k in r}
        label = (
            "notebook run"
            if r.get("notebook")
            else ("command" if r.get("command") else "equivalent command")
        )
        blocks.append(
            Code(reproduce_command(r, str(ctx.store.path)), f"Run {r['run_id']} ({label})")
        )
    return blocks


def regressions_blocks(store: Any) -> list[Any]:
    """The Regressions section: a sentence, the steps table and the charts.

    Reads only (``save=False``): building a report never writes to the database.
    """
    from ..analysis import regressions_section

    steps, figures = regressions_section(store, save=False)
    n, pts, thr = (steps.attrs.get(k, 0) for k in ("n_series", "n_points", "threshold"))
    if steps.empty:
        return [
            f"No change in performance larger than {thr:.0%} was found in {n} series "
            f"({pts} measurements). A step needs at least 3 runs on each side of it, so a "
            f"series with fewer runs cannot show one yet."
        ]
    slower = int((steps["kind"] == "regression").sum())
    return [
        f"{len(steps)} step(s) in {n} series ({slower} slower, {len(steps) - slower} faster), "
        f"threshold {thr:.0%}.",
        steps.drop(columns=["series_key"]),
        *figures,
    ]


SECTIONS: tuple[Section, ...] = (
    Section("summary", "Summary", summary_section),
    Section("environment", "Environment", environment_section),
    Section("first-run", "First run vs steady state", first_run_section),
    Section("failures", "Failures", failures_section),
    Section("reproduce", "How to reproduce", reproduce_section),
)

#: optional sections of other modules: (id, title, module, function, fixed keyword args).
#: The function gets the keywords it names among ``store, db, results, df, run_ids, tag,
#: baseline, kernels, backends, ctx, context`` and returns what :func:`to_blocks` takes.
PLUGINS: tuple[tuple[str, str, str, str, dict[str, Any]], ...] = (
    ("regressions", "Regressions", "accel_toolkit.report._sections", "regressions_blocks", {}),
    ("predictions", "Predictions", "accel_toolkit.predict", "predictions_section", {}),
    ("models", "Models", "accel_toolkit.report._models", "models_section", {}),
    ("tuning", "Tuning", "accel_toolkit.report._tuning", "tuning_section", {}),
)


def _call_plugin(fn: Callable[..., Any], ctx: ReportContext, *, fixed: dict[str, Any]) -> Any:
    offer = {
        "store": ctx.store,
        "db": ctx.store,
        "results": ctx.results,
        "df": ctx.results,
        "run_ids": ctx.run_ids,
        "tag": ctx.tag,
        "baseline": ctx.baseline,
        "ctx": ctx,
        "context": ctx,
        "kernels": list(dict.fromkeys(ctx.results["kernel"])),
        "backends": list(dict.fromkeys(ctx.results["backend"])),
        **fixed,
    }
    sig = inspect.signature(fn)
    kwargs = {k: v for k, v in offer.items() if k in sig.parameters}
    required = [
        p
        for p in sig.parameters.values()
        if p.default is p.empty
        and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        and p.name not in kwargs
    ]
    args = [ctx.results] if len(required) == 1 else []
    return fn(*args, **kwargs)


def _reraise(exc: BaseException, ctx: ReportContext) -> Any:
    raise exc


def plugin_sections(
    plugins: Sequence[tuple[str, str, str, str, dict[str, Any]]] = PLUGINS,
) -> list[Section]:
    """One section per plug-in; one whose module or function fails to load shows why.

    A plug-in whose module raises on import (``ImportError`` included) or lacks the
    function still gets its section, holding that error, so a broken module is seen in
    the page instead of silently dropping its part of the report.
    """
    out = []
    for sid, title, module, func, fixed in plugins:
        try:
            fn = getattr(importlib.import_module(module), func)
        except Exception as exc:
            out.append(Section(sid, title, functools.partial(_reraise, exc)))
            continue
        out.append(Section(sid, title, functools.partial(_call_plugin, fn, fixed=fixed)))
    return out
