"""Measure log-uniform shape grids on this machine, then score the speed predictor on them.

Usage (each step is separate so an interrupted sweep can be resumed / re-scored)::

    DB=data/predict_cpu.duckdb
    python benchmarks/predict_eval.py measure  --db $DB   # ~5-10 min, 2 cores
    python benchmarks/predict_eval.py noise    --db $DB   # repeat 8 configs/kernel 3x
    python benchmarks/predict_eval.py evaluate --db $DB   # held-out scores
    python benchmarks/predict_eval.py active   --db $DB   # active vs random (replay)
    python benchmarks/predict_eval.py subsets  --db $DB   # accuracy from n random shapes

Every number printed comes from real measurements stored in the DuckDB file; nothing is
simulated. ``measure`` stores each configuration as it goes (``bench`` commits every row), so
Ctrl-C loses nothing and running it again only adds a new run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import pandas as pd

KERNELS = ("matmul", "conv2d", "softmax", "attention")


def _measure(args: argparse.Namespace) -> None:
    import accel_toolkit as at
    from accel_toolkit.predict import log_uniform_grid

    sizes = {k: args.n for k in args.kernels}
    for item in args.n_kernel or []:
        name, _, count = item.partition("=")
        sizes[name] = int(count)
    grid = {
        k: log_uniform_grid(
            k, sizes[k], seed=args.seed, max_flops=args.max_flops, min_flops=args.min_flops
        )
        for k in args.kernels
    }
    t0 = time.perf_counter()
    for r in range(args.rounds):
        for backend in args.backends:
            # every round is its own run, in its own random order: drift of the machine's
            # speed during a sweep then lands on different configurations in every round
            df = at.bench(
                list(grid),
                backend,
                grid=grid,
                time_budget=args.time_budget,
                db=args.db,
                tag=f"predict-grid-{backend}",
                progress=sys.stderr.isatty(),
                shuffle=1000 * args.seed + r,
                command="benchmarks/predict_eval.py measure",
            )
            print(
                f"round {r + 1}/{args.rounds} {backend}: {len(df)} configurations, status "
                f"counts {df['status'].value_counts().to_dict()} "
                f"({time.perf_counter() - t0:.0f} s)",
                flush=True,
            )


def _noise(args: argparse.Namespace) -> None:
    """Re-measure a few configurations several times: the floor under any predictor's error."""
    import accel_toolkit as at
    from accel_toolkit.predict import log_uniform_grid, measurement_noise

    grid = {
        k: log_uniform_grid(
            k, args.n, seed=args.seed, max_flops=args.max_flops, min_flops=args.min_flops
        )[: args.per_kernel]
        for k in args.kernels
    }
    for backend in args.backends:
        for _ in range(args.repeats):
            at.bench(
                list(grid),
                backend,
                grid=grid,
                time_budget=args.time_budget,
                db=args.db,
                tag=f"predict-noise-{backend}",
                progress=False,
                command="benchmarks/predict_eval.py noise",
            )
    from accel_toolkit.store import Store

    print(measurement_noise(Store(args.db), backends=args.backends).to_string(index=False))


def _load(args: argparse.Namespace) -> pd.DataFrame:
    """The results to score: every run, or one run (``--run first|last|RUN_ID``) of the tag."""
    from accel_toolkit.store import Store

    store = Store(args.db)
    df = store.results(kernels=args.kernels, backends=args.backends, tag=args.tag, status="ok")
    runs = df.groupby("run_id")["created_at"].agg(["min", "max", "size"]).sort_values("min")
    runs["minutes"] = (runs["max"] - runs["min"]).dt.total_seconds() / 60
    print("runs in the selection (a sweep that took much longer ran on a busier machine):")
    print(runs[["min", "size", "minutes"]].to_string(float_format=lambda v: f"{v:.1f}"))
    if args.run != "all":
        named = {"first": runs.index[0], "last": runs.index[-1]}
        rids = [named.get(r, r) for r in args.run.split(",")]
        df = df[df["run_id"].isin(rids)]
        print(f"scoring run(s) {', '.join(rids)} only ({len(df)} results)\n")
    return df


