"""Stored runs with rounds, compared round by round with the block statistic of :mod:`._blocks`.

A *round* of one side is one ``(run_id, round)`` pair among that side's ``ok`` rows: a run of
``bench --rounds K`` holds K rounds, and every run ``accel-toolkit ab`` makes is one round.
Each side's rounds are ordered by when they started; block ``i`` pairs the ``i``-th round of
the baseline with the ``i``-th of the candidate. With two or more rounds on each side,
``check`` uses :func:`compare_rounds` instead of the Mann-Whitney test on pooled samples,
which takes the machine's drift between runs for a change in the code.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..exceptions import ConfigError
from ._blocks import BlockComparison, compare_blocks
from ._compare import IDENTITY

if TYPE_CHECKING:
    from ..store import Store

__all__ = [
    "compare_rounds",
    "count_rounds",
    "history_markdown",
    "round_rows",
    "rounds_json",
    "rounds_markdown",
]


def _side_rows(results: pd.DataFrame, by: str, value: str) -> pd.DataFrame:
    from ._compare import _side

    ok = results[results["status"] == "ok"] if "status" in results else results
    return _side(ok, by, value)


def _with_round_ids(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with ``round_id`` (0, 1, ... by start time) for each (run, round) pair."""
    rnd = rows["round"] if "round" in rows else pd.Series(0, index=rows.index)
    rows = rows.assign(_round=rnd.fillna(0).astype(int))
    starts = rows.groupby(["run_id", "_round"])["created_at"].min().sort_values()
    ids = {k: i for i, k in enumerate(starts.index)}
    return rows.assign(
        round_id=[ids[(r, k)] for r, k in zip(rows["run_id"], rows["_round"], strict=True)]
    )


def count_rounds(results: pd.DataFrame, *, by: str, value: str) -> int:
    """How many rounds (``(run_id, round)`` pairs) the ``ok`` rows with ``by == value`` hold."""
    rows = _side_rows(results, by, value)
    if rows.empty:
        return 0
    rnd = rows["round"].fillna(0) if "round" in rows else pd.Series(0, index=rows.index)
    return int(pd.MultiIndex.from_arrays([rows["run_id"], rnd]).nunique())


def _labels(rows: pd.DataFrame) -> pd.Series:
    from ..charts import describe_series

    label = describe_series(rows)
    if "device" in rows and rows["device"].nunique(dropna=False) > 1:
        label = label + " [" + rows["device"].astype(str) + "]"
    return label


#: what one block of a side is: each ``round`` of each run; each ``run`` (one process of
#: ``ab``), whose figure is then the median over its rounds; or each run of a ``pair`` that
#: took turns round by round, compared by the median of its rounds' paired ratios
UNITS = ("round", "run", "pair")


def _per_run(rows: pd.DataFrame, value: str) -> pd.DataFrame:
    """One row per (run, configuration): ``value`` is the median over the run's rounds, and
    ``round_id`` orders the runs by start time."""
    keys = ["run_id", *[k for k in IDENTITY if k in rows]]
    first = rows.sort_values("created_at").groupby(keys, dropna=False, sort=False)
    out = first.head(1).set_index(keys)
    out[value] = first[value].median()
    out = out.reset_index()
    return out.assign(round_id=out["run_id"].map(_run_order(out)))


def _run_order(rows: pd.DataFrame) -> dict[Any, int]:
    """Each run of ``rows``, numbered 0, 1, ... by when it started."""
    starts = rows.groupby("run_id")["created_at"].min().sort_values()
    return {r: i for i, r in enumerate(starts.index)}


