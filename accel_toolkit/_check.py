"""The CI gate as a Python call: :func:`check` returns the verdict ``accel-toolkit check`` prints.

The threshold rule (:func:`parse_threshold`), shared by the API and the CLI: a percent string
(``"5%"``) or a fraction (``0.05``). A bare number above 1 is refused, because ``5`` could mean
5% or 500%; a bare number of 0.5 or more is read as a fraction, with a warning.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from .exceptions import ConfigError

if TYPE_CHECKING:
    from .analysis._blocks import BlockComparison
    from .store import Store

__all__ = ["CheckResult", "check", "parse_threshold"]


def parse_threshold(value: float | str) -> float:
    """A threshold as a fraction: ``"5%"`` and ``0.05`` are both 0.05.

    Raises
    ------
    ConfigError
        A negative value, text that is not a number, or a bare number above 1 (write ``5%``
        or ``0.05``, not ``5``).
    """
    text = str(value).strip()
    percent = text.endswith("%")
    try:
        v = float(text[:-1]) / 100 if percent else float(text)
    except ValueError:
        raise ConfigError(
            f"threshold {value!r} is not a number; write a percent like 5% or a fraction like 0.05."
        ) from None
    if not math.isfinite(v) or v < 0:
        raise ConfigError(
            f"threshold {value!r} must be a non-negative percent (5%) or fraction (0.05)."
        )
    if not percent and v > 1:
        raise ConfigError(
            f"threshold {text} is ambiguous: a bare number is a fraction, so {text} would mean "
            f"{v:.0%}. Write {text}% for {text} percent, or {v / 100:g} as a fraction."
        )
    if not percent and v >= 0.5:
        warnings.warn(
            f"threshold {text} is read as a fraction ({v:.0%}); write {text}% if you "
            f"meant {text} percent.",
            UserWarning,
            stacklevel=2,
        )
    return v


@dataclass(frozen=True)
class CheckResult:
    """The gate's verdict: the per-configuration comparison and the exit status.

    ``status`` is 0 when no configuration is significantly slower by more than the
    threshold and 1 when one is (``accel-toolkit check`` exits with it); ``markdown`` is
    the pull-request comment and ``as_dict()`` its JSON form.
    """

    comparison: pd.DataFrame = field(repr=False)
    status: int
    #: the round-by-round comparison when the runs have rounds (``None``: Mann-Whitney)
    blocks: BlockComparison | None = field(default=None, repr=False)
    #: single runs: the paragraph on the rounds the history says a threshold needs here
    history: str = field(default="", repr=False)

    @property
    def passed(self) -> bool:
        """True when nothing is significantly slower (exit status 0)."""
        return self.status == 0

    @property
    def slower(self) -> pd.DataFrame:
        """The configurations that failed the gate."""
        return self.comparison[self.comparison["verdict"] == "slower"]

    @property
    def markdown(self) -> str:
        from .analysis import gate_markdown
        from .analysis._rounds import rounds_markdown

        if self.blocks:
            return rounds_markdown(self.blocks)
        md = gate_markdown(self.comparison)
        return f"{md.rstrip()}\n\n{self.history}\n" if self.history else md

    def as_dict(self) -> dict[str, Any]:
        """Settings, counts, status and rows (what ``check --format json`` prints)."""
        from .analysis import gate_json
        from .analysis._rounds import rounds_json

        if self.blocks:
            return rounds_json(self.blocks)
        return {**gate_json(self.comparison), **({"history": self.history} if self.history else {})}

    def _repr_markdown_(self) -> str:
        return self.markdown

    def __repr__(self) -> str:
        a = self.comparison.attrs
        return (
            f"CheckResult(status={self.status}, slower={len(self.slower)}, "
            f"candidate={a.get('candidate')!r}, baseline={a.get('baseline')!r})"
        )


def check(
    db: Store | str | os.PathLike[str] | None = None,
    *,
    baseline: str,
    candidate: str,
    by: str = "tag",
    threshold: float | str = "5%",
    alpha: float = 0.002,
    kernels: Sequence[str] | None = None,
    backends: Sequence[str] | None = None,
) -> CheckResult:
    """Gate ``candidate`` against ``baseline``, as ``accel-toolkit check`` does.

    Parameters
    ----------
    db : Store or path, optional
        An existing results database (default: the default database).
    baseline, candidate : str
        Labels of the two sides: tags by default, or runs, commits, devices (``by``).
    threshold : float or str
        Smallest change that counts: ``"5%"`` or ``0.05`` (see :func:`parse_threshold`).
    alpha : float
        Mann-Whitney significance level.
    kernels, backends : list of str, optional
        Only these.

    When either side holds two or more rounds (``bench --rounds K``, or the runs of
    ``accel-toolkit ab``), the sides are compared round by round with the run-level drift
    removed (:mod:`accel_toolkit.analysis._rounds`), and ``alpha`` is the gate's family-wise
    false-alarm level; single runs keep the Mann-Whitney comparison of :func:`compare`.
    Runs that took turns (``ab``'s default) are compared as ``ab`` compared them: each
    block by the median of its passes' paired ratios, by ``ab``'s rule (``DEFAULT_RULE``), the
    suite-wide shift gating too; with ``alpha=0.01`` (``ab``'s) the verdicts are ``ab``'s.

    Returns
    -------
    CheckResult
        ``status`` 1 if a configuration is significantly slower by more than the threshold.

    Raises
    ------
    ConfigError
        Nothing was measured successfully on both sides.
    """
    from .analysis import compare, gate_status
    from .store import open_store

    t = parse_threshold(threshold)
    store = open_store(db, create=False)
    blocks = _round_by_round(store, baseline, candidate, by, t, alpha, kernels, backends)
    if blocks is not None:
        return CheckResult(blocks.table, blocks.status, blocks)
    df = compare(
        store,
        baseline=baseline,
        candidate=candidate,
        by=by,
        alpha=alpha,
        threshold=t,
        kernels=kernels,
        backends=backends,
    )
    if df.empty or not (df["verdict"] != "missing").any():
        raise ConfigError(
            f"Nothing to compare: no configuration was measured successfully under both "
            f"{by} {baseline!r} and {candidate!r}. Benchmark the same kernels, presets and "
            f"backends for both."
        )
    return CheckResult(df, gate_status(df), history=_history(store, t, alpha, kernels, backends))


def _history(
    store: Store,
    threshold: float,
    alpha: float,
    kernels: Sequence[str] | None,
    backends: Sequence[str] | None,
) -> str:
    """What the stored A/A rounds say about the rounds a threshold needs (report only)."""
    from .analysis._rounds import history_markdown

    return history_markdown(
        store.results(kernels=kernels, backends=backends), threshold=threshold, alpha=alpha
    )


def _round_by_round(
    store: Store,
    baseline: str,
    candidate: str,
    by: str,
    threshold: float,
    alpha: float,
    kernels: Sequence[str] | None,
    backends: Sequence[str] | None,
) -> BlockComparison | None:
    """The round-by-round comparison, or ``None`` when neither side has several rounds."""
    from .analysis._compare import BY_COLUMNS
    from .analysis._rounds import compare_rounds, count_rounds

    if by not in BY_COLUMNS:
        return None
    results = store.results(kernels=kernels, backends=backends)
    if results.empty or "round" not in results:
        return None
    n = [count_rounds(results, by=by, value=v) for v in (baseline, candidate)]
    if min(n) == 0 or max(n) < 2:
        return None
    from ._ab import DEFAULT_RULE

    unit = _unit(store, results, by, (baseline, candidate))
    interleaved = unit != "round"
    return compare_rounds(
        results=results,
        baseline=baseline,
        candidate=candidate,
        by=by,
        threshold=threshold,
        alpha=alpha,
        unit=unit,
        # runs an ab job interleaved are judged as ab judged them; a shift of all is the code's
        rule=DEFAULT_RULE if interleaved else "strict",
        suite_gates=interleaved,
    )


def _unit(store: Store, results: pd.DataFrame, by: str, labels: tuple[str, str]) -> str:
    """How ``ab`` compared the sides when every run of both came from one ``ab`` job, as many
    on each side (``"pair"`` for turns, ``"run"`` for one process after the other); otherwise
    ``"round"``."""
    from ._ab import unit_of_runs
    from .analysis._rounds import _side_rows

    runs = store.runs().set_index("run_id")["command"]
    ids = [set(_side_rows(results, by, v)["run_id"]) for v in labels]
    unit = unit_of_runs([runs.get(r) for side in ids for r in side])
    return unit if unit and len(ids[0]) == len(ids[1]) else "round"
