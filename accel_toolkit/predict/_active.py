"""Active learning: which configurations to measure next, and a loop that measures them.

:func:`suggest` picks, for the GP model, the candidates whose measurement most reduces the
posterior variance summed over all the candidates (greedy batch **variance reduction**: the
GP covariance makes one score of uncertainty and diversity); for any model it can rank by
**uncertainty** (prediction-interval width, in log space) times **diversity** (distance in
the standardised size/cost space to everything measured or already picked, max-min), or
pick **representative** candidates: those that leave the shapes to predict (``targets``)
nearest to a measured one (greedy facility location, no model needed).

:func:`active_learning` really measures the suggestions (``measure_one`` into the store) and
refits after every round. :func:`replay_active_learning` compares active against random
choice over a pool of configurations measured once (pool-based active learning: the choice
is replayed over stored real measurements, so both strategies see exactly the same numbers).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import ConfigError, PredictionError
from ._evaluate import prediction_metrics
from ._features import config_frame, featurize
from ._model import STATISTICS, SpeedModel, aggregate_repeats

__all__ = ["ActiveLearningResult", "ReplayResult", "active_learning", "replay_active_learning",
           "suggest"]


def _key(kernel: str, params: Mapping[str, Any], dtype: str, backend: str) -> str:
    return json.dumps([kernel, dict(sorted(params.items())), dtype, backend], sort_keys=True)


def _space_columns(columns: Iterable[str], kernel: str) -> list[str]:
    """The features that place a configuration of ``kernel``: its log sizes and cost (not
    the padding features, which would make 64 and 65 look far apart)."""
    return [c for c in columns
            if (c.startswith(f"{kernel}.") and "%" not in c) or c in ("log_flops", "log_bytes")]


def _space(frame: pd.DataFrame, kernel: str) -> pd.DataFrame:
    X = featurize(frame)
    return X.reindex(columns=_space_columns(X.columns, kernel), fill_value=0.0)


def _standard_space(frame: pd.DataFrame, kernel: str) -> np.ndarray:
    """:func:`_space` of ``frame``'s rows, each column standardised over those rows."""
    Z = _space(frame, kernel).to_numpy()
    return (Z - Z.mean(axis=0)) / np.maximum(Z.std(axis=0), 1e-9)


def _candidate_frame(candidates: Any, kernel: str | None, backend: str, dtype: str) -> pd.DataFrame:
    if isinstance(candidates, pd.DataFrame) and "params" in candidates.columns:
        df = candidates.copy()
        if "kernel" not in df.columns:
            if kernel is None:
                raise ConfigError("Pass kernel=... or give candidates a 'kernel' column.")
            df["kernel"] = kernel
        df["backend"] = df["backend"] if "backend" in df.columns else backend
        df["dtype"] = df["dtype"] if "dtype" in df.columns else dtype
        return config_frame(df)
    items = list(candidates)
    if not items:
        raise ConfigError("No candidate configurations given.")
    if kernel is None:
        raise ConfigError("Pass kernel=... with a list of parameter dicts.")
    return config_frame([{"kernel": kernel, "backend": backend, "dtype": dtype,
                          "params": dict(p)} for p in items])


