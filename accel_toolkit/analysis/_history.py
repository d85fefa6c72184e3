"""Synthetic run histories with planted steps, to test and score step detectors.

These are **test data for the detector**, never results: nothing here is written to a
results database. Each point imitates one run of one configuration: ``samples_per_run``
raw samples are drawn around the run's level, and the point carries their median and the
same distribution-free 99 % CI the harness stores (:func:`accel_toolkit.harness.median_ci`).

Noise kinds
-----------
``lognormal``  run-to-run noise ``exp(N(0, noise))`` (``scale="run"``).
``outliers``   the same, plus 3 % of runs slowed by 10-50 % (a busy machine), with 3x wider
               within-run spread.
``bimodal``    each run lands in one of two modes ``exp(+-0.8 noise)`` (e.g. two clock or
               scheduling states), with ``0.6 noise`` spread around each; overall spread
               ~ ``noise``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd

from ..exceptions import ConfigError
from ..harness import median_ci

__all__ = ["NOISE_KINDS", "synthetic_history"]

NOISE_KINDS = ("lognormal", "outliers", "bimodal")


def _ci_indices(m: int, level: float = 0.99) -> tuple[int, int]:
    lo, hi, _ = median_ci(np.arange(m, dtype=float), level)
    return int(lo), int(hi)


def synthetic_history(
    n_series: int = 10,
    n_points: int = 60,
    *,
    steps: Sequence[float] | float = (0.05,),
    noise: float = 0.03,
    kind: str = "lognormal",
    scale: str = "run",
    p_change: float = 1.0,
    margin: int = 10,
    base: float = 1e-3,
    samples_per_run: int = 15,
    seed: int = 0,
) -> pd.DataFrame:
    """Series of run medians with steps of known size and position.

    Parameters
    ----------
    n_series, n_points : int
        How many series, and runs per series.
    steps : float or list of float
        Relative size of each planted step, in order (0.05 = 5 % slower; negative = faster).
        The positions are drawn at random, at least ``margin`` runs from either end and from
        each other.
    noise : float
        Run-to-run relative noise (sigma of the log).
    kind : str
        ``lognormal``, ``outliers``, ``bimodal`` or ``mixed`` (cycles through the three).
    scale : str
        What ``noise`` measures. ``run``: the run-to-run spread of the points themselves
        (within-run sample spread ``noise / 2``): the hard case. ``sample``: nvbench's
        "noise", the relative spread of the raw samples within a run; the runs then also
        drift from each other by ``noise / 4``.
    p_change : float
        Share of series that get the steps; the others have no change.
    margin : int
        Fewest runs between a step and an end of the series or another step.
    base : float
        Level of the first run (seconds).
    samples_per_run : int
        Raw samples behind each point's median and CI.
    seed : int
        Random seed.

    Returns
    -------
    pandas.DataFrame
        One row per point: ``series, idx, run_id, created_at, median_s, ci_low_s, ci_high_s,
        n_samples, level_s, noise_kind, step`` where ``step`` is the planted relative size at
        the first run of a new level (0 elsewhere). ``series_key`` equals ``series``.
    """
    steps = [float(steps)] if isinstance(steps, (int, float)) else [float(s) for s in steps]
    kinds = NOISE_KINDS if kind == "mixed" else (kind,)
    if any(k not in NOISE_KINDS for k in kinds):
        raise ConfigError(f"kind must be one of {', '.join(NOISE_KINDS)} or 'mixed', got {kind!r}.")
    need = (len(steps) + 1) * margin
    if n_points < need:
        raise ConfigError(f"{len(steps)} step(s) with margin {margin} need n_points >= {need}.")
    if samples_per_run < 3:
        raise ConfigError("samples_per_run must be >= 3.")
    if scale not in ("run", "sample"):
        raise ConfigError(f"scale must be 'run' or 'sample', got {scale!r}.")
    run_sd, within = (noise, noise / 2) if scale == "run" else (noise / 4, noise)
    rng = np.random.default_rng(seed)
    j, k = _ci_indices(samples_per_run)
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    frames = []
    for s in range(n_series):
        nk = kinds[s % len(kinds)]
        changed = rng.random() < p_change
        planted = np.zeros(n_points)
        if changed and steps:
            # positions: margin-separated, drawn uniformly among the valid layouts
            free = n_points - need
            cuts = np.sort(rng.integers(0, free + 1, size=len(steps)))
            pos = [margin * (i + 1) + int(c) for i, c in enumerate(cuts)]
            for p, size in zip(pos, steps, strict=True):
                planted[p] = size
        level = base * np.cumprod(1.0 + planted)
        if nk == "bimodal":
            mode = np.where(rng.random(n_points) < 0.5, -0.8, 0.8) * run_sd
            run_level = level * np.exp(mode + rng.normal(0, 0.6 * run_sd, n_points))
        else:
            run_level = level * np.exp(rng.normal(0, run_sd, n_points))
        spread = np.full(n_points, within)
        if nk == "outliers":
            out = rng.random(n_points) < 0.03
            run_level = np.where(out, run_level * (1 + rng.uniform(0.1, 0.5, n_points)), run_level)
            spread = np.where(out, 3 * within, spread)
        samples = run_level[:, None] * np.exp(
            rng.normal(0, 1, (n_points, samples_per_run)) * spread[:, None]
        )
        samples.sort(axis=1)
        frames.append(
            pd.DataFrame(
                {
                    "series": f"s{s:04d}",
                    "idx": np.arange(n_points),
                    "run_id": [f"s{s:04d}-r{i:04d}" for i in range(n_points)],
                    "created_at": [t0 + timedelta(hours=i) for i in range(n_points)],
                    "median_s": np.median(samples, axis=1),
                    "ci_low_s": samples[:, j],
                    "ci_high_s": samples[:, k],
                    "n_samples": samples_per_run,
                    "level_s": level,
                    "noise_kind": nk,
                    "step": planted,
                }
            )
        )
    df = pd.concat(frames, ignore_index=True)
    df["series_key"] = df["series"]
    return df
