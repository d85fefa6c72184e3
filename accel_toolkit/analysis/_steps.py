r"""Change-point (step) detection in one series of run medians.

The model is asv's (``asv/step_detect.py``): the series is piecewise constant plus noise, and
we fit the partition that minimises a penalised (Potts) cost

.. math::

    \sum_{\text{levels } S} \sum_{j \in S} w_j \, \rho\big((z_j - \mu_S) / \sigma\big)
    \;+\; \gamma \log(n) \cdot (\text{number of steps})

where :math:`z_j = \log t_j` (so a step is a *ratio*), :math:`\sigma` is a robust estimate of
the point-to-point noise (from first differences trimmed at 3 MAD, which steps and outlier
runs do not inflate; never below the median standard error that the runs' own 99 % CIs
imply), the penalty is BIC-like (it grows with :math:`\log n`), and
:math:`w_j` weighs each run by its confidence interval as asv does, but only downwards: a
run whose CI is more than twice the series' median width counts ``2 * median / width``
(at least 1/4), the others count 1.

``cost="huber"`` (default): :math:`\rho(u) = u^2` after each point is clipped to 2 sigma
around a centred running median of 5 runs (a Huber-like robustification that tames outlier
runs). ``cost="l1"``: asv's :math:`\rho(u) = |u|` around the weighted median. We measured
both on the synthetic benchmark (``benchmarks/step_detection.py --tune [--cost l1]``): at
each cost's best penalty, for 5 % steps in 3 % run-to-run noise, F1 0.73 (squared,
Huber-clipped) against 0.69 (L1) at a similar false-alarm rate, so the squared cost is the
default. :data:`DEFAULT_GAMMA` was chosen once, on a different seed than the published
table, as the best F1 with at most one false alarm per 1,000 points of no-change series.

The exact minimiser is found by dynamic programming (optimal partitioning, O(n^2)) with a
minimum level length of :data:`DEFAULT_MIN_SIZE` runs, so a single outlier run never makes a
step of its own. Each step of the fit is then kept only if

* it is larger than the noise: the confidence interval of the ratio of the two levels'
  medians, ``exp(log(ratio) +- z * 1.2533 * sigma * sqrt(1/W_before + 1/W_after))`` (the
  standard error of a difference of medians; ``W`` the levels' summed weights) excludes 1,
  and
* it is larger than the relative ``threshold``.

A step that fails is dropped and its two neighbours merged, then the remaining steps are
re-measured, until every reported step passes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any, cast

import numpy as np
import pandas as pd

from ..exceptions import ConfigError

__all__ = [
    "DEFAULT_GAMMA",
    "DEFAULT_MIN_SIZE",
    "Step",
    "detect_steps",
    "fit_segments",
    "noise_sigma",
]

#: penalty per step, in units of log(n) x sigma^2 (robust noise); chosen once (module docstring)
DEFAULT_GAMMA = 3.0
#: fewest runs a level must last to count as one
DEFAULT_MIN_SIZE = 3
#: series longer than this are cut to their most recent points (the DP is O(n^2) in memory)
MAX_POINTS = 1000
_SIGMA_FLOOR = 1e-4  # log units (0.01 %): a perfectly flat series still has a finite scale


@dataclass(frozen=True)
class Step:
    """One change of level in a series.

    Attributes
    ----------
    index : int
        Position of the first point of the new level.
    ratio : float
        Median after / median before (> 1 is slower for times).
    ci_low, ci_high : float
        Confidence interval of ``ratio`` at ``level``.
    before, after : float
        Medians of the level before and after.
    n_before, n_after : int
        Points in the two levels.
    noise : float
        The robust relative noise of one point (sigma in log units).
    level : float
        Confidence level of ``ci_low, ci_high``.
    kind : str
        ``regression`` (slower) or ``improvement`` (faster).
    """

    index: int
    ratio: float
    ci_low: float
    ci_high: float
    before: float
    after: float
    n_before: int
    n_after: int
    noise: float
    level: float

    @property
    def kind(self) -> str:
        return "regression" if self.ratio > 1 else "improvement"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "kind": self.kind}


def noise_sigma(z: np.ndarray) -> float:
    """Robust point noise of a (log) series from its first differences.

    The differences are trimmed at 3 x their MAD scale (which steps and outlier runs do not
    inflate) and the standard deviation of the rest, divided by sqrt(2), is the noise; this
    is robust like the MAD but nearly as efficient as the standard deviation.
    """
    z = np.asarray(z, dtype=float)
    if z.size < 3:
        return _SIGMA_FLOOR
    d = np.diff(z)
    s0 = 1.4826 * float(np.median(np.abs(d - np.median(d))))
    if s0 <= 0:
        return _SIGMA_FLOOR
    kept = d[np.abs(d - np.median(d)) <= 3 * s0]
    s = float(np.std(kept)) / 0.9866 / math.sqrt(2.0) if kept.size > 2 else s0 / math.sqrt(2.0)
    return max(s, _SIGMA_FLOOR)


def _weights(y: np.ndarray, ci_low: np.ndarray | None, ci_high: np.ndarray | None) -> np.ndarray:
    """Per-point weights: 1, less for runs whose CI is unusually wide (noisy runs).

    A run whose relative CI is more than twice the series' median width gets the weight
    ``2 * median / width`` (down to 1/4): asv's CI weighting, but only where the CI says
    something unusual; typical runs keep full weight.
    """
    n = y.size
    if ci_low is None or ci_high is None:
        return np.ones(n)
    lo = np.asarray(ci_low, dtype=float)
    hi = np.asarray(ci_high, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        width = np.log(hi / lo)
    ok = np.isfinite(width) & (width > 0)
    if ok.sum() < max(3, n // 2):
        return np.ones(n)
    width = np.where(ok, width, np.median(width[ok]))
    return cast(np.ndarray, np.clip(2.0 * np.median(width) / np.maximum(width, 1e-12), 0.25, 1.0))


def _segment_costs(z: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``C[i, j]`` = weighted L1 cost of ``z[i:j]`` around its weighted median (j > i)."""
    n = z.size
    cost = np.full((n + 1, n + 1), np.inf)
    for i in range(n):
        v = z[i:]
        wv = w[i:]
        m = v.size
        order = np.argsort(v, kind="stable")
        vs, ws = v[order], wv[order]
        # included[k, r]: sorted element r belongs to the prefix of length k + 1
        included = order[None, :] <= np.arange(m)[:, None]
        cw = np.cumsum(np.where(included, ws[None, :], 0.0), axis=1)
        half = cw[:, -1:] / 2.0
        med_idx = np.argmax(cw >= half, axis=1)
        med = vs[med_idx]
        dev = np.where(included, ws[None, :] * np.abs(vs[None, :] - med[:, None]), 0.0)
        cost[i, i + 1 :] = dev.sum(axis=1)
    return cost