def suggest(
    model: SpeedModel,
    candidates: pd.DataFrame | Iterable[Mapping[str, Any]],
    k: int = 5,
    *,
    kernel: str | None = None,
    backend: str = "cpu",
    dtype: str = "float32",
    diversity: float = 1.0,
    strategy: str = "auto",
    seed: int = 0,
    targets: pd.DataFrame | Iterable[Mapping[str, Any]] | None = None,
) -> pd.DataFrame:
    """The ``k`` candidates worth measuring next.

    Parameters
    ----------
    model : SpeedModel
        A fitted model (its training configurations are never suggested again).
    candidates : DataFrame or iterable of parameter dicts
        Configurations that could be measured (e.g. :func:`log_uniform_grid`).
    k : int
        How many to pick.
    kernel, backend, dtype : str
        For candidates given as plain parameter dicts.
    diversity : float
        Exponent of the distance term (0 = pure uncertainty sampling).
    strategy : str
        ``"variance-reduction"``: the candidate whose measurement most reduces the GP's
        total posterior variance over *all* the candidates, then the next given that one
        (greedy batch; uncertainty and diversity in one score, as the GP's covariance says
        how far a measurement teaches). ``"representative"``: the candidate that most
        lowers the summed distance from every target (default: every candidate) to its
        nearest measured configuration, in the standardised log sizes (greedy facility
        location; no model needed: with a family of targets, e.g. one model's layers, it
        did as well as variance reduction, see ``docs/predict.md``).
        ``"uncertainty-diversity"``: interval width times
        distance to the nearest measured or picked point (any regressor).
        ``"uncertainty"``: widest intervals. ``"random"``. ``"auto"`` (default):
        variance reduction for a GP model, uncertainty-diversity otherwise.
    seed : int
        For ``"random"``.
    targets : DataFrame or iterable of parameter dicts, optional
        The configurations whose predictions matter (as ``candidates``; never measured):
        variance reduction then sums the posterior variance over these instead of over the
        candidates, and ``"representative"`` covers these (transductive experimental design:
        a user who knows which shapes they want predicted need not learn the rest of the
        space). Default: the candidates.

    Returns
    -------
    pandas.DataFrame
        The chosen candidates in pick order with ``pred_s, low_s, high_s, uncertainty``
        (``log(high / low)``), ``distance`` (to the nearest measured or picked point; for the
        distance-based strategies) and ``variance_reduction`` (the expected drop in the
        summed posterior variance of log latency over the candidates; for
        ``"variance-reduction"``) and ``coverage_gain`` (the drop of the summed distance
        from the targets to their nearest measured configuration; for ``"representative"``).
    """
    if k < 1:
        raise ConfigError(f"k must be >= 1, got {k}.")
    strategy = resolve_strategy(model, strategy)
    _check_targets(targets, strategy)
    cand = _candidate_frame(candidates, kernel, backend, dtype)
    train = model.training_
    seen = {_key(*t) for t in zip(train["kernel"], train["params"], train["dtype"], train["backend"], strict=False)}
    keys = [_key(*t) for t in zip(cand["kernel"], cand["params"], cand["dtype"], cand["backend"], strict=False)]
    fresh = ~pd.Series(keys).duplicated().to_numpy() & np.array([x not in seen for x in keys])
    cand = cand[fresh].reset_index(drop=True)
    if cand.empty:
        raise PredictionError("Every candidate has been measured already; give new candidates.")
    pred = model.predict(cand)
    unc = np.log(pred["high_s"].to_numpy() / pred["low_s"].to_numpy())
    dist = np.full(len(cand), np.inf)
    gains = np.full(len(cand), np.nan)
    cover = np.full(len(cand), np.nan)
    at_pick: list[float] = []
    aim = None if targets is None else _candidate_frame(targets, kernel, backend, dtype)
    if strategy == "random":
        order = np.random.default_rng(seed).permutation(len(cand))[:k]
    elif strategy == "variance-reduction":
        order, gain = _variance_reduction(model, cand, k, aim)
        gains[order] = gain
    elif strategy == "representative":
        order, drop = _representative(cand, train, k, aim)
        cover[order] = drop
    else:
        from scipy.spatial.distance import cdist

        picked: list[int] = []
        score_unc = unc / max(float(unc.max()), 1e-12)
        for kern, idx in cand.groupby("kernel").indices.items():
            Z = _standard_space(pd.concat([cand.iloc[idx], train[train["kernel"] == kern]],
                                          ignore_index=True), kern)
            Zc, Zt = Z[: len(idx)], Z[len(idx):]
            if len(Zt):
                d = cdist(Zc, Zt).min(axis=1)
            else:
                d = np.full(len(idx), np.inf)
            dist[idx] = d
        Zall = featurize(cand)
        for _ in range(min(k, len(cand))):
            finite = np.isfinite(dist)
            dnorm = dist / max(float(dist[finite].max()) if finite.any() else 1.0, 1e-12)
            dnorm[~finite] = 1.0
            score = score_unc * (dnorm ** diversity if strategy != "uncertainty" else 1.0)
            score[picked] = -np.inf
            i = int(np.argmax(score))
            picked.append(i)
            at_pick.append(float(dist[i]))
            # distance of every candidate of the same kernel to the new pick
            same = (cand["kernel"] == cand["kernel"].iloc[i]).to_numpy()
            kern = cand["kernel"].iloc[i]
            cols = _space_columns(Zall.columns, kern)
            Z = Zall.loc[same, cols].to_numpy()
            sd = np.maximum(Z.std(axis=0), 1e-9)
            zi = Zall.loc[i, cols].to_numpy()
            d_new = np.sqrt((((Z - zi) / sd) ** 2).sum(-1))
            dist[same] = np.minimum(dist[same], d_new)
        order = np.asarray(picked, dtype=int)
    out = pred.iloc[order].copy()
    out["uncertainty"] = unc[order]
    out["distance"] = at_pick if at_pick else np.nan
    out["variance_reduction"] = gains[order]
    out["coverage_gain"] = cover[order]
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out.reset_index(drop=True)