def _paired(
    sides: dict[str, pd.DataFrame], runs: dict[str, pd.DataFrame], value: str
) -> pd.DataFrame:
    """The candidate's per-run rows (``runs``, :func:`_per_run` of ``sides``) with ``value``
    replaced, wherever the baseline's run of the same block measured the configuration in
    the same rounds, by the baseline's figure times the median over rounds of the paired
    ratio candidate/baseline."""
    base, cand = sides["baseline"], sides["candidate"]
    a_run, b_run = runs["baseline"], runs["candidate"]
    ident = [k for k in IDENTITY if k in base and k in cand]

    def per_round(rows: pd.DataFrame) -> pd.DataFrame:
        rnd = rows["round"] if "round" in rows else pd.Series(0, index=rows.index)
        return pd.DataFrame(
            {
                "round_id": rows["run_id"].map(_run_order(rows)),
                "_round": rnd.fillna(0).astype(int),
                **{k: rows[k].astype(str) for k in ident},
                value: rows[value].astype(float),
            }
        )

    keys = ["round_id", *ident]
    pairs = per_round(base).merge(per_round(cand), on=[*keys, "_round"], suffixes=("_a", "_b"))
    pairs["d"] = np.log(pairs[f"{value}_b"] / pairs[f"{value}_a"])
    d = pairs.groupby(keys)["d"].median()
    a_fig = a_run.assign(**{k: a_run[k].astype(str) for k in ident}).set_index(keys)[value]
    at = pd.MultiIndex.from_frame(b_run[keys].astype({k: str for k in ident}))
    paired = (a_fig.reindex(at) * np.exp(d.reindex(at))).to_numpy()
    return b_run.assign(**{value: np.where(np.isfinite(paired), paired, b_run[value])})