def _l2_costs(z: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``C[i, j]`` = weighted squared deviation of ``z[i:j]`` from its weighted mean."""
    n = z.size
    sw = np.concatenate([[0.0], np.cumsum(w)])
    swz = np.concatenate([[0.0], np.cumsum(w * z)])
    swzz = np.concatenate([[0.0], np.cumsum(w * z * z)])
    i, j = np.triu_indices(n + 1, k=1)
    cost = np.full((n + 1, n + 1), np.inf)
    W = sw[j] - sw[i]
    S = swz[j] - swz[i]
    cost[i, j] = np.maximum(swzz[j] - swzz[i] - S * S / W, 0.0)
    return cost


def _huberize(z: np.ndarray, sigma: float, c: float = 2.0, window: int = 5) -> np.ndarray:
    """Clip each point to ``c`` sigma around a centred running median (tames outlier runs)."""
    s = pd.Series(z)
    level = s.rolling(window, center=True, min_periods=1).median().to_numpy()
    return cast(np.ndarray, level + np.clip(z - level, -c * sigma, c * sigma))


def fit_segments(
    z: np.ndarray, w: np.ndarray, penalty: float, min_size: int, kind: str = "huber"
) -> list[int]:
    """Optimal partition of ``z`` (exact DP); returns the start indices of levels 2, 3, ...

    ``z`` is in noise units; ``kind`` is ``huber`` (squared error, Gaussian likelihood) or
    ``l1`` (absolute error around the weighted median, asv's choice).
    """
    n = z.size
    if n < 2 * min_size:
        return []
    cost = _l2_costs(z, w) if kind == "huber" else _segment_costs(z, w)
    best = np.full(n + 1, np.inf)
    prev = np.zeros(n + 1, dtype=int)
    best[0] = -penalty
    for t in range(min_size, n + 1):
        s = np.arange(0, t - min_size + 1)
        s = s[(s == 0) | (s >= min_size)]
        cand = best[s] + cost[s, t] + penalty
        k = int(np.argmin(cand))
        best[t], prev[t] = cand[k], s[k]
    cps = []
    t = n
    while t > 0:
        t = int(prev[t])
        if t > 0:
            cps.append(t)
    return sorted(cps)


def _measure(
    z: np.ndarray, w: np.ndarray, a: slice, b: slice, sigma: float, zq: float
) -> tuple[float, float, float]:
    """Log-ratio of the medians of level ``b`` and level ``a``, with its CI.

    The standard error is that of a difference of two medians (1.2533 x that of the means)
    of points with noise ``sigma / sqrt(w)``.
    """
    shift = float(np.median(z[b]) - np.median(z[a]))
    se = 1.2533 * sigma * math.sqrt(1.0 / w[a].sum() + 1.0 / w[b].sum())
    return shift, shift - zq * se, shift + zq * se


def detect_steps(
    y: Sequence[float] | np.ndarray,
    *,
    ci_low: Sequence[float] | np.ndarray | None = None,
    ci_high: Sequence[float] | np.ndarray | None = None,
    threshold: float = 0.02,
    gamma: float = DEFAULT_GAMMA,
    min_size: int = DEFAULT_MIN_SIZE,
    level: float = 0.99,
    cost: str = "huber",
) -> list[Step]:
    """Steps in a series of positive values (e.g. run medians in seconds), oldest first.

    Parameters
    ----------
    y : array of float
        The series; must be positive and finite.
    ci_low, ci_high : array of float, optional
        Per-point confidence interval; narrower intervals weigh more (asv's weighting).
    threshold : float
        Smallest relative change reported (0.02 = 2 %).
    gamma : float
        Penalty per step in units of ``log(n)`` (squared) robust-noise units.
    min_size : int
        Fewest points a level must last.
    level : float
        Confidence level of each step's ratio interval (and of the noise test).
    cost : str
        ``huber`` (default; clipped squared error) or ``l1`` (asv's absolute error; less
        powerful on our benchmark, kept for comparison).

    Returns
    -------
    list of Step
        Oldest first. Indices refer to ``y`` (also when it was cut to :data:`MAX_POINTS`).
    """
    if cost not in ("huber", "l1"):
        raise ConfigError(f"cost must be 'huber' or 'l1', got {cost!r}.")
    y = np.asarray(y, dtype=float)
    if y.ndim != 1:
        raise ConfigError(f"detect_steps expects a 1-D series, got shape {y.shape}.")
    if not np.all(np.isfinite(y)) or np.any(y <= 0):
        raise ConfigError("detect_steps needs positive, finite values (drop failed runs first).")
    if min_size < 1:
        raise ConfigError(f"min_size must be >= 1, got {min_size}.")
    offset = max(0, y.size - MAX_POINTS)
    y = y[offset:]
    lo = None if ci_low is None else np.asarray(ci_low, dtype=float)[offset:]
    hi = None if ci_high is None else np.asarray(ci_high, dtype=float)[offset:]
    n = y.size
    if n < 2 * min_size:
        return []
    w = _weights(y, lo, hi)
    z_raw = np.log(y)
    zq = NormalDist().inv_cdf(0.5 + level / 2)
    sigma = noise_sigma(z_raw)
    if lo is not None and hi is not None:
        # a run's median is never more precise than its own CI says (99 % CIs as stored)
        with np.errstate(divide="ignore", invalid="ignore"):
            width = np.log(hi / lo)
        width = width[np.isfinite(width) & (width > 0)]
        if width.size:
            sigma = max(sigma, float(np.median(width)) / (2 * NormalDist().inv_cdf(0.995)))
    z = _huberize(z_raw, sigma) if cost == "huber" else z_raw
    penalty = gamma * math.log(n)
    cps = fit_segments(z / sigma, w, penalty, min_size, cost)
    log_thr = math.log1p(threshold)
    while cps:
        bounds = [0, *cps, n]
        scores = []
        for i, c in enumerate(cps):
            shift, low, high = _measure(
                z_raw, w, slice(bounds[i], c), slice(c, bounds[i + 2]), sigma, zq
            )
            noise_ok = low > 0 or high < 0
            size_ok = abs(shift) >= log_thr
            # how far the weaker of the two criteria is from passing (negative = fails)
            margin = min(max(low, -high) / max(zq * sigma, 1e-12), abs(shift) - log_thr)
            scores.append((noise_ok and size_ok, margin))
        failing = [i for i, (ok, _) in enumerate(scores) if not ok]
        if not failing:
            break
        worst = min(failing, key=lambda i: scores[i][1])
        cps.pop(worst)
    steps = []
    bounds = [0, *cps, n]
    for i, c in enumerate(cps):
        a, b = slice(bounds[i], c), slice(c, bounds[i + 2])
        shift, low, high = _measure(z_raw, w, a, b, sigma, zq)
        steps.append(
            Step(
                index=c + offset,
                ratio=math.exp(shift),
                ci_low=math.exp(low),
                ci_high=math.exp(high),
                before=float(np.median(y[a])),
                after=float(np.median(y[b])),
                n_before=c - bounds[i],
                n_after=bounds[i + 2] - c,
                noise=sigma,
                level=level,
            )
        )
    return steps