STRATEGIES = ("variance-reduction", "representative", "uncertainty-diversity", "uncertainty",
              "random")
#: the strategies that can aim at ``targets``
_AIMED = ("variance-reduction", "representative")


def resolve_strategy(model: SpeedModel, strategy: str) -> str:
    """The concrete strategy ``strategy`` names for ``model`` (``"auto"`` picks one)."""
    if strategy == "auto":
        return "variance-reduction" if model.regressor == "gp" else "uncertainty-diversity"
    if strategy not in STRATEGIES:
        raise ConfigError(f"Unknown strategy {strategy!r}; use 'auto' or one of "
                          f"{', '.join(map(repr, STRATEGIES))}.")
    if strategy == "variance-reduction" and model.regressor != "gp":
        raise ConfigError("strategy='variance-reduction' needs a GP model "
                          "(SpeedModel(regressor='gp')); use 'uncertainty-diversity'.")
    return strategy


def _check_targets(targets: Any, strategy: str) -> None:
    if targets is not None and strategy not in _AIMED:
        raise ConfigError(f"targets= is used by strategy 'variance-reduction' or "
                          f"'representative' only, not {strategy!r}.")


def _representative(cand: pd.DataFrame, train: pd.DataFrame, k: int,
                    targets: pd.DataFrame | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Greedy picks that leave every target closest to a measured configuration.

    Each pick is the candidate that most lowers the summed distance from every target
    (default: every candidate) to its nearest measured or picked configuration of the same
    kernel and backend, in the standardised log sizes and cost (:func:`_space`): greedy
    facility location (k-medians), which needs no model. Once no candidate brings any
    target nearer, the next picks are the candidates nearest to the targets on average.
    Returns the picks and each one's drop of that sum.
    """
    from scipy.spatial.distance import cdist

    goal = cand if targets is None else targets
    blocks = []  # (candidate rows, distance targets x candidates, nearest measured distance)
    mean = np.full(len(cand), np.inf)  # each candidate's mean distance to its targets
    for (kern, back), idx in cand.groupby(["kernel", "backend"]).indices.items():
        aim = goal[(goal["kernel"] == kern) & (goal["backend"] == back)]
        if aim.empty:
            continue
        seen = train[(train["kernel"] == kern) & (train["backend"] == back)]
        Z = _standard_space(pd.concat([cand.iloc[idx], aim, seen], ignore_index=True), kern)
        Zc, Za, Zs = Z[:len(idx)], Z[len(idx):len(idx) + len(aim)], Z[len(idx) + len(aim):]
        D = cdist(Za, Zc)
        # a target near nothing measured yet counts as twice its farthest candidate away
        near = cdist(Za, Zs).min(axis=1) if len(Zs) else 2.0 * D.max(axis=1)
        blocks.append((idx, D, near))
        mean[idx] = D.mean(axis=0)
    if not blocks:
        raise ConfigError("No candidate shares a kernel and backend with the targets; give "
                          "candidates of the targets' kernels and backends.")
    order: list[int] = []
    drops: list[float] = []
    taken = ~np.isfinite(mean)  # candidates of no target's kernel and backend: never picked
    for _ in range(min(k, int((~taken).sum()))):
        drop = np.full(len(cand), -np.inf)
        for idx, D, near in blocks:
            drop[idx] = (near[:, None] - np.minimum(near[:, None], D)).sum(axis=0)
        drop[taken] = -np.inf
        i = int(np.argmax(drop))
        if drop[i] <= 0.0:
            # every target is as near a measured shape as any candidate brings it: measure
            # the candidate nearest to the targets on average (more points about them)
            i = int(np.argmin(np.where(taken, np.inf, mean)))
        for idx, D, near in blocks:
            if i in idx:
                near[:] = np.minimum(near, D[:, int(np.searchsorted(idx, i))])
        order.append(i)
        drops.append(max(float(drop[i]), 0.0))
        taken[i] = True
    return np.asarray(order, dtype=int), np.asarray(drops)


def _variance_reduction(model: SpeedModel, cand: pd.DataFrame, k: int,
                        targets: pd.DataFrame | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Greedy batch that most reduces the summed posterior variance over ``targets``
    (default: over ``cand`` itself).

    Measuring ``x`` (with noise variance ``s2``) turns the posterior covariance ``S`` into
    ``S - S[:, x] S[x, :] / (S[x, x] + s2)``, whatever the measured value, so the total
    variance over the targets drops by ``sum_u S[u, x]^2 / (S[x, x] + s2)``: large where the
    model is unsure *and* where many targets are correlated with ``x``. Picking a point
    updates ``S``, so the next pick goes where the first taught least (the diversity).
    """
    n = len(cand)
    rows = cand if targets is None else pd.concat([cand, targets], ignore_index=True)
    blocks = []  # fresh covariance arrays, updated in place
    for idx, cov, noise in model.posterior_cov(rows):
        is_cand = idx < n
        blocks.append((idx, cov, max(float(noise), 1e-12), is_cand,
                       is_cand if targets is None else ~is_cand))
    order: list[int] = []
    gains: list[float] = []
    taken = np.zeros(n, dtype=bool)
    for _ in range(min(k, n)):
        best = (-np.inf, -1, -1)
        for b, (idx, cov, noise, is_cand, is_target) in enumerate(blocks):
            denom = np.maximum(np.diag(cov), 0.0) + noise
            score = (cov[is_target] ** 2).sum(axis=0) / denom
            score[~is_cand] = -np.inf
            score[is_cand] = np.where(taken[idx[is_cand]], -np.inf, score[is_cand])
            j = int(np.argmax(score))
            if score[j] > best[0]:
                best = (float(score[j]), b, j)
        gain, b, j = best
        idx, cov, noise, _, _ = blocks[b]
        col = cov[:, j].copy()
        cov -= np.outer(col, col) / (max(float(col[j]), 0.0) + noise)
        order.append(int(idx[j]))
        gains.append(gain)
        taken[idx[j]] = True
    return np.asarray(order, dtype=int), np.asarray(gains)


# -- the real loop ------------------------------------------------------------------------
@dataclass
class ActiveLearningResult:
    """What :func:`active_learning` measured, and how well each prediction did beforehand.

    ``history`` has one row per measured configuration: ``round, params, pred_s, low_s,
    high_s, measured_s, rel_error, covered, n_train`` (``pred_*`` are NaN for the random
    initial design). The prequential error (each prediction made *before* its measurement) is
    an honest estimate of the model's accuracy on new configurations.
    """

    kernel: str
    backend: str
    run_id: str
    history: pd.DataFrame
    model: SpeedModel | None = field(repr=False, default=None)

    def chart(self) -> Any:
        """Predicted (with interval) vs measured latency of each suggestion, by round."""
        import altair as alt

        h = self.history.dropna(subset=["pred_s"])
        base = alt.Chart(h).encode(x=alt.X("measured_s:Q", scale=alt.Scale(type="log"),
                                           title="measured (s)"))
        bars = base.mark_rule(opacity=0.5).encode(
            y=alt.Y("low_s:Q", scale=alt.Scale(type="log"), title="predicted (s)"), y2="high_s:Q")
        pts = base.mark_circle(size=60).encode(y="pred_s:Q", color="round:O",
                                               tooltip=["round", "params", "pred_s", "measured_s"])
        return (bars + pts).properties(title=f"active learning: {self.kernel} on {self.backend}")


def active_learning(
    kernel: str,
    backend: str = "cpu",
    candidates: Sequence[Mapping[str, Any]] | None = None,
    budget: int = 20,
    *,
    db: Any = None,
    init: int = 5,
    step: int = 1,
    dtype: str = "float32",
    seed: int = 0,
    time_budget: float | None = 0.2,
    settings: Any = None,
    use_store: bool = False,
    model_params: Mapping[str, Any] | None = None,
    strategy: str = "auto",
    targets: Sequence[Mapping[str, Any]] | None = None,
    progress: bool = True,
    tag: str = "active-learning",
) -> ActiveLearningResult:
    """Measure ``budget`` configurations of ``kernel`` on ``backend``, chosen actively.

    ``init`` random candidates are measured first; then, round after round, the model is
    refitted on everything measured so far and the ``step`` most useful candidates
    (:func:`suggest`) are measured - for real, into the store, as one run tagged ``tag``.

    Parameters
    ----------
    kernel, backend : str
        What to measure.
    candidates : list of parameter dicts, optional
        The pool to choose from; default ``log_uniform_grid(kernel, 200, seed=seed)``.
    budget : int
        Total measurements of this call (including the initial design).
    db : Store or path, optional
        Where the measurements go (default database if None).
    init, step : int
        Size of the random initial design and of each round.
    dtype, seed : str, int
        Configuration dtype and input seed.
    time_budget, settings :
        Timing of each measurement (as in :func:`accel_toolkit.bench`).
    use_store : bool
        Also train on the store's earlier ``ok`` results of this kernel and backend.
    model_params : dict, optional
        :class:`SpeedModel` parameters.
    strategy : str
        How :func:`suggest` picks (default ``"auto"``: variance reduction for a GP model).
    targets : list of parameter dicts, optional
        The shapes whose predictions matter (:func:`suggest`'s ``targets``; variance
        reduction only).
    progress : bool
        Show a tqdm bar.
    """
    from .._api import measure_one
    from ..backends import check_backend_name
    from ..backends._pool import BackendPool
    from ..harness import TimingSettings, environment, environment_id, git_commit
    from ..kernels import config_key, get_kernel
    from ..store import open_store
    from ._candidates import log_uniform_grid

    spec = get_kernel(kernel)
    check_backend_name(backend)
    if budget < 1 or init < 1 or step < 1:
        raise ConfigError("budget, init and step must all be >= 1.")
    params = dict(model_params or {})
    proto = SpeedModel(**params)
    strategy = resolve_strategy(proto, strategy)  # a wrong name fails before measuring
    _check_targets(targets, strategy)
    latency_col = STATISTICS[proto.statistic]  # the figure the model learns, per measurement
    min_cfg = int(proto.min_configs)
    if init < min_cfg and not use_store:
        raise ConfigError(f"init={init} is below the model's min_configs={min_cfg}; use "
                          f"init >= {min_cfg} or use_store=True.")
    pool_cfgs = [spec.resolve(c) for c in (candidates or log_uniform_grid(kernel, 200, seed=seed))]
    if len(pool_cfgs) < budget:
        raise ConfigError(f"Only {len(pool_cfgs)} candidates for a budget of {budget}.")
    timing = settings or TimingSettings.from_budget(time_budget)
    store = open_store(db)
    env = environment()
    env_id = environment_id(env)
    store.add_environment(env, env_id)
    run_id = store.start_run(tag=tag, env_id=env_id, git_commit=git_commit(),
                             command=f"active_learning({kernel!r}, {backend!r}, budget={budget})",
                             settings={**timing.as_dict(), "kernels": [kernel],
                                       "backends": [backend], "active_learning": True},
                             seed=seed, planned=budget)
    prior = (store.results(kernels=[kernel], backends=[backend], status="ok")
             if use_store else pd.DataFrame())
    rng = np.random.default_rng(seed)
    measured: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    pool = BackendPool()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=budget, desc=f"active {kernel}/{backend}", unit="cfg")
    model: SpeedModel | None = None

    def measure(p: dict[str, Any], rnd: int, pred: Mapping[str, float] | None) -> None:
        inputs = spec.make_inputs(p, dtype, seed)
        reference = spec.reference(inputs, p)
        row, samples = measure_one(pool, backend, spec, p, dtype, seed, inputs, reference, timing)
        row.update(run_id=run_id, env_id=env_id, config_key=config_key(spec.name, p, dtype))
        store.add_result(row, samples)
        if row.get("status") != "ok":
            raise PredictionError(f"Measuring {kernel} {p} on {backend} failed "
                                  f"({row.get('status')}): {row.get('error')}")
        measured.append(row)
        t = float(row[latency_col])
        h = {"round": rnd, "params": p, "measured_s": t, "n_train": len(measured) - 1,
             "pred_s": np.nan, "low_s": np.nan, "high_s": np.nan}
        if pred is not None:
            h.update(pred)
        history.append(h)
        if bar is not None:
            bar.update(1)

    try:
        with store.recording(run_id):
            first = rng.choice(len(pool_cfgs), size=min(init, budget), replace=False)
            for i in first:
                measure(pool_cfgs[int(i)], 0, None)
            rnd = 0
            while len(measured) < budget:
                rnd += 1
                train = pd.concat([prior, pd.DataFrame(measured)], ignore_index=True)
                model = SpeedModel(**params).fit(train)
                picks = suggest(model, pool_cfgs, k=min(step, budget - len(measured)),
                                kernel=kernel, backend=backend, dtype=dtype,
                                strategy=strategy, seed=seed + rnd, targets=targets)
                for r in picks.itertuples(index=False):
                    measure(dict(r.params), rnd, {"pred_s": r.pred_s, "low_s": r.low_s,
                                                  "high_s": r.high_s})
            model = SpeedModel(**params).fit(pd.concat([prior, pd.DataFrame(measured)],
                                                       ignore_index=True))
    finally:
        if bar is not None:
            bar.close()
        pool.close()
    hist = pd.DataFrame(history)
    hist["rel_error"] = (hist["pred_s"] - hist["measured_s"]).abs() / hist["measured_s"]
    inside = (hist["measured_s"] >= hist["low_s"]) & (hist["measured_s"] <= hist["high_s"])
    hist["covered"] = np.where(hist["pred_s"].isna(), np.nan, inside.astype(float))
    return ActiveLearningResult(kernel, backend, run_id, hist, model)


