"""Compare two runs, tags, commits, devices or backends, configuration by configuration.

For every configuration present on both sides we report

* ``ratio`` = candidate median / baseline median (> 1: the candidate is slower);
* its confidence interval at ``level`` (default 99 %) from a **percentile bootstrap of the
  ratio of medians** on the raw samples (``n_boot`` resamples of each side, seeded);
* a two-sided **Mann-Whitney U test** on the raw samples (``scipy.stats.mannwhitneyu``) at
  ``alpha`` (default 0.002, asv's choice: with dozens of configurations compared at once,
  a small alpha keeps false "slower" verdicts rare, about 1 in 500 unchanged configurations);
* where either side has fewer than 3 raw samples, or so few that the test could not reach
  ``alpha`` even for completely separated samples (:func:`mwu_can_reach`), the
  **CI-overlap fallback**: the two stored
  99 % CIs of the medians are compared (significant when they do not overlap) and the ratio's
  interval is ``[cand_low / base_high, cand_high / base_low]``; the ``test`` column says
  ``ci-overlap`` instead of ``mann-whitney``.

The verdict (nvbench-like), with ``threshold`` the smallest change that matters:

``slower`` / ``faster``   significant, the CI excludes 1, and the change is at least ``threshold``
``same``                  not significant and the CI lies inside ``[1/(1+t), 1+t]``, or significant
                          but smaller than ``threshold``
``ambiguous``             not significant, but the CI is too wide to rule out a change >= threshold
``missing``               the configuration was measured (``status = ok``) on one side only
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import ConfigError
from ..store import Store, open_store

__all__ = ["BY_COLUMNS", "compare", "compare_frames", "compare_samples", "ratio_ci_bootstrap"]

#: what ``by`` may be, and whether that column is part of a configuration's identity
BY_COLUMNS = ("tag", "run_id", "git_commit", "env_id", "device", "backend", "venue")
IDENTITY = ("config_key", "backend", "venue", "device")
#: what identifies "the same configuration" on both sides, per ``by``: comparing two backends
#: pairs the same kernel/parameters/dtype whatever venue and device each backend runs on
_IDENTITY_BY = {
    "device": ("config_key", "backend", "venue"),
    "backend": ("config_key",),
    "venue": ("config_key", "backend"),
}
MIN_SAMPLES = 3


def ratio_ci_bootstrap(
    base: np.ndarray, cand: np.ndarray, *, level: float = 0.99, n_boot: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Percentile-bootstrap CI of ``median(cand) / median(base)``."""
    rng = np.random.default_rng(seed)
    b = np.asarray(base, dtype=float)
    c = np.asarray(cand, dtype=float)
    out = np.empty(n_boot)
    chunk = max(1, 2_000_000 // max(b.size + c.size, 1))
    for s in range(0, n_boot, chunk):
        k = min(chunk, n_boot - s)
        mb = np.median(b[rng.integers(0, b.size, (k, b.size))], axis=1)
        mc = np.median(c[rng.integers(0, c.size, (k, c.size))], axis=1)
        out[s : s + k] = mc / mb
    a = (1 - level) / 2
    lo, hi = np.quantile(out, [a, 1 - a])
    return float(lo), float(hi)


def _verdict(ratio: float, lo: float, hi: float, significant: bool, threshold: float) -> str:
    if not all(map(math.isfinite, (ratio, lo, hi))):
        return "ambiguous"
    up, down = 1 + threshold, 1 / (1 + threshold)
    if significant and lo > 1:
        return "slower" if ratio >= up else "same"
    if significant and hi < 1:
        return "faster" if ratio <= down else "same"
    if lo >= down and hi <= up:
        return "same"
    return "ambiguous"


def compare_samples(
    base: Sequence[float] | np.ndarray | None,
    cand: Sequence[float] | np.ndarray | None,
    *,
    base_summary: tuple[float, float, float] | None = None,
    cand_summary: tuple[float, float, float] | None = None,
    alpha: float = 0.002,
    threshold: float = 0.05,
    level: float = 0.99,
    n_boot: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """Compare one configuration: raw samples if both sides have them, else stored CIs.

    ``*_summary`` is ``(median, ci_low, ci_high)`` as stored, used by the fallback.
    Returns ``ratio, ratio_ci_low, ratio_ci_high, p_value, significant, test, verdict``.
    """
    from scipy.stats import mannwhitneyu

    b = np.asarray(base if base is not None else [], dtype=float)
    c = np.asarray(cand if cand is not None else [], dtype=float)
    b, c = b[np.isfinite(b)], c[np.isfinite(c)]
    if b.size >= MIN_SAMPLES and c.size >= MIN_SAMPLES and mwu_can_reach(b.size, c.size, alpha):
        ratio = float(np.median(c) / np.median(b))
        lo, hi = ratio_ci_bootstrap(b, c, level=level, n_boot=n_boot, seed=seed)
        p = float(mannwhitneyu(c, b, alternative="two-sided").pvalue)
        sig = p < alpha
        test = "mann-whitney"
    else:
        # CI-overlap fallback: stored CIs, or order-statistic CIs of the few samples there are.
        base_summary = base_summary or (_summary_of(b) if b.size else None)
        cand_summary = cand_summary or (_summary_of(c) if c.size else None)
        if base_summary is None or cand_summary is None:
            raise ConfigError(
                "compare_samples needs raw samples or stored (median, low, high) on both sides."
            )
        bm, bl, bh = base_summary
        cm, cl, ch = cand_summary
        ratio = cm / bm if bm else float("nan")
        lo = cl / bh if bh else float("nan")
        hi = ch / bl if bl else float("nan")
        p = float("nan")
        sig = bool(cl > bh or ch < bl)
        test = "ci-overlap"
    return {
        "ratio": ratio,
        "ratio_ci_low": lo,
        "ratio_ci_high": hi,
        "p_value": p,
        "significant": sig,
        "test": test,
        "verdict": _verdict(ratio, lo, hi, sig, threshold),
    }


def _summary_of(x: np.ndarray) -> tuple[float, float, float]:
    from ..harness import summarize

    sm = summarize(x)
    return sm.median, sm.ci_low, sm.ci_high


def mwu_can_reach(n1: int, n2: int, alpha: float) -> bool:
    """Whether a two-sided Mann-Whitney U test on ``n1`` vs ``n2`` samples can reach ``alpha``.

    Its smallest possible p-value is ``2 / C(n1 + n2, n1)`` (complete separation); with 3
    samples against 10 that is 0.007, so at alpha 0.002 the test could never say "slower" and
    the stored-CI comparison is used instead.
    """
    return 2.0 / math.comb(n1 + n2, n1) < alpha


def _side(df: pd.DataFrame, by: str, value: str) -> pd.DataFrame:
    col = df[by].astype("string")
    rows = df[col == str(value)]
    if rows.empty and by in ("run_id", "git_commit", "env_id"):  # allow unique prefixes
        rows = df[col.str.startswith(str(value), na=False)]
    return rows


def _present(df: pd.DataFrame, by: str) -> list[str]:
    vals = df[by].dropna().astype(str).unique().tolist()
    return sorted(vals)


def compare_frames(
    results: pd.DataFrame,
    samples: pd.DataFrame | None,
    *,
    baseline: str,
    candidate: str,
    by: str = "tag",
    alpha: float = 0.002,
    threshold: float = 0.05,
    level: float = 0.99,
    n_boot: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """:func:`compare` on rows of the ``results`` view and their raw samples."""
    if by not in BY_COLUMNS:
        raise ConfigError(f"by must be one of {', '.join(BY_COLUMNS)}, got {by!r}.")
    ok = results[results["status"] == "ok"] if "status" in results else results
    for name, value in (("baseline", baseline), ("candidate", candidate)):
        if _side(ok, by, value).empty:
            present = _present(ok, by)
            more = len(present) - 30
            shown = ", ".join(present[:30]) + (f" and {more} more" if more > 0 else "")
            raise ConfigError(
                f"No successful results with {by} = {value!r} for the {name}. "
                f"{by} values present: {shown or '(none: the database has no ok results)'}. "
                f"Pick one of those, or run `accel-toolkit bench --tag ...` first."
            )
    ident = list(_IDENTITY_BY.get(by, IDENTITY))
    sides = {}
    for name, value in (("baseline", baseline), ("candidate", candidate)):
        rows = _side(ok, by, value).sort_values("created_at")
        # several runs with the same label: the most recent measurement of each configuration
        sides[name] = rows.groupby(ident, dropna=False, sort=False).tail(1).set_index(ident)
    keys = sides["baseline"].index.union(sides["candidate"].index)
    by_result: dict[str, np.ndarray] = {}
    if samples is not None and not samples.empty:
        for rid, g in samples.groupby("result_id", sort=False):
            by_result[str(rid)] = g["seconds"].to_numpy()
    out = []
    for key in keys:
        b = sides["baseline"].loc[[key]].iloc[0] if key in sides["baseline"].index else None
        c = sides["candidate"].loc[[key]].iloc[0] if key in sides["candidate"].index else None
        ref = b if b is not None else c
        assert ref is not None  # keys come from the union of both sides
        params = ref["params"]
        row: dict[str, Any] = dict(
            zip(ident, key if isinstance(key, tuple) else (key,), strict=True)
        )
        row.update(
            kernel=ref["kernel"],
            dtype=ref["dtype"],
            params=params if isinstance(params, str) else json.dumps(params, sort_keys=True),
            baseline_median_s=b["median_s"] if b is not None else float("nan"),
            candidate_median_s=c["median_s"] if c is not None else float("nan"),
            n_baseline=0,
            n_candidate=0,
            baseline_result_id=b["result_id"] if b is not None else None,
            candidate_result_id=c["result_id"] if c is not None else None,
            baseline_round_spread=_round_spread(b),
            candidate_round_spread=_round_spread(c),
        )
        if b is None or c is None:
            row.update(
                ratio=float("nan"),
                ratio_ci_low=float("nan"),
                ratio_ci_high=float("nan"),
                p_value=float("nan"),
                significant=False,
                test="-",
                verdict="missing",
            )
            out.append(row)
            continue
        bs = by_result.get(str(b["result_id"]))
        cs = by_result.get(str(c["result_id"]))
        row.update(
            n_baseline=len(bs) if bs is not None else 0,
            n_candidate=len(cs) if cs is not None else 0,
        )
        row.update(
            compare_samples(
                bs,
                cs,
                base_summary=(b["median_s"], b["ci_low_s"], b["ci_high_s"]),
                cand_summary=(c["median_s"], c["ci_low_s"], c["ci_high_s"]),
                alpha=alpha,
                threshold=threshold,
                level=level,
                n_boot=n_boot,
                seed=seed,
            )
        )
        out.append(row)
    cols = [
        "kernel",
        "params",
        "dtype",
        *ident,
        "baseline_median_s",
        "candidate_median_s",
        "ratio",
        "ratio_ci_low",
        "ratio_ci_high",
        "p_value",
        "significant",
        "test",
        "n_baseline",
        "n_candidate",
        "verdict",
        "baseline_result_id",
        "candidate_result_id",
        "baseline_round_spread",
        "candidate_round_spread",
    ]
    df = pd.DataFrame(out, columns=cols)
    order = {"slower": 0, "ambiguous": 1, "faster": 2, "same": 3, "missing": 4}
    if not df.empty:
        df = df.sort_values(
            ["verdict", "ratio"],
            key=lambda s: s.map(order) if s.name == "verdict" else -s.fillna(0),
        ).reset_index(drop=True)
    df.attrs.update(
        baseline=baseline, candidate=candidate, by=by, alpha=alpha, threshold=threshold, level=level
    )
    return df


def _round_spread(row: pd.Series | None) -> float:
    """A side's spread across the rounds of its run (``results.round_spread``; NaN: one round):
    how well its figure reproduces, which its within-run CI does not say."""
    if row is None or "round_spread" not in row or pd.isna(row["round_spread"]):
        return float("nan")
    return float(row["round_spread"])


def compare(
    store: Store | str | os.PathLike[str] | None = None,
    *,
    baseline: str,
    candidate: str,
    by: str = "tag",
    kernels: Sequence[str] | None = None,
    backends: Sequence[str] | None = None,
    alpha: float = 0.002,
    threshold: float = 0.05,
    level: float = 0.99,
    n_boot: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """Compare ``candidate`` against ``baseline``, one row per configuration.

    Parameters
    ----------
    store : Store or path, optional
        The results database (default: the default database).
    baseline, candidate : str
        Values of the ``by`` column: two tags, run ids (or unique prefixes), git commits,
        environment ids, devices, backends or venues.
    by : str
        ``tag`` (default), ``run_id``, ``git_commit``, ``env_id``, ``device``, ``backend`` or
        ``venue``. A configuration is ``config_key`` (kernel, parameters, dtype) + backend +
        venue + device for tags, runs, commits and environments; ``by="device"`` pairs the same
        kernel on the same backend and venue, ``by="venue"`` the same kernel and backend,
        ``by="backend"`` the same kernel, parameters and dtype (whatever device each runs
        on). Several runs with the same label: the most recent
        measurement of each configuration is used.
    kernels, backends : list of str, optional
        Only these.
    alpha : float
        Significance level of the Mann-Whitney U test (asv: 0.002).
    threshold : float
        Smallest relative change that counts as slower/faster (0.05 = 5 %).
    level : float
        Confidence level of the ratio's interval.
    n_boot, seed : int
        Bootstrap resamples and seed (results are reproducible).

    Returns
    -------
    pandas.DataFrame
        ``kernel, params, dtype, <identity>, baseline_median_s, candidate_median_s, ratio,
        ratio_ci_low, ratio_ci_high, p_value, significant, test, n_baseline, n_candidate,
        verdict, baseline_result_id, candidate_result_id, baseline_round_spread,
        candidate_round_spread`` (the spread across a run's rounds, next to the within-run
        CI; NaN for single-round runs); slowest first. ``df.attrs`` holds
        the settings.

    Examples
    --------
    >>> df = compare("results.duckdb", baseline="main", candidate="my-branch")  # doctest: +SKIP
    >>> df[df.verdict == "slower"]  # doctest: +SKIP
    """
    st = open_store(store)
    results = st.results(kernels=kernels, backends=backends)
    if results.empty:
        raise ConfigError(f"{st.path} holds no results; run `accel-toolkit bench` first.")
    if by not in BY_COLUMNS:
        raise ConfigError(f"by must be one of {', '.join(BY_COLUMNS)}, got {by!r}.")
    keep = results[results["status"] == "ok"]
    picked = pd.concat([_side(keep, by, baseline), _side(keep, by, candidate)])
    ids = picked["result_id"].astype(str).unique().tolist()
    samples = st.samples(ids) if ids else None
    return compare_frames(
        results,
        samples,
        baseline=baseline,
        candidate=candidate,
        by=by,
        alpha=alpha,
        threshold=threshold,
        level=level,
        n_boot=n_boot,
        seed=seed,
    )
