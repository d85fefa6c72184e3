"""Which configurations to measure next: the strategies behind :func:`suggest`.

For the GP model, **variance reduction** picks the candidates whose measurement most
reduces the posterior variance summed over the candidates (greedy batch: the GP covariance
makes one score of uncertainty and diversity). For any model, **uncertainty-diversity**
ranks by prediction-interval width (in log space) times the distance in the standardised
size/cost space to everything measured or already picked (max-min). **Representative**
picks the candidates that leave the shapes to predict (``targets``) nearest to a measured
one (greedy facility location, no model needed).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, cast

import numpy as np
import pandas as pd

from ..exceptions import ConfigError, PredictionError
from ._features import config_frame, featurize
from ._model import SpeedModel

__all__ = ["STRATEGIES", "resolve_strategy", "suggest"]


def _key(kernel: str, params: Mapping[str, Any], dtype: str, backend: str) -> str:
    return json.dumps([kernel, dict(sorted(params.items())), dtype, backend], sort_keys=True)


def _space_columns(columns: Iterable[str], kernel: str) -> list[str]:
    """The features that place a configuration of ``kernel``: its log sizes and cost (not
    the padding features, which would make 64 and 65 look far apart)."""
    return [
        c
        for c in columns
        if (c.startswith(f"{kernel}.") and "%" not in c) or c in ("log_flops", "log_bytes")
    ]


def _space(frame: pd.DataFrame, kernel: str) -> pd.DataFrame:
    X = featurize(frame)
    return X.reindex(columns=_space_columns(X.columns, kernel), fill_value=0.0)


def _standard_space(frame: pd.DataFrame, kernel: str) -> np.ndarray:
    """:func:`_space` of ``frame``'s rows, each column standardised over those rows."""
    Z = _space(frame, kernel).to_numpy()
    return cast(np.ndarray, (Z - Z.mean(axis=0)) / np.maximum(Z.std(axis=0), 1e-9))


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
    return config_frame(
        [{"kernel": kernel, "backend": backend, "dtype": dtype, "params": dict(p)} for p in items]
    )


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
    seen = {
        _key(*t)
        for t in zip(
            train["kernel"], train["params"], train["dtype"], train["backend"], strict=False
        )
    }
    keys = [
        _key(*t)
        for t in zip(cand["kernel"], cand["params"], cand["dtype"], cand["backend"], strict=False)
    ]
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
            Z = _standard_space(
                pd.concat([cand.iloc[idx], train[train["kernel"] == kern]], ignore_index=True), kern
            )
            Zc, Zt = Z[: len(idx)], Z[len(idx) :]
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
            score = score_unc * (dnorm**diversity if strategy != "uncertainty" else 1.0)
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


STRATEGIES = (
    "variance-reduction",
    "representative",
    "uncertainty-diversity",
    "uncertainty",
    "random",
)
#: the strategies that can aim at ``targets``
_AIMED = ("variance-reduction", "representative")


def resolve_strategy(model: SpeedModel, strategy: str) -> str:
    """The concrete strategy ``strategy`` names for ``model`` (``"auto"`` picks one)."""
    if strategy == "auto":
        return "variance-reduction" if model.regressor == "gp" else "uncertainty-diversity"
    if strategy not in STRATEGIES:
        raise ConfigError(
            f"Unknown strategy {strategy!r}; use 'auto' or one of "
            f"{', '.join(map(repr, STRATEGIES))}."
        )
    if strategy == "variance-reduction" and model.regressor != "gp":
        raise ConfigError(
            "strategy='variance-reduction' needs a GP model "
            "(SpeedModel(regressor='gp')); use 'uncertainty-diversity'."
        )
    return strategy


def _check_targets(targets: Any, strategy: str) -> None:
    if targets is not None and strategy not in _AIMED:
        raise ConfigError(
            f"targets= is used by strategy 'variance-reduction' or "
            f"'representative' only, not {strategy!r}."
        )


def _representative(
    cand: pd.DataFrame, train: pd.DataFrame, k: int, targets: pd.DataFrame | None = None
) -> tuple[np.ndarray, np.ndarray]:
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
        Zc, Za, Zs = Z[: len(idx)], Z[len(idx) : len(idx) + len(aim)], Z[len(idx) + len(aim) :]
        D = cdist(Za, Zc)
        # a target near nothing measured yet counts as twice its farthest candidate away
        near = cdist(Za, Zs).min(axis=1) if len(Zs) else 2.0 * D.max(axis=1)
        blocks.append((idx, D, near))
        mean[idx] = D.mean(axis=0)
    if not blocks:
        raise ConfigError(
            "No candidate shares a kernel and backend with the targets; give "
            "candidates of the targets' kernels and backends."
        )
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


def _variance_reduction(
    model: SpeedModel, cand: pd.DataFrame, k: int, targets: pd.DataFrame | None = None
) -> tuple[np.ndarray, np.ndarray]:
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
        blocks.append(
            (idx, cov, max(float(noise), 1e-12), is_cand, is_cand if targets is None else ~is_cand)
        )
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