def round_rows(
    results: pd.DataFrame,
    *,
    by: str,
    baseline: str,
    candidate: str,
    value: str = "median_s",
    unit: str = "round",
) -> pd.DataFrame:
    """Long block rows (``block, side, config, median_s``) of two labelled sides.

    ``config`` is a readable label of each configuration; its identity is config_key,
    backend, venue and device. ``value`` is the round's figure (``median_s``, or ``min_s``
    for the best case), stored as ``median_s``. ``unit="run"`` makes each run one block,
    its figure the median of ``value`` over the run's rounds: the rounds of one process,
    each taken at another moment, outvote a burst of contention that slowed one of them.
    ``unit="pair"`` also makes each run one block, for runs that took turns (``ab``: round
    ``r`` of a configuration on one side, then at once on the other): a block's log ratio is
    the median over rounds of the paired log ratios, so a state of the machine that both
    members of a pair met cancels even when it caught different rounds of the two runs.
    The candidate's figure is then the baseline's (median over its rounds) times that
    median ratio; where no pair exists, its own median.
    """
    if value not in results:
        raise ConfigError(f"No column {value!r} in the results; use median_s or min_s.")
    if unit not in UNITS:
        raise ConfigError(f"unit must be one of {UNITS}, got {unit!r}.")
    sides = {}
    for side, label in (("baseline", baseline), ("candidate", candidate)):
        rows = _side_rows(results, by, label)
        if rows.empty:
            raise ConfigError(
                f"No successful results with {by} = {label!r} for the {side}; "
                f"run `accel-toolkit bench --rounds K --tag {label}` first."
            )
        sides[side] = rows
    if unit == "round":
        blocks = {w: _with_round_ids(rows) for w, rows in sides.items()}
    else:
        blocks = {w: _per_run(rows, value) for w, rows in sides.items()}
        if unit == "pair":
            blocks["candidate"] = _paired(sides, blocks, value)
    parts = []
    for side, rows in blocks.items():
        parts.append(
            pd.DataFrame(
                {
                    "block": rows["round_id"],
                    "side": side,
                    "config": _labels(rows),
                    "median_s": rows[value],
                    **{k: rows[k] for k in IDENTITY if k in rows},
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def compare_rounds(
    store: Store | str | None = None,
    *,
    baseline: str,
    candidate: str,
    by: str = "tag",
    kernels: Sequence[str] | None = None,
    backends: Sequence[str] | None = None,
    results: pd.DataFrame | None = None,
    value: str = "median_s",
    include_dirty: bool = False,
    unit: str = "round",
    **options: Any,
) -> BlockComparison:
    """Compare two labelled sides of a database round by round (:func:`compare_blocks`).

    ``value`` is each round's figure (``median_s``; ``min_s`` compares best cases).
    ``unit="run"`` compares run by run, each run's figure the median over its rounds;
    ``unit="pair"`` run by run on the median of the rounds' paired ratios (what
    :func:`~accel_toolkit.ab` does when the sides take turns; :func:`round_rows`).
    ``options`` are :func:`compare_blocks` keywords (``threshold``, ``alpha``, ``test``,
    ``control``, ``suite_gates``, ...). ``results`` skips reading the store.

    The table also holds each configuration's noise learned from the history in ``results``
    (:func:`~accel_toolkit.analysis._noise.history_noise`: repeated rounds of one commit on
    one machine; ``include_dirty`` also trusts ``+dirty`` commits): ``history_noise``,
    ``history_dof`` and ``history_blocks``, the rounds per side that noise needs to flag a
    slowdown of twice the threshold (NaN / -1 where the history has no repeats).
    """
    from ..store import open_store

    if results is None:
        results = open_store(store, create=False).results(kernels=kernels, backends=backends)
    rows = round_rows(
        results, by=by, baseline=baseline, candidate=candidate, value=value, unit=unit
    )
    res = compare_blocks(rows, **options)
    _add_history(res, results, rows, value, include_dirty=include_dirty)
    res.settings.update(
        baseline=baseline,
        candidate=candidate,
        by=by,
        value=value,
        unit=unit,
        rounds={
            "baseline": count_rounds(results, by=by, value=baseline),
            "candidate": count_rounds(results, by=by, value=candidate),
        },
    )
    return res


def _add_history(
    res: BlockComparison,
    results: pd.DataFrame,
    rows: pd.DataFrame,
    value: str,
    *,
    include_dirty: bool,
) -> None:
    """Add ``history_noise``, ``history_dof``, ``history_blocks`` to ``res.table``."""
    from ._noise import history_noise, rounds_needed

    table = res.table
    hist = history_noise(results, value=value, include_dirty=include_dirty)
    ident = [c for c in IDENTITY if c in rows]
    noise: dict[str, tuple[float, int]] = {}
    if not hist.empty and ident:
        keyed = hist.set_index(ident)
        labels = rows.drop_duplicates("config")[["config", *ident]]
        for rec in labels.to_dict("records"):
            key = tuple("" if pd.isna(rec[c]) else str(rec[c]) for c in ident)
            key_ = key[0] if len(key) == 1 else key
            if key_ in keyed.index:
                row = keyed.loc[key_]
                noise[str(rec["config"])] = (float(row["noise"]), int(row["dof"]))
    s = res.settings
    table["history_noise"] = [noise.get(c, (math.nan, 0))[0] for c in table["config"]]
    table["history_dof"] = [noise.get(c, (math.nan, 0))[1] for c in table["config"]]
    table["history_blocks"] = [
        rounds_needed(
            v,
            float(s["threshold"]),
            alpha=float(s["alpha"]),
            n_tests=len(table),
            rule=str(s.get("rule", "strict")),
        )
        for v in table["history_noise"]
    ]
    s["history"] = {"value": value, "configurations": len(noise), "include_dirty": include_dirty}


def history_markdown(
    results: pd.DataFrame,
    *,
    threshold: float,
    alpha: float = 0.01,
    rule: str = "strict",
    value: str = "median_s",
    include_dirty: bool = False,
) -> str:
    """The paragraph on the noise learned from the history in ``results`` (every ``ok``
    configuration in it counts as tested): how many rounds per side a slowdown of twice
    ``threshold`` needs here, per configuration, under ``rule``."""
    from ._noise import history_noise, rounds_needed

    ok = results[results["status"] == "ok"] if "status" in results else results
    ident = [c for c in IDENTITY if c in ok]
    if ok.empty or not ident:
        return "\n".join(_history_lines(pd.DataFrame(), threshold, None))
    configs = ok.drop_duplicates(ident).reset_index(drop=True)
    keys = configs[ident].astype("string").fillna("")
    table = pd.DataFrame({"config": _labels(configs).to_numpy()})
    hist = history_noise(results, value=value, include_dirty=include_dirty)
    noise = {tuple(r[c] for c in ident): float(r["noise"]) for r in hist.to_dict("records")}
    table["history_noise"] = [
        noise.get(tuple(k), math.nan) for k in keys.itertuples(index=False, name=None)
    ]
    table["history_blocks"] = [
        rounds_needed(v, threshold, alpha=alpha, n_tests=len(table), rule=rule)
        for v in table["history_noise"]
    ]
    return "\n".join(_history_lines(table, threshold, None))


def _history_lines(t: pd.DataFrame, threshold: float, n_blocks: int | None) -> list[str]:
    """The report's paragraph on the noise learned from history."""
    if "history_blocks" not in t or not (t["history_blocks"] > 0).any():
        return [
            "No repeated rounds of one commit on this machine in the history, so the "
            "rounds a threshold needs here are unknown (run `bench --rounds K` twice on "
            "one commit to learn them).",
            "",
        ]
    known = t[t["history_blocks"] > 0].sort_values("history_blocks", ascending=False)
    worst = known.iloc[0]
    lines = [
        f"**Noise learned from history** (repeated rounds of one commit on this machine, "
        f"{len(known)} of {len(t)} configuration(s)): to detect a {2 * threshold:.0%} "
        f"slowdown on `{worst['config']}` here you need about {int(worst['history_blocks'])}"
        f" rounds per side ({worst['history_noise']:.1%} from block to block)"
        + (f"; this comparison has {n_blocks}." if n_blocks is not None else "."),
        "",
    ]
    if len(known) > 1:
        lines += ["| configuration | noise (history) | rounds needed |", "|---|---|---|"]
        lines += [
            f"| `{r['config']}` | {r['history_noise']:.1%} | {int(r['history_blocks'])} |"
            for r in known.head(8).to_dict("records")
        ]
        lines += [""]
    return lines


def _pct(r: float) -> str:
    return "-" if r is None or not math.isfinite(r) else f"{(r - 1) * 100:+.1f}%"


def _table(df: pd.DataFrame, level: float, threshold: float) -> list[str]:
    lines = [
        f"| configuration | change | {level:.0%} CI | blocks | block noise | p (Holm) "
        f"| blocks to see +{2 * threshold:.0%} |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in df.to_dict("records"):
        p = r["p_slower_adj"] if r["verdict"] != "faster" else r["p_faster_adj"]
        noise = "-" if not math.isfinite(r["spread"]) else f"{r['spread']:.1%}"
        lines.append(
            f"| `{r['config']}` | **{_pct(r['ratio'])}** | {_pct(r['ratio_ci_low'])} .. "
            f"{_pct(r['ratio_ci_high'])} | {r['n_blocks']} | {noise} | "
            f"{'-' if not math.isfinite(p) else f'{p:.2g}'} | "
            f"{r['blocks_needed'] if r['blocks_needed'] > 0 else '-'} |"
        )
    return lines


def rounds_markdown(res: BlockComparison) -> str:
    """A Markdown summary of a round-by-round comparison, fit for a pull-request comment."""
    s = res.settings
    t = float(s["threshold"])
    counts = res.counts()
    n_slow = counts.get("slower", 0)
    suite = res.suite
    suite_fails = suite.gates and suite.verdict == "slower"
    if n_slow or suite_fails:
        what = f"{n_slow} configuration(s)" if n_slow else "the whole suite"
        head = f"### :x: {what} slower by more than {t:.0%}"
    else:
        head = f"### :white_check_mark: no configuration slower by more than {t:.0%}"
    rounds = s.get("rounds", {})
    out = [
        head,
        "",
        f"`{s.get('candidate')}` vs `{s.get('baseline')}` (by {s.get('by', 'tag')}), "
        f"{s['n_blocks']} block(s) of "
        + {
            "run": "one run per side, each the median of its rounds",
            "pair": "one run per side, compared by the median of its rounds' paired ratios",
        }.get(str(s.get("unit")), "one round per side")
        + (
            f" (rounds: baseline {rounds.get('baseline')}, candidate {rounds.get('candidate')})"
            if rounds
            else ""
        )
        + ": "
        + ", ".join(
            f"{counts[k]} {k}" for k in ("slower", "faster", "same", "ambiguous") if counts.get(k)
        )
        + ".",
        "",
        f"Per block, log(candidate / baseline) of each round's "
        f"{'fastest sample' if s.get('value') == 'min_s' else 'median'} less the block's "
        f"shared shift ({s['shift']}); "
        f"{s['test']}-test over blocks, Holm-corrected at alpha={s['alpha']}; "
        + (
            f"slower when the ratio exceeds 1 with that confidence and its estimate exceeds "
            f"the {t:.0%} threshold."
            if s.get("rule") == "estimate"
            else f"slower when the ratio's lower bound clears the {t:.0%} threshold at that "
            f"corrected level (p (Holm) below {s['alpha']})."
        )
        + f" The {s['level']:.0%} CI column is each configuration's own interval, not "
        "corrected: its lower end can clear the threshold before the gate's does.",
        "",
        f"**Suite-wide shift** (every configuration together): {_pct(suite.ratio)}, "
        f"{s['level']:.0%} CI {_pct(suite.ci_low)} .. {_pct(suite.ci_high)} over "
        f"{suite.n_blocks} block(s): **{suite.verdict}** at a {suite.threshold:.0%} threshold"
        + (
            ""
            if suite.gates
            else " (reported, not gating: the sides were not interleaved, "
            "so it also holds the machine's drift between runs)"
        )
        + ".",
        "",
    ]
    for note in res.notes:
        out += [f"> {note}", ""]
    by_round = s.get("unit", "round") == "round"
    if by_round:
        out += _history_lines(res.table, float(s["threshold"]), int(s["n_blocks"]))
    else:  # the history's noise is of single rounds, which these blocks are not
        out += [
            "The noise learned from history is that of single rounds; these blocks are "
            "whole runs, so the blocks they need come from this comparison's own noise.",
            "",
        ]
    amb = res.table[res.table["verdict"] == "ambiguous"]
    need = amb["blocks_needed"][amb["blocks_needed"] > 0]
    if len(need):
        worst = amb.loc[need.idxmax()]
        out += [
            f"To tell a {2 * t:.0%} slowdown from noise on every ambiguous configuration "
            f"here you need about {int(need.max())} blocks "
            f"({'rounds per side' if by_round else 'runs per side, `--blocks`'}; the noisiest "
            f"is `{worst['config']}`, {worst['spread']:.1%} from block to block).",
            "",
        ]
    for verdict, title in (
        ("slower", "Slower"),
        ("faster", "Faster"),
        ("ambiguous", "Ambiguous (too noisy to tell: add rounds)"),
    ):
        part = res.table[res.table["verdict"] == verdict]
        if not part.empty:
            out += [f"#### {title}", "", *_table(part, s["level"], t), ""]
    same = res.table[res.table["verdict"] == "same"]
    if not same.empty:
        out += [
            "<details><summary>Unchanged configurations</summary>",
            "",
            *_table(same, s["level"], t),
            "",
            "</details>",
            "",
        ]
    for name, items in (
        ("Added (candidate only)", res.added),
        ("Removed (baseline only)", res.removed),
    ):
        if items:
            out += [f"#### {name}", "", *[f"- `{c}`" for c in items], ""]
    return "\n".join(out)


def rounds_json(res: BlockComparison) -> dict[str, Any]:
    """A round-by-round comparison as a JSON-able dict: settings, suite, counts, rows."""

    def clean(v: Any) -> Any:
        return None if isinstance(v, float) and not math.isfinite(v) else v

    return {
        **res.settings,
        "statistic": "blocks",
        "status": res.status,
        "counts": res.counts(),
        "suite": {k: clean(v) for k, v in res.suite.as_dict().items()},
        "added": res.added,
        "removed": res.removed,
        "notes": res.notes,
        "rows": [{k: clean(v) for k, v in r.items()} for r in res.table.to_dict("records")],
    }
