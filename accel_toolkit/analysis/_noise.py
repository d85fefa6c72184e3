r"""Block-to-block noise learned from history: stored runs of the same code on the same machine.

Every pair of rounds measured from the same commit (``git_commit``) on the same machine
(``env_id``) is an A/A comparison: whatever separates them is noise. For configuration
:math:`c` in round :math:`k` of such a group, let :math:`x_{kc} = \log(\text{median}_{kc})`.
With the configuration's mean over the group's rounds and the round's shared shift (the median
over configurations) taken out,

.. math::

    e_{kc} = x_{kc} - \bar x_{\cdot c} - \operatorname{median}_{c'}(x_{kc'} - \bar x_{\cdot c'}),

the block-to-block noise of :math:`c` is the standard deviation of a block's log ratio
:math:`d = e_{kc} - e_{k'c}` between two such rounds: :math:`\sqrt{2}` times the pooled
standard deviation of :math:`e_{\cdot c}` over every group (degrees of freedom: rounds less
one, summed over groups). It is the same quantity as the ``spread`` column of
:func:`~accel_toolkit.analysis._blocks.compare_blocks`, estimated from the whole history
instead of the two sides being compared, so a gate can say beforehand how many rounds a
threshold needs here (:func:`rounds_needed`).

Rows without a ``git_commit`` (the code is unknown) or from a dirty tree are not used: two
dirty runs of one commit may run different code.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ._blocks import MIN_CONFIGS_FOR_SHIFT, blocks_needed
from ._compare import IDENTITY  # the columns that name one configuration across runs

__all__ = ["IDENTITY", "history_noise", "rounds_needed"]

_GROUP = ("git_commit", "env_id")


def _clean_rows(results: pd.DataFrame, value: str, identity: Sequence[str]) -> pd.DataFrame:
    need = [*identity, *_GROUP, "run_id", value]
    if results.empty or any(c not in results for c in need):
        return pd.DataFrame(columns=[*need, "round"])
    rows = results[results["status"] == "ok"] if "status" in results else results
    commit = rows["git_commit"].astype("string")
    known = commit.notna() & ~commit.fillna("").str.endswith("+dirty") & rows["env_id"].notna()
    v = pd.to_numeric(rows[value], errors="coerce")
    rows = rows[known & np.isfinite(v) & (v > 0)].copy()
    rows["round"] = rows["round"].fillna(0).astype(int) if "round" in rows else 0
    rows["_x"] = np.log(rows[value].astype(float))
    for c in identity:
        rows[c] = rows[c].astype("string").fillna("")
    return rows


def history_noise(
    results: pd.DataFrame,
    *,
    value: str = "median_s",
    identity: Sequence[str] = IDENTITY,
    include_dirty: bool = False,
) -> pd.DataFrame:
    """Each configuration's block-to-block noise, from the A/A pairs in ``results``.

    Parameters
    ----------
    results : pandas.DataFrame
        Rows of the ``results`` view (``run_id, round, git_commit, env_id, status`` and the
        ``identity`` columns); any runs, of any tags.
    value : str
        Each round's figure: ``median_s`` or ``min_s``.
    identity : sequence of str
        The columns that name a configuration.
    include_dirty : bool
        Also use runs whose commit ends in ``+dirty`` (a local tree with uncommitted
        changes): right when one knows the tree did not change between them.

    Returns
    -------
    pandas.DataFrame
        One row per configuration seen in at least two rounds of one group: the ``identity``
        columns, ``noise`` (standard deviation of a block's log ratio), ``dof`` (degrees of
        freedom behind it), ``n_rounds`` and ``n_groups`` (commit x machine pairs used).
        Empty when the history holds no repeated rounds.
    """
    frame = results
    if include_dirty and "git_commit" in results:
        frame = results.assign(
            git_commit=results["git_commit"].astype("string").str.removesuffix("+dirty")
        )
    rows = _clean_rows(frame, value, identity)
    cols = [*identity, "noise", "dof", "n_rounds", "n_groups"]
    if rows.empty:
        return pd.DataFrame(columns=cols)
    ident = list(identity)
    # one figure per (group, round, configuration): several rows of one round -> median
    cell = rows.groupby([*_GROUP, "run_id", "round", *ident], dropna=False)["_x"].median()
    cell = cell.reset_index()
    cell["_r"] = cell["run_id"].astype(str) + "#" + cell["round"].astype(str)
    parts = []
    for _, g in cell.groupby(list(_GROUP), dropna=False):
        wide = g.pivot_table(index="_r", columns=ident, values="_x", aggfunc="median")
        if len(wide) < 2:
            continue
        centred = wide - wide.mean(axis=0)
        if wide.shape[1] >= MIN_CONFIGS_FOR_SHIFT:
            centred = centred.sub(centred.median(axis=1), axis=0)
        n = wide.notna().sum(axis=0)
        ss = (centred**2).sum(axis=0)
        parts.append(pd.DataFrame({"ss": ss, "dof": n - 1, "n": n}).assign(g=1))
    if not parts:
        return pd.DataFrame(columns=cols)
    tot = pd.concat(parts).groupby(level=list(range(len(ident)))).sum()
    tot = tot[tot["dof"] > 0]
    out = pd.DataFrame(
        {
            "noise": np.sqrt(2 * tot["ss"] / tot["dof"]),
            "dof": tot["dof"].astype(int),
            "n_rounds": tot["n"].astype(int),
            "n_groups": tot["g"].astype(int),
        }
    ).reset_index()
    out.columns = cols
    return out.reset_index(drop=True)


def rounds_needed(
    noise: float,
    threshold: float,
    *,
    alpha: float = 0.01,
    n_tests: int = 1,
    change: float | None = None,
    power: float = 0.95,
    rule: str = "strict",
) -> int:
    """Rounds per side (blocks) that flag a real slowdown of ``change`` (default twice
    ``threshold``) with probability about ``power`` under the gate's ``rule``
    (:data:`~accel_toolkit.analysis._blocks.RULES`), given the
    block-to-block ``noise`` learned by :func:`history_noise`; -1 when the noise is unknown.
    """
    if noise is None or not math.isfinite(noise):
        return -1
    return blocks_needed(
        float(noise), threshold, alpha=alpha, n_tests=n_tests, change=change, power=power, rule=rule
    )