def _evaluate(args: argparse.Namespace) -> None:
    from accel_toolkit.predict import evaluate, measurement_noise

    t0 = time.perf_counter()
    data = _load(args)
    table = evaluate(
        results=data,
        seed=args.seed,
        model_params={
            "per_kernel": not args.pooled,
            "loss": args.loss,
            "aggregate": None if args.aggregate == "none" else args.aggregate,
            **_model_params(args),
        },
    )
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        print(f"\n(evaluate: {time.perf_counter() - t0:.0f} s)\n")
        print("Measurement noise (repeat measurements of the same configuration):")
        print(
            measurement_noise(results=data, statistic=args.statistic).to_string(
                index=False, float_format=lambda v: f"{v:.3f}"
            )
        )
    if args.json:
        print(table.to_json(orient="records"))


def _length_scales(
    args: argparse.Namespace, data: pd.DataFrame, kernel: str, backend: str
) -> dict | None:
    """GP length scales of a model fitted on ``--length-scales-from``'s results of the
    kernel, leaving out every shape the replay scores (so nothing it is tested on leaks in)."""
    if not args.length_scales_from:
        return None
    from accel_toolkit.predict import SpeedModel
    from accel_toolkit.predict._features import config_frame, config_keys
    from accel_toolkit.store import Store

    src = Store(args.length_scales_from).results(kernels=[kernel], backends=[backend], status="ok")
    src_keys = config_keys(config_frame(src))
    keep = ~src_keys.isin(set(config_keys(config_frame(data[data["kernel"] == kernel]))))
    print(
        f"{kernel} on {backend}: length scales from {int(keep.sum())} results of "
        f"{src_keys[keep].nunique()} shapes in {args.length_scales_from} "
        f"({int((~keep).sum())} results of shapes also in --db left out)"
    )
    model = SpeedModel(statistic=args.statistic).fit(src[keep])
    return model.length_scales_


def _replays(args: argparse.Namespace):
    """``(kernel, backend, ReplayResult)`` of each kernel and backend: replayed now, or read
    back from ``--curves-in`` (a ``--curves-out`` file of an earlier replay)."""
    from accel_toolkit.predict import ReplayResult, replay_active_learning

    if args.curves_in:
        saved = pd.read_csv(args.curves_in)
        for (kernel, backend), g in saved.groupby(["kernel", "backend"]):
            yield (
                kernel,
                backend,
                ReplayResult(
                    kernel,
                    backend,
                    g.drop(columns=["kernel", "backend", "pool"]),
                    int(g["n"].max()),
                    int(g["pool"].iloc[0]),
                    int(g["n_test"].iloc[0]),
                ),
            )
        return
    data = _load(args)
    for backend in args.backends:
        for kernel in args.kernels:
            params = _model_params(args)
            scales = _length_scales(args, data, kernel, backend)
            if scales:
                params["length_scales"] = scales
            res = replay_active_learning(
                results=data,
                kernel=kernel,
                backend=backend,
                budget=args.budget,
                model_params=params,
                init=args.init,
                step=args.step,
                seeds=args.seeds,
                strategies=args.strategies,
                targets=args.targets,
                test_fraction=args.test_fraction,
                family=args.family,
            )
            if args.curves_out:
                out = res.curves.assign(kernel=kernel, backend=backend, pool=res.pool_size)
                out.to_csv(
                    args.curves_out,
                    mode="a",
                    index=False,
                    header=not os.path.exists(args.curves_out),
                )
            yield kernel, backend, res