# -- replay over a measured pool ----------------------------------------------------------
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
        return (self.curves.groupby(["strategy", "n"], as_index=False)
                [["within_10pct", "mape", "spearman", "coverage"]].mean())

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
            raise PredictionError("summary() compares each strategy with random choice; "
                                  "replay with 'random' among the strategies.")
        if not 0.0 < ci < 1.0:
            raise ConfigError(f"ci must be in (0, 1), got {ci!r}.")
        target = float(rnd["mape"].iloc[-1])
        target_within = float(rnd["within_10pct"].iloc[-1])

        def first(g: pd.DataFrame, hit: pd.Series) -> float:
            return float(g.loc[hit, "n"].iloc[0]) if hit.any() else np.nan

        rows = []
        for strategy, g in mc.groupby("strategy"):
            g = g.sort_values("n")
            rows.append({"strategy": strategy, "final_mape": float(g["mape"].iloc[-1]),
                         "final_within_10pct": float(g["within_10pct"].iloc[-1]),
                         "final_coverage": float(g["coverage"].iloc[-1]),
                         "target_mape": target,
                         "n_to_target": first(g, g["mape"] <= target + 1e-12),
                         "target_within_10pct": target_within,
                         "n_to_within": first(g, g["within_10pct"] >= target_within - 1e-12),
                         "budget": self.budget, "pool": self.pool_size, "test": self.test_size})
        out = pd.DataFrame(rows)
        out["final_mape_ratio"] = out["final_mape"] / target
        is_random = out["strategy"] == "random"
        for suffix, col in (("", "n_to_target"), ("_within", "n_to_within")):
            out[f"share_of_random{suffix}"] = out[col] / out.loc[is_random, col].iloc[0]
            out[f"share_of_budget{suffix}"] = out[col] / self.budget
        bands = self._bootstrap_bands(list(out["strategy"]), ci, n_boot, seed)
        return out.join(bands, on="strategy")

    def _bootstrap_bands(self, strategies: list[str], ci: float, n_boot: int,
                         seed: int) -> pd.DataFrame:
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
            table = (self.curves.pivot_table(index=["strategy", "seed"], columns="n",
                                             values=metric)
                     .reindex(pd.MultiIndex.from_product([strategies, seeds]))
                     .reindex(columns=ns))
            cube = sign * table.to_numpy().reshape(len(strategies), len(seeds), len(ns))
            means = cube[:, pick, :].mean(axis=2)  # (strategy, resample, n)
            target = means[rnd, :, -1]
            hit = means <= target[None, :, None] + 1e-12
            n_hit = np.where(hit.any(axis=2), ns[hit.argmax(axis=2)], np.inf)
            share = n_hit / n_hit[rnd][None, :]
            budget_share = n_hit / self.budget
            # final MAPE relative to random choice's (< 1: better after the whole budget)
            ratio = (means[:, :, -1] / means[rnd][None, :, -1]
                     if metric == "mape" else None)
            for i, s in enumerate(strategies):
                pairs = [(f"share_of_random{suffix}", share[i]),
                         (f"share_of_budget{suffix}", budget_share[i])]
                if ratio is not None:
                    pairs.append(("final_mape_ratio", ratio[i]))
                for name, v in pairs:
                    bands[s][f"{name}_low"] = float(np.quantile(v, lo, method="inverted_cdf"))
                    bands[s][f"{name}_high"] = float(np.quantile(v, hi, method="inverted_cdf"))
        return pd.DataFrame.from_dict(bands, orient="index")

    def chart(self) -> Any:
        import altair as alt

        mc = self.mean_curves()
        return alt.Chart(mc).mark_line(point=True).encode(
            x=alt.X("n:Q", title="measurements"),
            y=alt.Y("mape:Q", title="held-out MAPE", scale=alt.Scale(type="log")),
            color="strategy:N",
        ).properties(title=f"active vs random: {self.kernel} on {self.backend}")


