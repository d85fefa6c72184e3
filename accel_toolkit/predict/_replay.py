"""Replaying active against random choice over a pool of stored measurements.

Pool-based active learning: each seed holds out test configurations, and every strategy
chooses from the same stored real measurements, so all of them see exactly the same
numbers; the refitted model is scored on the held-out configurations after each round.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import ConfigError, PredictionError
from ._evaluate import prediction_metrics
from ._model import SpeedModel, aggregate_repeats
from ._strategies import _AIMED, _key, _standard_space, resolve_strategy, suggest

__all__ = ["ReplayResult", "replay_active_learning", "replay_split"]


@dataclass
class ReplayResult:
    """Learning curves of active vs random choice over one measured pool.

    ``curves``: ``strategy, seed, n, within_10pct, mape, spearman, coverage`` on the held-out
    test configurations after ``n`` measurements.
    """

    kernel: str
    backend: str
    curves: pd.DataFrame
    budget: int
    pool_size: int
    test_size: int

    def mean_curves(self) -> pd.DataFrame:
        return self.curves.groupby(["strategy", "n"], as_index=False)[
            ["within_10pct", "mape", "spearman", "coverage"]
        ].mean()

    def summary(self, ci: float = 0.9, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
        """Measurements each strategy needs to reach random choice's final accuracy.

        Two targets, from the mean curves over seeds: random choice's MAPE after the whole
        budget (``n_to_target``) and its share of predictions within +-10%
        (``n_to_within``). Each count is the first ``n`` whose mean reaches the target (NaN:
        never within the budget). ``share_of_random`` and ``share_of_random_within`` divide
        it by random choice's own count (random may reach its final figure before the end of
        the budget, when its mean curve is flat or noisy); ``share_of_budget`` and
        ``share_of_budget_within`` divide it by the budget, the measurements random choice
        spent to get there.

        ``final_mape_ratio`` is a strategy's final MAPE over random choice's (below 1:
        better after the whole budget). ``*_low`` / ``*_high`` bound each share and that
        ratio with a ``ci`` bootstrap interval over the seeds (``n_boot`` resamples of whole
        seeds, every strategy's curves of a seed kept together as they share its test set
        and first shapes; ``inf`` where resamples never reach the target): with few seeds
        the random baseline's final figure itself moves.
        """
        mc = self.mean_curves()
        rnd = mc[mc["strategy"] == "random"].sort_values("n")
        if rnd.empty:
            raise PredictionError(
                "summary() compares each strategy with random choice; "
                "replay with 'random' among the strategies."
            )
        if not 0.0 < ci < 1.0:
            raise ConfigError(f"ci must be in (0, 1), got {ci!r}.")
        target = float(rnd["mape"].iloc[-1])
        target_within = float(rnd["within_10pct"].iloc[-1])

        def first(g: pd.DataFrame, hit: pd.Series) -> float:
            return float(g.loc[hit, "n"].iloc[0]) if hit.any() else np.nan

        rows = []
        for strategy, g in mc.groupby("strategy"):
            g = g.sort_values("n")
            rows.append(
                {
                    "strategy": strategy,
                    "final_mape": float(g["mape"].iloc[-1]),
                    "final_within_10pct": float(g["within_10pct"].iloc[-1]),
                    "final_coverage": float(g["coverage"].iloc[-1]),
                    "target_mape": target,
                    "n_to_target": first(g, g["mape"] <= target + 1e-12),
                    "target_within_10pct": target_within,
                    "n_to_within": first(g, g["within_10pct"] >= target_within - 1e-12),
                    "budget": self.budget,
                    "pool": self.pool_size,
                    "test": self.test_size,
                }
            )
        out = pd.DataFrame(rows)
        out["final_mape_ratio"] = out["final_mape"] / target
        is_random = out["strategy"] == "random"
        for suffix, col in (("", "n_to_target"), ("_within", "n_to_within")):
            out[f"share_of_random{suffix}"] = out[col] / out.loc[is_random, col].iloc[0]
            out[f"share_of_budget{suffix}"] = out[col] / self.budget
        bands = self._bootstrap_bands(list(out["strategy"]), ci, n_boot, seed)
        return out.join(bands, on="strategy")

    def _bootstrap_bands(
        self, strategies: list[str], ci: float, n_boot: int, seed: int
    ) -> pd.DataFrame:
        """Percentile bounds of the shares and of the final MAPE ratio over ``n_boot``
        resamples of the seeds."""
        ns = np.sort(self.curves["n"].unique()).astype(float)
        rng = np.random.default_rng(seed)
        seeds = np.sort(self.curves["seed"].unique())
        pick = rng.integers(0, len(seeds), size=(n_boot, len(seeds)))
        lo, hi = (1.0 - ci) / 2.0, 1.0 - (1.0 - ci) / 2.0
        bands: dict[str, dict[str, float]] = {s: {} for s in strategies}
        rnd = strategies.index("random")
        for metric, suffix, sign in (("mape", "", 1.0), ("within_10pct", "_within", -1.0)):
            # (strategy, seed, n), as "lower is better" (the share within +-10% negated)
            table = (
                self.curves.pivot_table(index=["strategy", "seed"], columns="n", values=metric)
                .reindex(pd.MultiIndex.from_product([strategies, seeds]))
                .reindex(columns=ns)
            )
            cube = sign * table.to_numpy().reshape(len(strategies), len(seeds), len(ns))
            means = cube[:, pick, :].mean(axis=2)  # (strategy, resample, n)
            target = means[rnd, :, -1]
            hit = means <= target[None, :, None] + 1e-12
            n_hit = np.where(hit.any(axis=2), ns[hit.argmax(axis=2)], np.inf)
            share = n_hit / n_hit[rnd][None, :]
            budget_share = n_hit / self.budget
            # final MAPE relative to random choice's (< 1: better after the whole budget)
            ratio = means[:, :, -1] / means[rnd][None, :, -1] if metric == "mape" else None
            for i, s in enumerate(strategies):
                pairs = [
                    (f"share_of_random{suffix}", share[i]),
                    (f"share_of_budget{suffix}", budget_share[i]),
                ]
                if ratio is not None:
                    pairs.append(("final_mape_ratio", ratio[i]))
                for name, v in pairs:
                    bands[s][f"{name}_low"] = float(np.quantile(v, lo, method="inverted_cdf"))
                    bands[s][f"{name}_high"] = float(np.quantile(v, hi, method="inverted_cdf"))
        return pd.DataFrame.from_dict(bands, orient="index")

    def chart(self) -> Any:
        import altair as alt

        mc = self.mean_curves()
        return (
            alt.Chart(mc)
            .mark_line(point=True)
            .encode(
                x=alt.X("n:Q", title="measurements"),
                y=alt.Y("mape:Q", title="held-out MAPE", scale=alt.Scale(type="log")),
                color="strategy:N",
            )
            .properties(title=f"active vs random: {self.kernel} on {self.backend}")
        )


def replay_split(
    n: int,
    seed: int,
    test_fraction: float = 0.3,
    *,
    family: int | None = None,
    space: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.random.Generator]:
    """``(test, pool, rng)``: the row positions :func:`replay_active_learning` holds out and
    chooses from for its seed ``seed`` (of ``n`` merged configurations), and the generator
    that then draws the first shapes. Other studies of the same stored pool (e.g. how
    accurate ``n`` random shapes are) use it to score on the replay's very test sets.

    By default a random ``test_fraction`` is held out. With ``family`` the held-out shapes
    are the ``family`` nearest (Euclidean, in the rows of ``space``: standardised
    coordinates of the ``n`` configurations) to one drawn at random: one family of shapes,
    as a user who wants the layers of one model predicted has.
    """
    rng = np.random.default_rng(1000 + seed)
    if family is None:
        perm = rng.permutation(n)
        n_test = _held_out(n, test_fraction)
        return perm[:n_test], perm[n_test:], rng
    if space is None or len(space) != n:
        raise ConfigError(f"family= needs space=: one row of coordinates per configuration ({n}).")
    if not 0 < family < n:
        raise ConfigError(f"family must be between 1 and {n - 1}, got {family}.")
    from scipy.spatial.distance import cdist

    anchor = space[rng.integers(n)]
    near = np.argsort(cdist(anchor[None, :], space)[0], kind="stable")
    return near[:family], rng.permutation(near[family:]), rng


def _held_out(n: int, test_fraction: float) -> int:
    """How many of ``n`` configurations each replay seed holds out."""
    return int(round(test_fraction * n))


def replay_active_learning(
    store: Any = None,
    kernel: str = "matmul",
    backend: str = "cpu",
    *,
    results: pd.DataFrame | None = None,
    tag: str | None = None,
    budget: int = 40,
    init: int = 5,
    step: int = 1,
    seeds: int = 5,
    test_fraction: float = 0.3,
    strategies: Sequence[str] = ("auto", "random"),
    model_params: Mapping[str, Any] | None = None,
    targets: bool = False,
    family: int | None = None,
) -> ReplayResult:
    """Replay active vs random selection over stored real measurements of one kernel/backend.

    Each seed holds out ``test_fraction`` of the configurations as a test set; both strategies
    start from the same ``init`` random configurations of the rest (the pool) and add ``step``
    at a time up to ``budget``, scoring the refitted model on the test set after each round.
    Repeat measurements of one configuration are merged with the model's ``aggregate`` rule
    (``model_params``; default: the fastest run) on its ``statistic``; ``tag`` restricts the
    pool to runs with that tag.

    With ``targets=True`` variance reduction sums its posterior variance over the held-out
    configurations (their parameters, never their timings: :func:`suggest`'s ``targets``),
    and ``"representative"`` covers them, as a user who knows which shapes they want
    predicted would; their curves are labelled ``"variance-reduction@test"`` and
    ``"representative@test"``. With ``family`` each seed holds out the ``family`` shapes
    nearest to a random one (in the standardised log sizes and cost; ``test_fraction`` is
    then unused) instead of a random share: the case of a user whose shapes are one family
    and whose candidates are the whole grid.
    """
    if results is None:
        from ..store import open_store

        results = open_store(store).results(
            kernels=[kernel], backends=[backend], tag=tag, status="ok"
        )
    else:
        results = results[(results["kernel"] == kernel) & (results["backend"] == backend)]
        if "status" in results:
            results = results[results["status"] == "ok"]
    if results.empty:
        raise PredictionError(
            f"No measurements of {kernel} on {backend} to replay; measure a "
            f"pool first (python benchmarks/predict_eval.py measure)."
        )
    params = {"n_estimators": 150, **dict(model_params or {})}
    proto = SpeedModel(**params)
    strategies = list(dict.fromkeys(resolve_strategy(proto, st) for st in strategies))
    agg = aggregate_repeats(results, proto.aggregate or "median", proto.statistic)
    agg["_key"] = [
        _key(k, p, d, b)
        for k, p, d, b in zip(
            agg["kernel"], agg["params"], agg["dtype"], agg["backend"], strict=False
        )
    ]
    n = len(agg)
    n_test = _held_out(n, test_fraction) if family is None else int(family)
    space = None if family is None else _standard_space(agg, kernel)
    if n - n_test < budget:
        raise PredictionError(
            f"{kernel} on {backend}: {n} configurations leave {n - n_test} in "
            f"the pool, fewer than budget={budget}; measure more or lower it."
        )
    rows = []
    for s in range(seeds):
        test_rows, pool_rows, rng = replay_split(n, s, test_fraction, family=family, space=space)
        test, pool = agg.iloc[test_rows], agg.iloc[pool_rows].reset_index(drop=True)
        start = list(rng.choice(len(pool), size=init, replace=False))
        for strategy in strategies:
            aim = test if targets and strategy in _AIMED else None
            label = strategy if aim is None else f"{strategy}@test"
            chosen = list(start)
            while True:
                model = SpeedModel(**params).fit(pool.iloc[chosen])
                p = model.predict(test)
                m = prediction_metrics(test["latency_s"], p["pred_s"], p["low_s"], p["high_s"])
                rows.append({**m, "n_test": m["n"], "strategy": label, "seed": s, "n": len(chosen)})
                if len(chosen) >= budget:
                    break
                rest = pool.drop(index=chosen)
                k = min(step, budget - len(chosen))
                picks = suggest(
                    model, rest, k=k, strategy=strategy, seed=s * 7919 + len(chosen), targets=aim
                )
                key_of = dict(zip(rest["_key"], rest.index, strict=False))
                chosen += [
                    key_of[_key(r.kernel, r.params, r.dtype, r.backend)]
                    for r in picks.itertuples(index=False)
                ]
    return ReplayResult(kernel, backend, pd.DataFrame(rows), budget, len(agg) - n_test, n_test)