def _active(args: argparse.Namespace) -> None:
    rows = []
    for kernel, backend, res in _replays(args):
        seeds = res.curves["seed"].nunique()
        print(f"\n{kernel} on {backend} ({seeds} seeds):")
        # a replay without random choice (to merge with saved curves later) has no summary
        if "random" in set(res.curves["strategy"]):
            s = res.summary()
            cols = [
                "strategy",
                "final_mape",
                "final_within_10pct",
                "final_coverage",
                "n_to_target",
                "n_to_within",
                "pool",
                "test",
            ]
            print(s[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
            print("90% bootstrap bands over the seeds in brackets")
            print(
                "  final MAPE / random's: "
                + "   ".join(
                    f"{r.strategy} {r.final_mape_ratio:.2f} [{r.final_mape_ratio_low:.2f}, "
                    f"{r.final_mape_ratio_high:.2f}]"
                    for _, r in s.iterrows()
                    if r.strategy != "random"
                )
            )
            for suffix, label in (("", "MAPE"), ("_within", "within +-10%")):
                for base in ("random", "budget"):
                    c = f"share_of_{base}{suffix}"
                    print(
                        f"  n to random's final {label} / {base}'s n: "
                        + "   ".join(
                            f"{r.strategy} {r[c]:.2f} [{r[c + '_low']:.2f}, {r[c + '_high']:.2f}]"
                            for _, r in s.iterrows()
                            if r.strategy != "random" or base == "budget"
                        )
                    )
            rows.append(s.assign(kernel=kernel, backend=backend))
        curves = res.mean_curves()
        for metric in ("mape", "within_10pct"):
            print(
                f"mean {metric} after n measurements:\n"
                + curves.pivot(index="n", columns="strategy", values=metric).to_string(
                    float_format=lambda v: f"{v:.3f}"
                )
            )
    if args.json and rows:
        print(json.dumps(pd.concat(rows).to_dict(orient="records"), default=str))


def _model_params(args: argparse.Namespace) -> dict:
    """``--statistic`` plus every ``--param KEY=VALUE`` (VALUE read as a Python literal)."""
    import ast

    params: dict = {"statistic": args.statistic}
    for item in args.param or []:
        key, _, value = item.partition("=")
        try:
            params[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            params[key] = value
    return params


def _subsets(args: argparse.Namespace) -> None:
    """Held-out accuracy of models fitted on n random shapes: the learning curve of the model
    itself (the replay's random baseline, with more draws and no selection)."""
    from accel_toolkit.predict import SpeedModel, prediction_metrics, replay_split
    from accel_toolkit.predict._model import aggregate_repeats

    data = _load(args)
    params = _model_params(args)
    print(f"model parameters: {params}")
    for backend in args.backends:
        for kernel in args.kernels:
            t0 = time.perf_counter()
            sub = data[(data["kernel"] == kernel) & (data["backend"] == backend)]
            agg = aggregate_repeats(sub, "min", args.statistic)
            rows = []
            for split in range(args.splits):  # the replay's test splits of seeds 0, 1, ...
                test_rows, pool_rows, _ = replay_split(len(agg), split)
                test, pool = agg.iloc[test_rows], agg.iloc[pool_rows]
                for n in args.sizes:
                    for draw in range(args.draws):
                        pick = np.random.default_rng(100 * split + draw).choice(
                            len(pool), n, replace=False
                        )
                        p = SpeedModel(**params).fit(pool.iloc[pick]).predict(test)
                        rows.append(
                            {
                                **prediction_metrics(
                                    test["latency_s"], p["pred_s"], p["low_s"], p["high_s"]
                                ),
                                "n": n,
                            }
                        )
            df = (
                pd.DataFrame(rows)
                .groupby("n")
                .agg(
                    mape_mean=("mape", "mean"),
                    mape_median=("mape", "median"),
                    mape_max=("mape", "max"),
                    within_10pct=("within_10pct", "mean"),
                    coverage=("coverage", "mean"),
                )
            )
            print(
                f"\n{kernel} on {backend} ({len(pool)} in the pool, {len(test)} held out, "
                f"{args.splits} splits x {args.draws} draws; {time.perf_counter() - t0:.0f} s):"
            )
            print(df.to_string(float_format=lambda v: f"{v:.3f}"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="step", required=True)
    for name, fn in (
        ("measure", _measure),
        ("noise", _noise),
        ("evaluate", _evaluate),
        ("active", _active),
        ("subsets", _subsets),
    ):
        p = sub.add_parser(name)
        p.add_argument("--db", default="data/predict_cpu.duckdb")
        p.add_argument("--kernels", nargs="+", default=list(KERNELS))
        p.add_argument("--backends", nargs="+", default=["cpu"])
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--json", action="store_true")
        p.set_defaults(func=fn)
        if name in ("measure", "noise"):
            p.add_argument("--n", type=int, default=100, help="shapes per kernel")
            p.add_argument("--time-budget", type=float, default=0.25)
            p.add_argument(
                "--max-flops",
                type=float,
                default=None,
                help="cap the cost of each shape (emulated GPUs are slow)",
            )
            p.add_argument(
                "--min-flops",
                type=float,
                default=None,
                help="skip shapes cheaper than this (microsecond calls are noisy)",
            )
        if name == "measure":
            p.add_argument(
                "--n-kernel",
                action="append",
                metavar="KERNEL=N",
                help="more (or fewer) shapes for one kernel, e.g. conv2d=200 "
                "(a kernel's first N shapes do not depend on N)",
            )
            p.add_argument(
                "--rounds",
                type=int,
                default=3,
                help="measure the grid this many times, each round in a new random "
                "order (repeats are merged by the model's aggregate rule)",
            )
        if name == "noise":
            p.add_argument("--per-kernel", type=int, default=8)
            p.add_argument("--repeats", type=int, default=3)
        if name in ("evaluate", "active", "subsets"):
            p.add_argument("--tag", default=None, help="only runs with this tag")
            p.add_argument(
                "--statistic",
                default="median",
                choices=["median", "min"],
                help="the figure predicted and scored: each run's median or its "
                "fastest calibrated sample",
            )
            p.add_argument(
                "--run", default="all", help="all (default), first, last or comma-separated run ids"
            )
        if name == "evaluate":
            p.add_argument("--pooled", action="store_true", help="one model for all kernels")
            p.add_argument("--loss", default="squared_error", help="huber or squared_error")
            p.add_argument(
                "--aggregate",
                default="min",
                choices=["min", "median", "none"],
                help="merge repeat runs of a configuration before fitting/scoring "
                "(default min: the fastest run's median)",
            )
        if name == "active":
            p.add_argument("--budget", type=int, default=40)
            p.add_argument("--init", type=int, default=5)
            p.add_argument("--step", type=int, default=1)
            p.add_argument("--seeds", type=int, default=5)
            p.add_argument(
                "--test-fraction",
                type=float,
                default=0.3,
                help="share of the shapes each seed holds out for scoring (the "
                "rest is the pool the strategies choose from)",
            )
            p.add_argument(
                "--family",
                type=int,
                default=None,
                metavar="N",
                help="hold out the N shapes nearest to a random one (a family of "
                "shapes to predict) instead of --test-fraction at random",
            )
            p.add_argument(
                "--strategies",
                nargs="+",
                default=["auto", "random"],
                help="suggest() strategies to replay (random is the baseline)",
            )
            p.add_argument(
                "--curves-out",
                metavar="CSV",
                default=None,
                help="append every seed's learning curves (kernel, backend, "
                "strategy, seed, n, the scores and the pool size) to this "
                "CSV file",
            )
            p.add_argument(
                "--targets",
                action="store_true",
                help="variance reduction and representative aim at the held-out "
                "shapes (their parameters, not their timings): curves "
                "labelled 'variance-reduction@test', 'representative@test'",
            )
            p.add_argument(
                "--curves-in",
                metavar="CSV",
                default=None,
                help="summarise the curves of an earlier --curves-out instead of replaying",
            )
            p.add_argument(
                "--length-scales-from",
                metavar="DB",
                default=None,
                help="reuse the GP length scales of a model fitted on this other "
                "database's results of the same kernel (every strategy gets "
                "them; shapes also in --db are left out of it)",
            )
        if name == "subsets":
            p.add_argument("--sizes", type=int, nargs="+", default=[10, 20, 40])
            p.add_argument("--splits", type=int, default=2)
            p.add_argument("--draws", type=int, default=8)
        if name in ("evaluate", "active", "subsets"):
            p.add_argument(
                "--param",
                action="append",
                metavar="KEY=VALUE",
                help="a SpeedModel parameter, e.g. alignment_features=True, "
                "noise_floor=None or scratch=False (repeatable)",
            )
    args = ap.parse_args(argv)
    np.seterr(all="ignore")
    args.func(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
