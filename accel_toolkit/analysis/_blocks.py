r"""A gate statistic that sees run-level drift: per-block log ratios, shared shift removed.

A shared machine's speed moves between runs by far more than a run's own confidence interval
says, and it moves every configuration together. So the unit of replication is the **block**:
one round of the baseline and one round of the candidate, ideally measured back to back
(A B | B A). For configuration :math:`j` in block :math:`i`

.. math::

    d_{ij} = \log(\text{median}^{B}_{ij} / \text{median}^{A}_{ij}),
    \qquad r_{ij} = d_{ij} - s_i^{(-j)},

where :math:`s_i^{(-j)}` is the block's **shared shift**: the median of :math:`d_{i\cdot}` over
the other configurations (leave-one-out, so a configuration that really changed does not
move its own reference), or the median over declared control configurations. The residuals
:math:`r_{1j}, \dots, r_{nj}` are tested over blocks:

* ``test="t"`` (default): a one-sample t-test;
* ``test="sign-flip"``: a paired sign-flip permutation test
  (``scipy.stats.permutation_test``), exact for up to :data:`EXACT_BLOCKS` blocks. Its
  smallest p-value is :math:`2^{-n}`, so it needs about :math:`\log_2(m / \alpha)` blocks for
  :math:`m` configurations.
* ``test="signed-rank"``: the Wilcoxon signed-rank test (``scipy.stats.wilcoxon``, exact
  up to 50 blocks), with the Hodges-Lehmann estimate (the median of the Walsh averages)
  and its distribution-free interval; ``spread`` is then the robust standard deviation
  (1.4826 x the median absolute deviation). Where most blocks agree closely and a few are
  thrown far off by a burst of contention, as in ``ab``'s turn-taking on a shared machine,
  it keeps the power the outliers take from the t-test.

Two rules say when a configuration is ``slower``; both apply **Holm's correction** over all
tested configurations at ``alpha``, so the gate as a whole, not each row, holds the
false-alarm level:

* ``rule="strict"`` (the default of :func:`compare_blocks` and of ``accel-toolkit ab``,
  which adds blocks while a configuration leans slower): the ratio exceeds
  ``1 + threshold`` with confidence; the one-sided test of
  :math:`H_0: \bar r \le \log(1 + t)` must reject. That is the Holm-adjusted lower
  confidence bound clearing the threshold, which takes a tight interval: a true change of
  twice the threshold needs about four times the blocks of the other rule.
* ``rule="estimate"`` (how asv and nvbench judge): the ratio
  exceeds 1 with confidence (:math:`H_0: \bar r \le 0` rejected) **and** the estimated
  ratio exceeds ``1 + threshold``. It holds the same false-alarm level against noise, but a
  configuration-specific drift between the two sides larger than the threshold is flagged,
  so it suits interleaved blocks (each round a fresh process), not runs made at different
  times.

``faster`` is the mirror test (its own Holm family). ``same`` is when the two-sided ``level``
interval of the ratio lies inside :math:`[1/(1+t), 1+t]`; anything else is ``ambiguous``
(listed, never a failure).

The suite-wide shift :math:`\bar s` (mean over blocks of the block medians :math:`s_i`) is
reported as its own figure with its own, looser verdict (``suite_threshold``, by default
twice ``threshold``). When A and B were interleaved it is an estimate of a change common to
every configuration; when they were measured at different times it also holds the machine's
drift, so it fails the gate only with ``suite_gates=True``.

Configurations present on one side only are listed as ``added`` or ``removed``. A
configuration missing from some blocks on one side (fewer rounds) is compared on the blocks
where both sides have it, and the result says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import ConfigError

__all__ = [
    "EXACT_BLOCKS",
    "MIN_CONFIGS_FOR_SHIFT",
    "RULES",
    "BlockComparison",
    "SuiteShift",
    "block_log_ratios",
    "blocks_needed",
    "compare_blocks",
    "holm",
]

#: the tests over blocks: t-test, sign-flip permutation test, Wilcoxon signed-rank test
TESTS = ("t", "sign-flip", "signed-rank")
#: up to this many blocks the sign-flip test enumerates every sign pattern (2**n)
EXACT_BLOCKS = 16
#: fewer configurations than this cannot estimate a shared shift (it is then not removed)
MIN_CONFIGS_FOR_SHIFT = 3
#: when a configuration is ``slower``: its lower bound clears the threshold (``strict``), or
#: it is slower with confidence and its estimate clears the threshold (``estimate``)
RULES = ("strict", "estimate")
_SIDES = ("baseline", "candidate")


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaN stays NaN and does not count as a test)."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    adj = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out[order] = np.minimum(adj, 1.0)
    return out


def blocks_needed(
    noise: float,
    threshold: float,
    *,
    alpha: float = 0.01,
    n_tests: int = 1,
    change: float | None = None,
    power: float = 0.95,
    cap: int = 1000,
    rule: str = "strict",
) -> int:
    """Blocks needed to flag a real slowdown of ``change`` (default ``2 * threshold``) as
    ``slower`` with probability about ``power``, given the block-to-block noise (the standard
    deviation of a configuration's residual log ratio) and ``n_tests`` configurations
    (Holm's first step, alpha / n_tests): the smallest ``n >= 3`` with
    ``t(n-1, 1-alpha/n_tests) + t(n-1, power) <= margin * sqrt(n) / noise``, where
    ``margin`` is ``log(1 + change) - log(1 + threshold)`` under the ``strict`` rule; under
    ``estimate`` it is ``log(1 + change)``, and also ``t(n-1, power) <= (log(1 + change) -
    log(1 + threshold)) * sqrt(n) / noise`` (the estimate clears the threshold). -1 when the
    noise is unknown, ``cap`` when even that many are not enough."""
    from scipy import stats

    if not (math.isfinite(noise) and noise >= 0):
        return -1
    c = 2 * threshold if change is None else change
    margin = math.log1p(c) - math.log1p(threshold)
    if margin <= 0:
        raise ConfigError(f"change {c:.0%} must exceed the threshold {threshold:.0%}.")
    if rule not in RULES:
        raise ConfigError(f"rule must be one of {RULES}, got {rule!r}.")
    test_margin = math.log1p(c) if rule == "estimate" else margin
    level = 1 - alpha / max(n_tests, 1)
    # every candidate n at once: one quantile call per level instead of two per n
    n = np.arange(3, cap)
    tp = stats.t.ppf(power, n - 1)
    need = stats.t.ppf(level, n - 1) + tp
    ok = (need * noise <= test_margin * np.sqrt(n)) & (tp * noise <= margin * np.sqrt(n))
    return int(n[ok.argmax()]) if ok.any() else cap


@dataclass(frozen=True)
class SuiteShift:
    """The change every configuration shares: ``ratio`` = exp(mean block shift), its CI,
    the one-sided p-value of "slower by more than ``threshold``", and a verdict."""

    ratio: float
    ci_low: float
    ci_high: float
    p_slower: float
    threshold: float
    verdict: str
    n_blocks: int
    gates: bool

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class BlockComparison:
    """The result of :func:`compare_blocks`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per configuration tested: ``config, n_blocks, ratio, ratio_ci_low,
        ratio_ci_high, p_value, p_slower, p_slower_adj, p_faster_adj, spread, blocks_needed,
        verdict`` (``spread``: the standard deviation over blocks of the residual log ratio,
        the block-to-block noise; ``blocks_needed``: the blocks that noise needs to flag a
        slowdown of twice the threshold, :func:`blocks_needed`). Slowest first.
    suite : SuiteShift
        The shared shift and its own verdict.
    added, removed : list of str
        Configurations measured only by the candidate / only by the baseline.
    notes : list of str
        What the reader must know (fewer rounds on one side, shift not removed, ...).
    settings : dict
        ``threshold, alpha, level, test, control, shift``.
    """

    table: pd.DataFrame = field(repr=False)
    suite: SuiteShift
    added: list[str]
    removed: list[str]
    notes: list[str]
    settings: dict[str, Any]

    @property
    def status(self) -> int:
        """1 when a configuration (or a gating suite shift) is slower, else 0."""
        slow = bool((self.table["verdict"] == "slower").any()) if not self.table.empty else False
        return int(slow or (self.suite.gates and self.suite.verdict == "slower"))

    def counts(self) -> dict[str, int]:
        """How many configurations got each verdict."""
        return {str(k): int(v) for k, v in self.table["verdict"].value_counts().items()}


def block_log_ratios(
    rows: pd.DataFrame,
    *,
    config: str = "config",
    block: str = "block",
    side: str = "side",
    value: str = "median_s",
) -> tuple[pd.DataFrame, list[str], list[str], list[str]]:
    """The blocks x configurations matrix of ``d = log(candidate / baseline)``.

    ``rows`` is long: one row per (block, side, configuration) with the round's median in
    ``value``; ``side`` is ``baseline`` or ``candidate`` (several rows: their median). A cell
    is NaN where either side lacks that block.

    Returns
    -------
    d, added, removed, notes
    """
    for col in (config, block, side, value):
        if col not in rows:
            raise ConfigError(f"block rows need a {col!r} column; they have {list(rows)}.")
    bad = sorted(set(rows[side].astype(str)) - set(_SIDES))
    if bad:
        raise ConfigError(f"side must be 'baseline' or 'candidate', got {bad}.")
    v = rows[value].astype(float)
    keep = rows[np.isfinite(v) & (v > 0)]
    wide = keep.pivot_table(index=block, columns=[side, config], values=value, aggfunc="median")
    per = {
        s: (wide[s] if s in wide.columns.get_level_values(0) else pd.DataFrame(index=wide.index))
        for s in _SIDES
    }
    base_cfg, cand_cfg = set(per["baseline"].columns), set(per["candidate"].columns)
    added = sorted(map(str, cand_cfg - base_cfg))
    removed = sorted(map(str, base_cfg - cand_cfg))
    both = sorted(base_cfg & cand_cfg, key=str)
    d = np.log(per["candidate"][both] / per["baseline"][both])
    d = d.dropna(how="all")
    notes = []
    nb = {s: int(per[s].notna().any(axis=1).sum()) for s in _SIDES}
    if nb["baseline"] != nb["candidate"]:
        notes.append(
            f"the baseline has {nb['baseline']} block(s) and the candidate "
            f"{nb['candidate']}: compared on the {len(d)} block(s) both have."
        )
    partial = [str(c) for c in both if d[c].notna().sum() < len(d)]
    if partial:
        notes.append(
            f"{len(partial)} configuration(s) are missing from some blocks on one side "
            f"and are compared on the blocks where both sides have them."
        )
    return d, added, removed, notes


def _shifts(d: np.ndarray, control: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Per block: the suite shift (median over configurations or controls), and per cell the
    leave-one-out shift that configuration is measured against."""
    n, m = d.shape
    if control is not None:
        s = np.nanmedian(np.where(control[None, :], d, np.nan), axis=1)
        return s, np.repeat(s[:, None], m, axis=1)
    s = np.nanmedian(d, axis=1)
    loo = np.empty_like(d)
    for j in range(m):
        others = np.delete(d, j, axis=1)
        with np.errstate(all="ignore"):
            loo[:, j] = np.nanmedian(others, axis=1) if np.isfinite(others).any() else np.nan
    return s, loo


def _t_tests(
    r: np.ndarray, t: float, level: float, centre: float | None = None
) -> dict[str, float]:
    """Mean, CI and p-values of ``r``; the one-sided tests are against ``centre`` (default
    ``log(1 + t)``: slower/faster by more than ``t``)."""
    from scipy import stats

    n = r.size
    mean = float(r.mean())
    if n < 2:
        nan = float("nan")
        return {
            "mean": mean,
            "lo": nan,
            "hi": nan,
            "p": nan,
            "p_slower": nan,
            "p_faster": nan,
            "sd": nan,
        }
    sd = float(r.std(ddof=1))
    se = sd / math.sqrt(n)
    q = float(stats.t.ppf(0.5 + level / 2, n - 1))
    lt = math.log1p(t) if centre is None else centre
    if se == 0:
        p = 0.0 if mean != 0 else 1.0
        ps = 0.0 if mean > lt else 1.0
        pf = 0.0 if mean < -lt else 1.0
    else:
        p = float(2 * stats.t.sf(abs(mean) / se, n - 1))
        ps = float(stats.t.sf((mean - lt) / se, n - 1))
        pf = float(stats.t.sf((-lt - mean) / se, n - 1))
    return {
        "mean": mean,
        "lo": mean - q * se,
        "hi": mean + q * se,
        "p": p,
        "p_slower": ps,
        "p_faster": pf,
        "sd": sd,
    }


def _sign_flip(r: np.ndarray, t: float, seed: int, centre: float | None = None) -> dict[str, float]:
    from scipy import stats

    def mean(x: np.ndarray, axis: int) -> np.ndarray:
        return np.asarray(np.mean(x, axis=axis))

    n_res: float = math.inf if r.size <= EXACT_BLOCKS else 20_000
    lt = math.log1p(t) if centre is None else centre

    def p_of(x: np.ndarray, alternative: str) -> float:
        res = stats.permutation_test(
            (x,),
            mean,
            permutation_type="samples",
            vectorized=True,
            alternative=alternative,
            n_resamples=n_res,
            random_state=seed,
        )
        return float(res.pvalue)

    return {
        "p": p_of(r, "two-sided"),
        "p_slower": p_of(r - lt, "greater"),
        "p_faster": p_of(r + lt, "less"),
    }


def _signed_rank(
    r: np.ndarray, t: float, level: float, centre: float | None = None
) -> dict[str, float]:
    """Hodges-Lehmann estimate, its interval and Wilcoxon signed-rank p-values of ``r``."""
    from scipy import stats

    n = r.size
    walsh = np.sort((r[:, None] + r[None, :])[np.triu_indices(n)] / 2)
    est = float(np.median(walsh))
    nan = float("nan")
    robust = float(1.4826 * np.median(np.abs(r - np.median(r)))) if n >= 2 else nan
    if n < 2:
        return {
            "mean": est,
            "lo": nan,
            "hi": nan,
            "p": nan,
            "p_slower": nan,
            "p_faster": nan,
            "sd": robust,
        }
    # the interval between the k-th smallest and largest Walsh averages, k from the
    # normal approximation of the signed-rank statistic's null distribution
    z = float(stats.norm.ppf(0.5 + level / 2))
    k = int(max(0, math.floor(walsh.size / 2 - z * math.sqrt(n * (n + 1) * (2 * n + 1) / 24))))
    lt = math.log1p(t) if centre is None else centre

    def p_of(x: np.ndarray, alternative: str) -> float:
        if not np.any(x):
            return 1.0
        return float(stats.wilcoxon(x, alternative=alternative, zero_method="zsplit").pvalue)

    return {
        "mean": est,
        "lo": float(walsh[min(k, walsh.size - 1)]),
        "hi": float(walsh[max(walsh.size - 1 - k, 0)]),
        "p": p_of(r, "two-sided"),
        "p_slower": p_of(r - lt, "greater"),
        "p_faster": p_of(r + lt, "less"),
        "sd": robust,
    }


def compare_blocks(
    rows: pd.DataFrame,
    *,
    threshold: float = 0.05,
    alpha: float = 0.01,
    level: float = 0.95,
    test: str = "t",
    rule: str = "strict",
    control: Sequence[str] | None = None,
    suite_threshold: float | None = None,
    suite_gates: bool = False,
    seed: int = 0,
    config: str = "config",
    block: str = "block",
    side: str = "side",
    value: str = "median_s",
) -> BlockComparison:
    """Compare a candidate with a baseline over blocks, with the shared shift removed.

    Parameters
    ----------
    rows : pandas.DataFrame
        One row per (block, side, configuration): ``block`` (any sortable id), ``side``
        (``baseline`` or ``candidate``), ``config`` (a label) and the round's median in
        ``value``.
    threshold : float
        Smallest relative change that counts (0.05 = 5 %).
    alpha : float
        The gate's family-wise false-alarm level (Holm over configurations).
    level : float
        Confidence level of the reported two-sided interval of each ratio.
    test : str
        ``t`` (t-test on the residual log ratios), ``sign-flip`` (paired permutation test,
        exact up to :data:`EXACT_BLOCKS` blocks) or ``signed-rank`` (Wilcoxon, with the
        Hodges-Lehmann estimate; robust to the few blocks a burst throws far off).
    rule : str
        When a configuration is ``slower`` (:data:`RULES`): ``strict``, its Holm-adjusted
        lower bound clears ``1 + threshold``; ``estimate``, it is slower than 1 with
        Holm-adjusted confidence and its ratio exceeds ``1 + threshold``. ``p_slower`` and
        ``p_faster`` are the one-sided p-values of the rule's test.
    control : list of str, optional
        Configurations whose median gives each block's shared shift (a control kernel);
        default: the leave-one-out median over all configurations. Controls are not tested.
    suite_threshold : float, optional
        Threshold of the suite-wide shift's verdict (default ``2 * threshold``).
    suite_gates : bool
        Whether a ``slower`` suite shift fails the gate (only meaningful when the sides
        were interleaved in blocks).
    seed : int
        Seed of the sign-flip test's resampling beyond :data:`EXACT_BLOCKS` blocks.

    Returns
    -------
    BlockComparison
    """
    if test not in TESTS:
        raise ConfigError(f"test must be one of {TESTS}, got {test!r}.")
    if rule not in RULES:
        raise ConfigError(f"rule must be 'strict' or 'estimate', got {rule!r}.")
    centre = 0.0 if rule == "estimate" else None
    if not (0 < alpha < 1 and 0 < level < 1 and threshold >= 0):
        raise ConfigError("need 0 < alpha < 1, 0 < level < 1 and threshold >= 0.")
    d_frame, added, removed, notes = block_log_ratios(
        rows, config=config, block=block, side=side, value=value
    )
    configs = [str(c) for c in d_frame.columns]
    d = d_frame.to_numpy(dtype=float)
    n_blocks, m = d.shape
    st = 2 * threshold if suite_threshold is None else float(suite_threshold)
    ctrl_mask = None
    shift = "leave-one-out median over configurations"
    if control:
        missing = sorted(set(control) - set(configs))
        if missing:
            raise ConfigError(
                f"control configuration(s) {missing} were not measured on both "
                f"sides; measured: {configs[:10]}{' ...' if m > 10 else ''}."
            )
        ctrl_mask = np.array([c in set(control) for c in configs])
        shift = f"median of control(s) {', '.join(sorted(control))}"
    if m == 0:
        s = np.zeros(0)
        loo = d
    elif ctrl_mask is None and m < MIN_CONFIGS_FOR_SHIFT:
        s = np.nanmedian(d, axis=1) if m else np.zeros(n_blocks)
        loo = np.zeros_like(d)
        shift = "none"
        notes.append(
            f"only {m} configuration(s): too few to estimate the shared shift, so the "
            f"ratios are tested as measured (run-level drift is not removed)."
        )
    else:
        s, loo = _shifts(d, ctrl_mask)
    r = d - loo

    records = []
    for j, name in enumerate(configs):
        if ctrl_mask is not None and ctrl_mask[j]:
            continue
        x = r[:, j][np.isfinite(r[:, j])]
        rec: dict[str, Any] = {"config": name, "n_blocks": int(x.size)}
        if x.size == 0:
            continue
        tt = (
            _signed_rank(x, threshold, level, centre)
            if test == "signed-rank"
            else _t_tests(x, threshold, level, centre)
        )
        if test == "sign-flip" and x.size >= 2:
            tt.update(_sign_flip(x, threshold, seed, centre))
        rec.update(
            ratio=math.exp(tt["mean"]),
            ratio_ci_low=math.exp(tt["lo"]),
            ratio_ci_high=math.exp(tt["hi"]),
            p_value=tt["p"],
            p_slower=tt["p_slower"],
            p_faster=tt["p_faster"],
            spread=tt["sd"],
        )
        records.append(rec)
    cols = [
        "config",
        "n_blocks",
        "ratio",
        "ratio_ci_low",
        "ratio_ci_high",
        "p_value",
        "p_slower",
        "p_faster",
        "p_slower_adj",
        "p_faster_adj",
        "spread",
        "blocks_needed",
        "verdict",
    ]
    table = pd.DataFrame(records, columns=cols[:8] + ["spread"])
    table["p_slower_adj"] = holm(table["p_slower"].to_numpy())
    table["p_faster_adj"] = holm(table["p_faster"].to_numpy())
    table["blocks_needed"] = [
        blocks_needed(v, threshold, alpha=alpha, n_tests=len(table), rule=rule)
        for v in table["spread"]
    ]
    up, down = 1 + threshold, 1 / (1 + threshold)
    # under "estimate" the ratio itself must clear the threshold too (strict: implied)
    clears = rule == "strict"

    def verdict(rec: pd.Series) -> str:
        if rec["p_slower_adj"] < alpha and (clears or rec["ratio"] > up):
            return "slower"
        if rec["p_faster_adj"] < alpha and (clears or rec["ratio"] < down):
            return "faster"
        if rec["ratio_ci_low"] >= down and rec["ratio_ci_high"] <= up:
            return "same"
        return "ambiguous"

    table["verdict"] = [verdict(rec) for _, rec in table.iterrows()] if len(table) else []
    table = table[cols].sort_values("ratio", ascending=False, na_position="last")
    table = table.reset_index(drop=True)
    if len(table) and int(table["n_blocks"].min()) < 2:
        notes.append(
            "configurations with fewer than 2 blocks cannot be tested (ambiguous); "
            "measure more rounds."
        )

    sv = s[np.isfinite(s)] if m else s
    su = _t_tests(sv, st, level) if sv.size else None
    if su is None or not math.isfinite(su["lo"]):
        suite = SuiteShift(
            math.exp(su["mean"]) if su else float("nan"),
            float("nan"),
            float("nan"),
            float("nan"),
            st,
            "ambiguous",
            int(sv.size),
            suite_gates,
        )
    else:
        lo, hi = math.exp(su["lo"]), math.exp(su["hi"])
        sv_verdict = (
            "slower"
            if su["p_slower"] < alpha
            else "faster"
            if su["p_faster"] < alpha
            else "same"
            if lo >= 1 / (1 + st) and hi <= 1 + st
            else "ambiguous"
        )
        suite = SuiteShift(
            math.exp(su["mean"]), lo, hi, su["p_slower"], st, sv_verdict, int(sv.size), suite_gates
        )
    settings = {
        "threshold": threshold,
        "alpha": alpha,
        "level": level,
        "test": test,
        "rule": rule,
        "control": list(control) if control else None,
        "shift": shift,
        "n_blocks": int(n_blocks),
    }
    return BlockComparison(table, suite, added, removed, notes, settings)
