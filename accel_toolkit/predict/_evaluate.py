"""Scoring the predictor the way the literature does, on held-out *configurations*.

Three splits, each holding out whole configurations (never repeats of a training one):

``interpolation``
    unseen shapes inside the measured range: a random quarter of the configurations whose
    FLOPs lie strictly between the 10th and 90th percentile of the kernel's, repeated over
    ``repeats`` seeds;
``extrapolation``
    larger shapes outside it: the configurations with the top 15% FLOPs of each kernel on
    each backend, trained on the rest;
``few-shot backend``
    one backend predicted from ``few`` of its configurations plus every other backend's
    results (needs two or more backends for a kernel).

Per split (and per kernel) the scores are the share of predictions within +-10% of the
measured figure (the model's ``statistic``), MAPE, Spearman's rank correlation
(``scipy.stats.spearmanr``) and the coverage of the prediction intervals (an 80% interval
should hold ~80% of held-out values).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import PredictionError
from ._features import config_keys
from ._model import SpeedModel, aggregate_repeats, with_latency

__all__ = ["evaluate", "measurement_noise", "prediction_metrics", "splits"]

SPLITS = ("interpolation", "extrapolation", "few-shot backend")


def prediction_metrics(
    measured: Any, pred: Any, low: Any = None, high: Any = None
) -> dict[str, float]:
    """``within_10pct, mape, spearman, coverage, rel_width, n`` of predictions vs measurements.

    ``rel_width`` is the median of ``(high - low) / pred``.
    """
    from scipy.stats import spearmanr

    y = np.asarray(measured, dtype=float)
    p = np.asarray(pred, dtype=float)
    rel = np.abs(p - y) / y
    out = {
        "n": float(len(y)),
        "within_10pct": float(np.mean(rel <= 0.10)) if len(y) else np.nan,
        "mape": float(np.mean(rel)) if len(y) else np.nan,
        "spearman": float(spearmanr(y, p).statistic) if len(y) > 2 else np.nan,
        "coverage": np.nan,
        "rel_width": np.nan,
    }
    if low is not None and high is not None and len(y):
        lo, hi = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
        out["coverage"] = float(np.mean((y >= lo) & (y <= hi)))
        out["rel_width"] = float(np.median((hi - lo) / p))
    return out


def splits(
    results: pd.DataFrame,
    *,
    seed: int = 0,
    repeats: int = 3,
    few: int = 8,
    test_fraction: float = 0.25,
    extrapolate_top: float = 0.15,
) -> list[tuple[str, int, np.ndarray, np.ndarray]]:
    """``(split, repeat, train_index, test_index)`` tuples (positional indices into results)."""
    df = results.reset_index(drop=True)
    keys = config_keys(df)
    rng = np.random.default_rng(seed)
    out: list[tuple[str, int, np.ndarray, np.ndarray]] = []
    per_cfg = pd.DataFrame({"key": keys, "kernel": df["kernel"], "flops": df["flops"]})
    cfgs = per_cfg.drop_duplicates("key")
    for r in range(repeats):
        test_keys: set[str] = set()
        for _, g in cfgs.groupby("kernel"):
            lo, hi = np.quantile(g["flops"], [0.10, 0.90])
            inner = g[(g["flops"] > lo) & (g["flops"] < hi)]["key"].to_numpy()
            k = max(1, int(round(test_fraction * len(g))))
            if len(inner) > k:
                test_keys.update(rng.choice(inner, size=k, replace=False).tolist())
        test = keys.isin(test_keys).to_numpy()
        out.append(("interpolation", r, np.flatnonzero(~test), np.flatnonzero(test)))
    # the largest shapes of each (kernel, backend); no training row shares their configuration
    big = np.zeros(len(df), dtype=bool)
    for _, g in df.groupby(["kernel", "backend"]):
        cut = np.quantile(g["flops"], 1.0 - extrapolate_top)
        big[g.index[g["flops"] > cut]] = True
    test_keys = set(keys[big])
    train = ~keys.isin(test_keys).to_numpy()
    out.append(("extrapolation", 0, np.flatnonzero(train), np.flatnonzero(big)))
    for kernel, g in df.groupby("kernel"):
        if g["backend"].nunique() < 2:
            continue
        for backend, gb in g.groupby("backend"):
            bkeys = keys[gb.index].unique()
            if len(bkeys) < few + 5:
                continue
            for r in range(repeats):
                shots = set(rng.choice(bkeys, size=few, replace=False).tolist())
                is_target = ((df["kernel"] == kernel) & (df["backend"] == backend)).to_numpy()
                test = is_target & ~keys.isin(shots).to_numpy()
                # train: every other backend (all kernels) plus the few shots of the target
                out.append(("few-shot backend", r, np.flatnonzero(~test), np.flatnonzero(test)))
    return out


def evaluate(
    store: Any = None,
    *,
    results: pd.DataFrame | None = None,
    kernels: Sequence[str] | None = None,
    backends: Sequence[str] | None = None,
    tag: str | None = None,
    model_params: Mapping[str, Any] | None = None,
    seed: int = 0,
    repeats: int = 3,
    few: int = 8,
    per_kernel_rows: bool = True,
    return_predictions: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out configurations, refit, and score the predictions per split (and kernel).

    Parameters
    ----------
    store : Store or path, optional
        Where the measurements are (or pass ``results``).
    results : DataFrame, optional
        ``Store.results()`` rows to use instead of a store.
    kernels, backends : list of str, optional
        Restrict the data.
    tag : str, optional
        Only runs with this tag (e.g. one sweep measured on a quiet machine).
    model_params : dict, optional
        Parameters of :class:`SpeedModel` (e.g. ``{"per_kernel": False}``). The model's
        ``statistic`` (default ``"median"``) is the figure predicted and scored; repeats are
        merged with its ``aggregate`` rule (default ``"min"``) before splitting, so the
        held-out figure is the merged one too; ``{"aggregate": None}`` keeps every row.
    seed, repeats, few :
        Split seed, repetitions of the random splits, and configurations of the target
        backend in the few-shot split.
    per_kernel_rows : bool
        Add one row per (split, kernel) besides the split's overall row.
    return_predictions : bool
        Also return every held-out prediction (split, repeat, measured, pred, low, high, ...).

    Returns
    -------
    pandas.DataFrame
        ``split, kernel, backend, n_train, n_test, within_10pct, mape, spearman, coverage,
        nominal, rel_width``; ``"all"`` rows pool kernels or backends (rows per backend only
        when there are several).
    """
    if results is None:
        from ..store import open_store

        results = open_store(store).results(
            kernels=list(kernels) if kernels else None,
            backends=list(backends) if backends else None,
            tag=tag,
            status="ok",
        )
    else:
        results = results[results["status"] == "ok"] if "status" in results else results
        if kernels:
            results = results[results["kernel"].isin(kernels)]
        if backends:
            results = results[results["backend"].isin(backends)]
    if results.empty:
        raise PredictionError(
            "No successful measurements to evaluate on. Measure first, e.g. "
            "`python benchmarks/predict_eval.py measure --db PATH`."
        )
    params = dict(model_params or {})
    statistic = params.setdefault("statistic", SpeedModel().statistic)
    if params.setdefault("aggregate", SpeedModel().aggregate):
        # score against the same merged figure the model is trained on
        results = aggregate_repeats(results, params["aggregate"], statistic)
    else:
        results = with_latency(results, statistic)
    results = results.reset_index(drop=True)
    preds = []
    per_kernel = params.get("per_kernel", SpeedModel().per_kernel)
    kernel_of = results["kernel"].to_numpy()
    for split, rep, train, test in splits(results, seed=seed, repeats=repeats, few=few):
        if len(test) == 0:
            continue
        if per_kernel:
            # kernels are modelled separately: rows of other kernels change nothing but the
            # fitting time (the few-shot splits test one kernel at a time)
            train = train[np.isin(kernel_of[train], np.unique(kernel_of[test]))]
        model = SpeedModel(**params).fit(results.iloc[train])
        p = model.predict(results.iloc[test])
        preds.append(
            pd.DataFrame(
                {
                    "split": split,
                    "repeat": rep,
                    "kernel": p["kernel"],
                    "backend": p["backend"],
                    "params": p["params"],
                    "flops": p["flops"],
                    "measured_s": p["latency_s"],
                    "pred_s": p["pred_s"],
                    "low_s": p["low_s"],
                    "high_s": p["high_s"],
                    "n_train": len(train),
                }
            )
        )
    if not preds:
        raise PredictionError("Too few configurations to hold any out; measure more.")
    allp = pd.concat(preds, ignore_index=True)
    rows = []
    nominal = float(params.get("coverage", SpeedModel().coverage))
    for split in [s for s in SPLITS if s in set(allp["split"])]:
        sp = allp[allp["split"] == split]
        groups = [(("all", "all"), sp)]
        if per_kernel_rows:
            groups += [((k, "all"), g) for k, g in sp.groupby("kernel")]
            if allp["backend"].nunique() > 1:
                groups += list(sp.groupby(["kernel", "backend"]))
        for (kernel, backend), g in groups:
            m = prediction_metrics(g["measured_s"], g["pred_s"], g["low_s"], g["high_s"])
            rows.append(
                {
                    "split": split,
                    "kernel": kernel,
                    "backend": backend,
                    "n_train": int(g["n_train"].mean()),
                    "n_test": int(m["n"]),
                    "within_10pct": m["within_10pct"],
                    "mape": m["mape"],
                    "spearman": m["spearman"],
                    "coverage": m["coverage"],
                    "nominal": nominal,
                    "rel_width": m["rel_width"],
                }
            )
    table = pd.DataFrame(rows)
    return (table, allp) if return_predictions else table


