"""``accel-toolkit predict``: evaluate the speed predictor, suggest and run active learning."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]


def _split(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _evaluate(args: argparse.Namespace) -> int:
    from ..predict import evaluate, measurement_noise
    from ..store import open_store
    from ._format import print_frame

    store = open_store(args.db, create=False)
    table: Any = evaluate(
        store,
        kernels=_split(args.kernels),
        backends=_split(args.backends),
        tag=args.tag,
        seed=args.seed,
        repeats=args.repeats,
        model_params={
            "coverage": args.coverage,
            "per_kernel": not args.pooled,
            "statistic": args.statistic,
        },
    )
    noise = measurement_noise(
        store,
        kernels=_split(args.kernels),
        backends=_split(args.backends),
        statistic=args.statistic,
    )
    if args.json:
        print(
            json.dumps(
                {
                    "evaluation": table.to_dict(orient="records"),
                    "noise": noise.to_dict(orient="records"),
                },
                default=str,
            )
        )
        return 0
    print_frame(table.round(3))
    print("\nmeasurement noise (repeats of the same configuration in different runs):")
    print_frame(noise.round(3))
    return 0


def _model_params(args: argparse.Namespace) -> dict[str, Any]:
    """``SpeedModel`` parameters of suggest / run-active, with ``--length-scales-from``'s."""
    params: dict[str, Any] = {"statistic": args.statistic}
    source = args.length_scales_from
    if source:
        from pathlib import Path

        from ..exceptions import ConfigError
        from ..predict import SpeedModel

        if not Path(source).exists():
            raise ConfigError(
                f"--length-scales-from {source}: no such file; pass a DuckDB "
                f"file with earlier {args.kernel} results or a model saved by "
                f"SpeedModel.save()."
            )
        earlier = (
            SpeedModel.load(source)
            if source.endswith(".json")
            else SpeedModel.from_store(source, kernels=[args.kernel], statistic=args.statistic)
        )
        params["length_scales"] = earlier.length_scales_
    return params


def _targets(args: argparse.Namespace) -> list[dict[str, Any]] | None:
    """``--targets FILE``: a JSON list of parameter dicts (the shapes to predict well)."""
    if not args.targets:
        return None
    from ..exceptions import ConfigError

    try:
        shapes = json.loads(Path(args.targets).read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"Cannot read --targets {args.targets}: {exc}. Give a JSON file "
            f'holding a list of parameter dicts, e.g. [{{"M": 512, "N": 512, '
            f'"K": 512}}].'
        ) from None
    if not (isinstance(shapes, list) and shapes and all(isinstance(p, dict) for p in shapes)):
        raise ConfigError(
            f"--targets {args.targets} must hold a non-empty JSON list of parameter dicts."
        )
    return shapes


def _check_names(args: argparse.Namespace) -> None:
    """Unknown ``--kernel`` / ``--backend`` names fail first, with "did you mean"."""
    from ..backends import check_backend_name
    from ..kernels import get_kernel

    args.kernel = get_kernel(args.kernel).name
    check_backend_name(args.backend)


#: distinct configurations the model needs per kernel (SpeedModel's ``min_configs``)
MIN_CONFIGS = 5


def _training_store(args: argparse.Namespace) -> Any:
    """The store ``suggest`` learns from, refused when it has too few configurations."""
    from ..exceptions import ConfigError
    from ..store import open_store

    store = open_store(args.db, create=False)
    n = int(
        store.query(
            "SELECT count(DISTINCT config_key) AS n FROM measurements WHERE kernel = ? AND "
            "backend = ? AND status = 'ok'",
            [args.kernel, args.backend],
        )["n"].iloc[0]
    )
    if n < MIN_CONFIGS:
        raise ConfigError(
            f"{store.path} holds {n} successfully measured configuration(s) of {args.kernel} "
            f"on {args.backend}; the model needs at least {MIN_CONFIGS} (20 or more predict "
            f"well). Measure some with `accel-toolkit predict run-active --kernel "
            f"{args.kernel} --backend {args.backend} --budget 10 --db {store.path}`, or bench "
            f"a --grid file of {MIN_CONFIGS}+ shapes (one preset has 1-4)."
        )
    return store


def _suggest(args: argparse.Namespace) -> int:
    from ..predict import SpeedModel, log_uniform_grid, suggest
    from ._format import print_frame

    _check_names(args)
    model = SpeedModel.from_store(
        _training_store(args), kernels=[args.kernel], backends=[args.backend], **_model_params(args)
    )
    cands = log_uniform_grid(args.kernel, args.candidates, seed=args.seed)
    picks = suggest(
        model,
        cands,
        k=args.k,
        kernel=args.kernel,
        backend=args.backend,
        dtype=args.dtype,
        strategy=args.strategy,
        seed=args.seed,
        targets=_targets(args),
    )
    cols = ["rank", "params", "pred_s", "low_s", "high_s", "uncertainty"]
    cols += [c for c in ("distance", "variance_reduction") if picks[c].notna().any()]
    if args.json:
        print(picks[cols].to_json(orient="records"))
    else:
        print_frame(picks[cols].assign(params=picks["params"].map(json.dumps)).round(8))
    return 0