def replay_split(n: int, seed: int, test_fraction: float = 0.3, *,
                 family: int | None = None, space: np.ndarray | None = None
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
        raise ConfigError(f"family= needs space=: one row of coordinates per configuration "
                          f"({n}).")
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

        results = open_store(store).results(kernels=[kernel], backends=[backend], tag=tag,
                                            status="ok")
    else:
        results = results[(results["kernel"] == kernel) & (results["backend"] == backend)]
        if "status" in results:
            results = results[results["status"] == "ok"]
    if results.empty:
        raise PredictionError(f"No measurements of {kernel} on {backend} to replay; measure a "
                              f"pool first (python benchmarks/predict_eval.py measure).")
    params = {"n_estimators": 150, **dict(model_params or {})}
    proto = SpeedModel(**params)
    strategies = list(dict.fromkeys(resolve_strategy(proto, st) for st in strategies))
    agg = aggregate_repeats(results, proto.aggregate or "median", proto.statistic)
    agg["_key"] = [_key(k, p, d, b) for k, p, d, b in
                   zip(agg["kernel"], agg["params"], agg["dtype"], agg["backend"], strict=False)]
    n = len(agg)
    n_test = _held_out(n, test_fraction) if family is None else int(family)
    space = None if family is None else _standard_space(agg, kernel)
    if n - n_test < budget:
        raise PredictionError(f"{kernel} on {backend}: {n} configurations leave {n - n_test} in "
                              f"the pool, fewer than budget={budget}; measure more or lower it.")
    rows = []
    for s in range(seeds):
        test_rows, pool_rows, rng = replay_split(n, s, test_fraction, family=family,
                                                 space=space)
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
                rows.append({**m, "n_test": m["n"], "strategy": label, "seed": s,
                             "n": len(chosen)})
                if len(chosen) >= budget:
                    break
                rest = pool.drop(index=chosen)
                k = min(step, budget - len(chosen))
                picks = suggest(model, rest, k=k, strategy=strategy, seed=s * 7919 + len(chosen),
                                targets=aim)
                key_of = dict(zip(rest["_key"], rest.index, strict=False))
                chosen += [key_of[_key(r.kernel, r.params, r.dtype, r.backend)]
                           for r in picks.itertuples(index=False)]
    return ReplayResult(kernel, backend, pd.DataFrame(rows), budget, len(agg) - n_test, n_test)