def measurement_noise(
    store: Any = None,
    *,
    kernels: Sequence[str] | None = None,
    backends: Sequence[str] | None = None,
    statistic: str = "median",
    results: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """How much repeat measurements of the same configuration disagree: the accuracy ceiling.

    For every configuration measured in two or more runs, each measurement's ``statistic``
    (``"median"`` or ``"min"``, see :data:`~accel_toolkit.predict.STATISTICS`) is compared
    with the median over its runs. ``within_10pct`` is the share of single measurements within
    +-10% of that median - what a *perfect* predictor of the typical value would score against
    single measurements - and ``mad`` their mean absolute relative deviation.

    ``merged_within_10pct`` is the same question for the figure the model is trained and
    scored on when repeats are merged with the fastest run (``aggregate="min"``): each
    configuration's runs are split into two halves (alternating in time), each half is
    merged, and the two merged figures are compared (share within +-10% of each other).
    The harness's own 99% CI half-width of the median (relative) is ``ci_halfwidth``.
    """
    if results is None:
        from ..store import open_store

        results = open_store(store).results(
            kernels=list(kernels) if kernels else None,
            backends=list(backends) if backends else None,
            status="ok",
        )
    cols = [
        "kernel",
        "backend",
        "configs",
        "measurements",
        "within_10pct",
        "mad",
        "merged_within_10pct",
        "ci_halfwidth",
    ]
    if results.empty:
        return pd.DataFrame(columns=cols)
    df = with_latency(results, statistic)
    df = df[np.isfinite(df["latency_s"]) & (df["latency_s"] > 0)]
    df = df.assign(_key=config_keys(df))
    rows = []
    for (kernel, backend), g in df.groupby(["kernel", "backend"]):
        counts = g.groupby("_key")["run_id"].nunique()
        rep = g[g["_key"].isin(counts[counts >= 2].index)]
        ci = float(((g["ci_high_s"] - g["ci_low_s"]) / 2 / g["median_s"]).median())
        row = {
            "kernel": kernel,
            "backend": backend,
            "configs": int(rep["_key"].nunique()),
            "measurements": len(rep),
            "within_10pct": np.nan,
            "mad": np.nan,
            "merged_within_10pct": np.nan,
            "ci_halfwidth": ci,
        }
        if not rep.empty:
            med = rep.groupby("_key")["latency_s"].transform("median")
            dev = (rep["latency_s"] / med - 1.0).abs()
            halves = []
            for _, c in rep.sort_values("created_at").groupby("_key"):
                t = c["latency_s"].to_numpy()
                halves.append(t[0::2].min() / t[1::2].min())
            row.update(
                within_10pct=float((dev <= 0.10).mean()),
                mad=float(dev.mean()),
                merged_within_10pct=float(np.mean(np.abs(np.array(halves) - 1) <= 0.10)),
            )
        rows.append(row)
    return pd.DataFrame(rows, columns=cols)