def _run_active(args: argparse.Namespace) -> int:
    from ..predict import active_learning, log_uniform_grid
    from ._format import print_frame

    _check_names(args)
    cands = log_uniform_grid(args.kernel, args.candidates, seed=args.seed)
    res = active_learning(
        args.kernel,
        args.backend,
        cands,
        budget=args.budget,
        db=args.db,
        init=args.init,
        step=args.step,
        dtype=args.dtype,
        seed=args.seed,
        strategy=args.strategy,
        targets=_targets(args),
        time_budget=args.time_budget,
        use_store=args.use_store,
        model_params=_model_params(args),
        progress=not args.json and sys.stderr.isatty(),
    )
    h = res.history
    if args.json:
        print(h.to_json(orient="records"))
        return 0
    print_frame(h.assign(params=h["params"].map(json.dumps)).round(8))
    pred = h.dropna(subset=["pred_s"])
    if len(pred):
        print(
            f"\nrun {res.run_id}: {len(h)} measurements; predictions made before measuring: "
            f"MAPE {pred['rel_error'].mean():.3f}, within +-10% "
            f"{(pred['rel_error'] <= 0.1).mean():.2f}, interval coverage "
            f"{pred['covered'].astype(float).mean():.2f}"
        )
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("predict", help="predict the speed of unmeasured configurations")
    psub = p.add_subparsers(dest="predict_command", metavar="ACTION")
    psub.required = True

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument(
            "--db",
            help="DuckDB file (default: $ACCEL_TOOLKIT_DB or "
            "~/.local/share/accel_toolkit/results.duckdb)",
        )
        q.add_argument("--seed", type=int, default=0)
        q.add_argument("--json", action="store_true", help="print JSON")
        q.add_argument(
            "--statistic",
            choices=["median", "min"],
            default="median",
            help="the figure to learn: each run's median (default) or its fastest "
            "calibrated sample (repeatable on a shared machine)",
        )

    q = psub.add_parser(
        "evaluate", help="held-out scores: interpolation, extrapolation, few-shot backend"
    )
    common(q)
    q.add_argument("--kernels", help="comma-separated (default: all in the store)")
    q.add_argument("--backends", help="comma-separated (default: all in the store)")
    q.add_argument("--tag", help="only runs with this tag")
    q.add_argument("--coverage", type=float, default=0.8, help="nominal interval coverage")
    q.add_argument("--repeats", type=int, default=3, help="repetitions of the random splits")
    q.add_argument("--pooled", action="store_true", help="one model for all kernels")
    q.set_defaults(func=_evaluate)

    for name, func, helptext in (
        ("suggest", _suggest, "the next configurations worth measuring"),
        ("run-active", _run_active, "measure actively chosen configurations and refit"),
    ):
        q = psub.add_parser(name, help=helptext)
        common(q)
        q.add_argument("--kernel", required=True)
        q.add_argument("--backend", default="cpu")
        q.add_argument("--dtype", default="float32")
        q.add_argument(
            "--candidates", type=int, default=200, help="size of the log-uniform candidate grid"
        )
        q.add_argument(
            "--strategy",
            default="auto",
            help="how to choose: auto (default: variance-reduction for the GP "
            "model), variance-reduction, representative (cover --targets "
            "with the nearest measured shapes; no model needed), "
            "uncertainty-diversity, uncertainty or random",
        )
        q.add_argument(
            "--targets",
            metavar="JSON",
            help="a JSON file with a list of parameter dicts: the shapes whose "
            "predictions matter; variance reduction and representative "
            "then aim at them",
        )
        q.add_argument(
            "--length-scales-from",
            metavar="PATH",
            help="reuse the GP length scales of a model of the same kernel fitted "
            "on more shapes: a DuckDB file of earlier results (another sweep, "
            "machine or backend) or a model saved by SpeedModel.save()",
        )
        if name == "suggest":
            q.add_argument("-k", type=int, default=5, help="how many to suggest")
        else:
            q.add_argument("--budget", type=int, default=20, help="measurements in total")
            q.add_argument("--init", type=int, default=5, help="random initial design")
            q.add_argument("--step", type=int, default=1, help="measurements per round")
            q.add_argument(
                "--time-budget",
                type=float,
                default=0.2,
                help="seconds of sampling per configuration",
            )
            q.add_argument(
                "--use-store", action="store_true", help="also train on the store's earlier results"
            )
        q.set_defaults(func=func)
