"""The statistics at their decision edges: one value either side of every threshold.

* ``harness._stats``: the order-statistic CI of the median against an exact binomial sum;
* ``analysis._compare._verdict`` and the sample-size switches of ``compare_samples``;
* ``analysis._steps``: a step at the minimum segment size, the first and last allowed index,
  and a series exactly ``2 * min_size`` long;
* ``store``: importing an older and a newer export of the same run;
* the gate (``accel-toolkit check``) with a moderate slowdown (10-20 %), not only a 100x one.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from accel_toolkit.analysis._compare import _verdict, compare_samples, mwu_can_reach
from accel_toolkit.analysis._steps import _weights, detect_steps, fit_segments
from accel_toolkit.exceptions import StoreError
from accel_toolkit.harness import median_ci, summarize
from accel_toolkit.store import Store

T = 0.05
UP, DOWN = 1 + T, 1 / (1 + T)


def _below(v: float) -> float:
    return float(np.nextafter(v, -np.inf))


def _above(v: float) -> float:
    return float(np.nextafter(v, np.inf))


# -- harness._stats ---------------------------------------------------------------------------
def _coverage(n: int, j: int) -> float:
    """P(j < B <= n-1-j) for B ~ Binomial(n, 1/2), summed exactly."""
    return sum(math.comb(n, b) for b in range(j + 1, n - j)) / 2**n


@given(n=st.integers(2, 120), level=st.sampled_from([0.1, 0.3, 0.5, 0.9, 0.95, 0.99]))
@example(n=4, level=0.3)  # the narrowest pair is the middle one (coverage 0.375)
@example(n=2, level=0.5)
@example(n=10, level=0.890625)  # exactly the coverage of [x_(2), x_(7)]: that pair is enough
@settings(max_examples=60, deadline=None)
def test_median_ci_is_the_narrowest_order_statistic_pair_reaching_the_level(
    n: int, level: float
) -> None:
    x = np.arange(n, dtype=float) * 1.5 + 10  # sorted, distinct: x[j] identifies j
    lo, hi, achieved = median_ci(x[::-1], level)  # input order must not matter
    j = int(round((lo - 10) / 1.5))
    assert hi == x[n - 1 - j], "symmetric pair"
    assert achieved == pytest.approx(_coverage(n, j), abs=1e-12)
    reachable = [i for i in range((n - 1) // 2 + 1) if _coverage(n, i) >= level]
    if reachable:
        assert j == max(reachable), "narrowest pair still at the level"
        assert achieved >= level
    else:  # no pair reaches it: [min, max] with its actual, lower confidence
        assert j == 0 and achieved < level


def test_median_ci_without_an_interval() -> None:
    for x in ([], [3.0]):
        lo, hi, achieved = median_ci(np.array(x))
        assert math.isnan(lo) and math.isnan(hi) and achieved == 0.0
    lo, hi, achieved = median_ci(np.array([2.0, 1.0]))
    assert (lo, hi) == (1.0, 2.0) and achieved == pytest.approx(0.5)


def test_median_ci_reaches_99_percent_from_eight_samples() -> None:
    """n = 7 cannot reach 99 % (0.984); n = 8 first can (1 - 2/256 = 0.992), with [min, max]."""
    for n in (7, 8):
        lo, hi, achieved = median_ci(np.arange(n, dtype=float))
        assert (lo, hi) == (0.0, n - 1.0)
        assert (achieved >= 0.99) == (n == 8)
    lo, hi, _ = median_ci(np.arange(40, dtype=float))
    j = int(lo)
    assert j > 0 and hi == 39 - j and _coverage(40, j) >= 0.99 > _coverage(40, j + 1)


def test_summarize_fields() -> None:
    s = summarize([4.0, 1.0, np.nan, 2.0, 3.0, np.inf])
    assert s.n == 4 and s.median == 2.5 and s.min == 1.0 and s.max == 4.0
    assert s.mean == 2.5 and s.std == pytest.approx(np.std([1, 2, 3, 4], ddof=1))
    assert s.iqr == pytest.approx(1.5) and s.rel_iqr == pytest.approx(0.6)
    assert (s.ci_low, s.ci_high) == (1.0, 4.0) and s.ci_level == pytest.approx(0.875)
    one = summarize([5.0])
    assert one.n == 1 and one.std == 0.0 and one.median == 5.0 and math.isnan(one.ci_low)
    empty = summarize([np.nan])
    assert empty.n == 0 and math.isnan(empty.median) and empty.ci_level == 0.0
    assert all(math.isnan(getattr(empty, f)) for f in ("mean", "std", "min", "max", "iqr"))
    assert summarize([0.0, 0.0]).rel_iqr == math.inf
    assert s.as_dict()["median"] == 2.5


# -- analysis._compare ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "ratio, lo, hi, significant, verdict",
    [
        # significant and the CI above 1: slower from exactly 1 + t up
        (UP, 1.01, 1.2, True, "slower"),
        (_below(UP), 1.01, 1.2, True, "same"),
        (1.2, _above(1.0), 1.3, True, "slower"),
        # lo == 1 is not "excludes 1": the CI test decides (inside the band -> same)
        (1.02, 1.0, 1.04, True, "same"),
        (1.2, 1.0, 1.3, True, "ambiguous"),
        # significant and the CI below 1: faster from exactly 1 / (1 + t) down
        (DOWN, 0.8, 0.99, True, "faster"),
        (_above(DOWN), 0.8, 0.99, True, "same"),
        (0.8, 0.7, _below(1.0), True, "faster"),
        (0.98, 0.96, 1.0, True, "same"),
        (0.8, 0.7, 1.0, True, "ambiguous"),
        # not significant: same only if the whole CI is inside [1/(1+t), 1+t], edges included
        (1.0, DOWN, UP, False, "same"),
        (1.0, _below(DOWN), UP, False, "ambiguous"),
        (1.0, DOWN, _above(UP), False, "ambiguous"),
        (1.1, 0.997, 1.23, False, "ambiguous"),  # the case (p = 0.003 at alpha 0.002)
        (0.95, 0.80, 1.01, False, "ambiguous"),
        # non-finite numbers say nothing
        (math.nan, 0.9, 1.1, False, "ambiguous"),
        (1.0, math.nan, 1.1, True, "ambiguous"),
        (1.0, 0.9, math.inf, False, "ambiguous"),
    ],
)
def test_verdict_at_every_edge(
    ratio: float, lo: float, hi: float, significant: bool, verdict: str
) -> None:
    assert _verdict(ratio, lo, hi, significant, T) == verdict


def test_verdict_threshold_is_used() -> None:
    assert _verdict(1.15, 1.1, 1.2, True, 0.2) == "same"
    assert _verdict(1.15, 1.1, 1.2, True, 0.1) == "slower"
    assert _verdict(1.0, 0.85, 1.18, False, 0.2) == "same"


def test_mwu_can_reach_is_strict() -> None:
    """The smallest two-sided p of 2 vs 2 samples is 2 / C(4, 2) = 1/3."""
    assert not mwu_can_reach(2, 2, 1 / 3)
    assert mwu_can_reach(2, 2, _above(1 / 3))
    assert not mwu_can_reach(5, 5, 2 / 252) and mwu_can_reach(5, 5, _above(2 / 252))


def test_the_rank_test_needs_three_samples_on_each_side() -> None:
    base, cand = [1.0, 1.1, 1.2], [2.0, 2.1, 2.2]
    r = compare_samples(base, cand, alpha=0.5)
    assert r["test"] == "mann-whitney" and r["significant"]
    assert r["ratio"] == pytest.approx(2.1 / 1.1)
    assert r["p_value"] == pytest.approx(0.1) and r["verdict"] == "slower"
    for b, c in ((base[:2], cand), (base, cand[:2])):
        assert compare_samples(b, c, alpha=0.5)["test"] == "ci-overlap"


def test_significance_is_p_strictly_below_alpha() -> None:
    base, cand = [1.0, 1.1, 1.2], [2.0, 2.1, 2.2]  # complete separation: p = 2 / C(6, 3) = 0.1
    assert compare_samples(base, cand, alpha=_above(0.1))["significant"]
    assert not compare_samples(base, cand, alpha=0.1)["test"] == "mann-whitney"  # cannot reach


def test_ci_overlap_fallback_edges() -> None:
    """Touching intervals overlap (not significant); the ratio CI is cand/base crossed."""
    r = compare_samples(None, None, base_summary=(1.0, 0.9, 1.1), cand_summary=(1.2, 1.1, 1.3))
    assert not r["significant"] and r["test"] == "ci-overlap"
    assert r["ratio"] == pytest.approx(1.2)
    assert r["ratio_ci_low"] == pytest.approx(1.1 / 1.1)
    assert r["ratio_ci_high"] == pytest.approx(1.3 / 0.9)
    r = compare_samples(
        None, None, base_summary=(1.0, 0.9, 1.1), cand_summary=(1.2, _above(1.1), 1.3)
    )
    assert r["significant"] and r["verdict"] == "slower"
    r = compare_samples(
        None, None, base_summary=(1.0, 0.9, 1.1), cand_summary=(0.8, 0.7, _below(0.9))
    )
    assert r["significant"] and r["verdict"] == "faster"
    zero = compare_samples(None, None, base_summary=(0.0, 0.0, 0.0), cand_summary=(1, 1, 1))
    assert zero["verdict"] == "ambiguous" and math.isnan(zero["ratio"])


# -- analysis._steps --------------------------------------------------------------------------
def _stepped(n: int, at: int, ratio: float = 1.5, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = np.where(np.arange(n) < at, 1.0, ratio)
    return y * np.exp(rng.normal(0, 0.002, n))


@pytest.mark.parametrize("min_size", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("kind", ["huber", "l1"])
def test_fit_segments_allows_a_step_at_exactly_min_size(min_size: int, kind: str) -> None:
    n = 4 * min_size + 3
    for at in (min_size, n - min_size):  # the first and the last allowed index
        z = np.where(np.arange(n) < at, 0.0, 100.0)
        assert fit_segments(z, np.ones(n), 10.0, min_size, kind) == [at], (at, min_size)
    # exactly 2 * min_size points: one split, in the middle
    z = np.r_[np.zeros(min_size), np.full(min_size, 100.0)]
    assert fit_segments(z, np.ones(2 * min_size), 10.0, min_size, kind) == [min_size]
    # one point fewer: no split is allowed at all
    assert fit_segments(z[1:], np.ones(2 * min_size - 1), 10.0, min_size, kind) == []


@pytest.mark.parametrize("min_size", [2, 3, 4])
def test_fit_segments_never_makes_a_level_shorter_than_min_size(min_size: int) -> None:
    """A step one point before the first allowed index moves to it (or disappears)."""
    n = 20
    z = np.where(np.arange(n) < min_size - 1, 0.0, 100.0)
    cps = fit_segments(z, np.ones(n), 10.0, min_size, "huber")
    bounds = [0, *cps, n]
    assert all(b - a >= min_size for a, b in zip(bounds, bounds[1:], strict=False))


@pytest.mark.parametrize("min_size", [3, 4])
def test_detect_steps_at_the_first_and_last_allowed_index(min_size: int) -> None:
    n = 24
    for at in (min_size, n - min_size):
        steps = detect_steps(_stepped(n, at), min_size=min_size)
        assert [s.index for s in steps] == [at], at
        s = steps[0]
        assert s.ratio == pytest.approx(1.5, rel=0.01) and s.ci_low < 1.5 < s.ci_high
        assert (s.n_before, s.n_after) == (at, n - at)


def test_detect_steps_on_exactly_twice_min_size_points() -> None:
    steps = detect_steps(_stepped(6, 3), min_size=3)
    assert [s.index for s in steps] == [3]
    assert detect_steps(_stepped(5, 3), min_size=3) == []


def test_detect_steps_threshold_edge() -> None:
    """A clean 10 % step is reported at threshold 9 % and not at 11 %."""
    y = _stepped(30, 15, ratio=1.10)
    assert [s.index for s in detect_steps(y, threshold=0.09)] == [15]
    assert detect_steps(y, threshold=0.11) == []


def test_l1_segment_cost_is_around_the_weighted_median() -> None:
    from accel_toolkit.analysis._steps import _segment_costs

    cost = _segment_costs(np.array([0.0, 1.0, 10.0]), np.ones(3))
    assert cost[0, 3] == pytest.approx(10.0)  # |0 - 1| + |10 - 1|
    assert cost[1, 3] == pytest.approx(9.0) and cost[0, 1] == 0.0
    weighted = _segment_costs(np.array([0.0, 1.0, 10.0]), np.array([1.0, 1.0, 5.0]))
    assert weighted[0, 3] == pytest.approx(19.0)  # around the weighted median, 10


def test_huber_and_l1_costs_differ_on_a_single_outlier() -> None:
    """One point 10 units off: its squared cost (~92) pays for two steps (2 x 20), its
    absolute cost (~10) does not."""
    z = np.r_[np.zeros(6), 10.0, np.zeros(5)]
    assert fit_segments(z, np.ones(12), 20.0, 1, "huber") == [6, 7]
    assert fit_segments(z, np.ones(12), 20.0, 1, "l1") == []


def test_ci_weights_at_their_edges() -> None:
    """Full weight up to twice the median CI width, 2 * median / width beyond, floor 1/4."""
    y = np.ones(8)
    widths = np.array([1, 1, 1, 1, 2, 4, 10, 1.0]) * 0.02
    w = _weights(y, np.exp(-widths / 2), np.exp(widths / 2))
    np.testing.assert_allclose(w, [1, 1, 1, 1, 1, 0.5, 0.25, 1], rtol=1e-9)
    assert np.all(_weights(y, None, None) == 1)
    few = np.full(8, np.nan)
    few[:3] = 0.9  # three finite CIs: fewer than n // 2 + 1 -> no weighting
    assert np.all(_weights(y, few, np.full(8, 1.1)) == 1)


# -- store import semantics -------------------------------------------------------------------
def _row(run_id: str, rid: str, median: float) -> dict:
    return {
        "result_id": rid,
        "run_id": run_id,
        "kernel": "softmax",
        "params": {"rows": 4},
        "config_key": f"key-{rid}",
        "dtype": "float32",
        "backend": "cpu",
        "venue": "process",
        "device": "cpu0",
        "median_s": median,
        "ci_low_s": median * 0.9,
        "ci_high_s": median * 1.1,
        "n_samples": 3,
        "status": "ok",
    }


def _status(store: Store, run_id: str) -> str:
    return str(store.query("SELECT status FROM runs WHERE run_id = ?", [run_id]).iloc[0, 0])


def test_import_of_an_older_and_a_newer_export_of_the_same_run(tmp_path: Path) -> None:
    src = Store(tmp_path / "src.duckdb")
    run = src.start_run(tag="t", run_id="run1")
    src.add_result(_row(run, "r1", 1.0), samples=[1.0, 1.1, 0.9])
    src.export_parquet(tmp_path / "older")  # mid-run: status running, one result
    src.add_result(_row(run, "r2", 2.0), samples=[2.0, 2.1, 1.9])
    src.finish_run(run)
    src.export_parquet(tmp_path / "newer")  # complete, two results

    dst = Store(tmp_path / "dst.duckdb")
    added = dst.import_parquet(tmp_path / "newer")
    assert added["runs"] == 1 and added["measurements"] == 2 and added["samples"] == 6
    assert _status(dst, run) == "complete"
    again = dst.import_parquet(tmp_path / "older")  # an older export must not undo anything
    assert again["runs"] == 0 and again["measurements"] == 0 and again["samples"] == 0
    assert _status(dst, run) == "complete"
    assert dst.count("measurements") == 2 and dst.count("samples") == 6
    finished = dst.query("SELECT finished_at FROM runs").iloc[0, 0]
    assert finished is not None and str(finished) != "NaT"

    old_first = Store(tmp_path / "old_first.duckdb")
    old_first.import_parquet(tmp_path / "older")
    assert _status(old_first, run) == "running" and old_first.count("measurements") == 1
    added = old_first.import_parquet(tmp_path / "newer")  # the newer export adds what is new
    assert added["measurements"] == 1 and added["samples"] == 3 and added["runs"] == 0
    assert old_first.count("measurements") == 2
    assert _status(old_first, run) == "complete"  # and finishes the run


# -- the gate with a moderate slowdown --------------------------------------------------------
def _gate_store(path: Path, slowdown: float, sigma: float = 0.02, n: int = 30) -> Path:
    """Two tagged runs of three configurations; the candidate's first is ``slowdown`` slower."""
    store = Store(path)
    rng = np.random.default_rng(1)
    for tag, factor in (("base", 1.0), ("cand", slowdown)):
        run = store.start_run(tag=tag)
        for i, med in enumerate((1e-4, 3e-4, 1e-3)):
            f = factor if i == 0 else 1.0
            samples = med * f * np.exp(rng.normal(0, sigma, n))
            s = summarize(samples)
            row = _row(run, f"{tag}-{i}", s.median)
            row.update(config_key=f"k{i}", ci_low_s=s.ci_low, ci_high_s=s.ci_high, n_samples=n)
            store.add_result(row, samples=samples)
        store.finish_run(run)
    return path


def _check(db: Path, *extra: str) -> tuple[int, str]:
    from accel_toolkit.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(["check", "--db", str(db), "--baseline", "base", "--candidate", "cand", *extra])
    return rc, out.getvalue()


@pytest.mark.parametrize("slowdown", [1.10, 1.15, 1.20])
def test_gate_fails_on_a_moderate_slowdown(tmp_path: Path, slowdown: float) -> None:
    rc, out = _check(_gate_store(tmp_path / "g.duckdb", slowdown))
    assert rc == 1, out
    assert "1 configuration(s) slower by more than 5%" in out


def test_gate_passes_a_slowdown_below_its_threshold_and_no_change(tmp_path: Path) -> None:
    db = _gate_store(tmp_path / "g.duckdb", 1.15)
    rc, out = _check(db, "--threshold", "20%")
    assert rc == 0, out
    rc, out = _check(_gate_store(tmp_path / "same.duckdb", 1.0))
    assert rc == 0, out


def test_store_count_and_import_errors_name_what_to_do(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.duckdb")
    assert store.count("results") == 0 and store.count() == 0
    with pytest.raises(StoreError, match="unknown table 'bogus'"):
        store.count("bogus")
    (tmp_path / "empty").mkdir()
    with pytest.raises(StoreError, match="holds none of environments.parquet, runs.parquet"):
        store.import_parquet(tmp_path / "empty")


# -- tests written for mutants that survived (docs/testing.md) --------------------------------
def test_p_equal_to_alpha_is_not_significant() -> None:
    base, cand = [1.0, 1.1, 1.2, 1.35], [1.3, 1.4, 1.5, 1.6]  # one overlap: p = 4/70
    p = compare_samples(base, cand, alpha=0.5)["p_value"]
    assert p == pytest.approx(4 / 70)
    assert not compare_samples(base, cand, alpha=p)["significant"]
    assert compare_samples(base, cand, alpha=_above(p))["significant"]


def test_bootstrap_and_compare_seeds() -> None:
    from accel_toolkit.analysis import ratio_ci_bootstrap

    rng = np.random.default_rng(3)
    b, c = rng.lognormal(0, 0.1, 30), rng.lognormal(0.1, 0.1, 30)
    assert ratio_ci_bootstrap(b, c) == ratio_ci_bootstrap(b, c, seed=0)
    assert ratio_ci_bootstrap(b, c, seed=1) != ratio_ci_bootstrap(b, c, seed=0)
    lo50, hi50 = ratio_ci_bootstrap(b, c, level=0.5)  # the bootstrap's quartiles
    lo99, hi99 = ratio_ci_bootstrap(b, c, level=0.99)
    assert lo99 < lo50 < hi50 < hi99


def test_compare_passes_its_seed_on(tmp_path: Path) -> None:
    from accel_toolkit.analysis import compare

    db = _gate_store(tmp_path / "g.duckdb", 1.15)
    one = compare(db, baseline="base", candidate="cand", seed=1)
    assert (
        one["ratio_ci_low"].tolist()
        == compare(db, baseline="base", candidate="cand", seed=1)["ratio_ci_low"].tolist()
    )
    assert (
        one["ratio_ci_low"].tolist()
        != compare(db, baseline="base", candidate="cand", seed=2)["ratio_ci_low"].tolist()
    )
    wide = compare(db, baseline="base", candidate="cand", seed=1, level=0.999)
    assert (wide["ratio_ci_low"] < one["ratio_ci_low"]).all()


def _frames(*rows: tuple[str, str, float]) -> pd.DataFrame:
    out = []
    for i, (tag, key, median) in enumerate(rows):
        out.append(
            {
                "tag": tag,
                "run_id": f"run-{tag}",
                "result_id": f"r{i}",
                "config_key": key,
                "backend": "cpu",
                "venue": "process",
                "device": "cpu0",
                "kernel": "matmul",
                "params": {"M": i},
                "dtype": "float32",
                "median_s": median,
                "ci_low_s": median * 0.99,
                "ci_high_s": median * 1.01,
                "status": "ok",
                "created_at": pd.Timestamp("2026-01-01", tz="UTC"),
            }
        )
    return pd.DataFrame(out)


def test_compare_frames_orders_verdicts_and_keeps_one_sided_ids() -> None:
    from accel_toolkit.analysis import compare_frames
    from accel_toolkit.exceptions import ConfigError

    rows = _frames(
        ("a", "same", 1.0),
        ("b", "same", 1.0),
        ("a", "fast", 1.0),
        ("b", "fast", 0.5),
        ("a", "slow", 1.0),
        ("b", "slow", 1.5),
        ("a", "slow2", 1.0),
        ("b", "slow2", 3.0),
        ("a", "gone", 1.0),
        ("b", "new", 1.0),
    )
    df = compare_frames(rows, None, baseline="a", candidate="b")
    assert df["verdict"].tolist() == ["slower", "slower", "faster", "same", "missing", "missing"]
    new = df[df["config_key"] == "new"].iloc[0]
    assert new["candidate_result_id"] == "r9" and pd.isna(new["baseline_result_id"])
    assert df["ratio"].iloc[0] == pytest.approx(3.0)  # the larger slowdown first
    gone = df[df["verdict"] == "missing"].iloc[0]
    assert gone["baseline_result_id"] == "r8" and gone["n_candidate"] == 0
    assert gone["n_baseline"] == 0 and pd.isna(gone["candidate_result_id"])
    assert df.iloc[0]["candidate_result_id"] == "r7" and df.attrs["by"] == "tag"
    failed = rows.copy()
    failed.loc[failed["result_id"] == "r8", "status"] = "error"  # only ok rows count
    assert "gone" not in set(
        compare_frames(failed, None, baseline="a", candidate="b")["config_key"]
    )
    with pytest.raises(ConfigError, match="a, b"):
        compare_frames(rows, None, baseline="a", candidate="zzz")
    no_device = rows.assign(device=None)  # a missing identity column still pairs rows
    assert len(compare_frames(no_device, None, baseline="a", candidate="b")) == 6


def test_store_filters_errors_and_exports(tmp_path: Path) -> None:
    from accel_toolkit.store._store import _is_lock_error, corrupt_error

    store = Store(tmp_path / "s.duckdb")
    run = store.start_run(tag="t")
    store.add_result(_row(run, "r1", 1.0))
    store.add_result(
        {**_row(run, "r2", 2.0), "kernel": "gelu", "backend": "wgpu", "status": "error"}
    )
    assert store.results(status="error")["result_id"].tolist() == ["r2"]
    assert store.results(kernels=["gelu"])["result_id"].tolist() == ["r2"]
    assert store.results(backends=["cpu"])["result_id"].tolist() == ["r1"]
    assert store.results(run_ids=[run])["result_id"].tolist() == ["r1", "r2"]
    assert store.results(run_ids=["nope"]).empty
    assert store.results(kernels=["gelu", "softmax"])["result_id"].tolist() == ["r1", "r2"]
    assert store.samples([]).columns.tolist() == ["result_id", "idx", "seconds"]
    store.add_environment({"cores_available": 3, "memory_bytes": 5, "os": "x"}, "env1")
    env = store.environments().set_index("env_id").loc["env1"]
    assert (env["cores"], env["memory_bytes"], env["os"]) == (3, 5, "x")
    with pytest.raises(StoreError, match=r"unknown measurement column\(s\): \['bogus'\]"):
        store.add_result({**_row(run, "r3", 1.0), "bogus": 1})
    with_settings = store.start_run(tag="s", settings={"budget": 0.5}, seed=7)
    runs = store.runs().set_index("run_id")
    assert json.loads(runs.loc[with_settings, "settings"]) == {"budget": 0.5}
    assert runs.loc[with_settings, "seed"] == 7 and runs.loc[with_settings, "status"] == "running"
    v = store.verify().set_index("table")
    assert v.loc["measurements", "rows"] == 2 and v.loc["runs", "rows"] == 2 and v["ok"].all()
    paths = store.export_parquet(tmp_path / "deep" / "er" / "folder")
    assert {p.name for p in paths} >= {"runs.parquet", "measurements.parquet"}
    assert _is_lock_error(RuntimeError("IO Error: Conflicting lock is held in /x.duckdb"))
    assert _is_lock_error(RuntimeError("Could not set lock on file /x.duckdb"))
    assert not _is_lock_error(RuntimeError("conflicting values"))
    err = str(corrupt_error(Path("/x.duckdb"), RuntimeError("first line\nsecond line")))
    assert "(first line)" in err and "second line" not in err
    assert "(KeyError)" in str(corrupt_error(Path("/x.duckdb"), KeyError()))


def test_verify_names_the_damaged_table_with_duckdbs_message(tmp_path: Path) -> None:
    from test_sweep_defects import _damaged_copy

    bad = _damaged_copy(tmp_path)
    v = Store(bad).verify().set_index("table")
    assert not v.loc["samples", "ok"] and v.loc["runs", "ok"] and v.loc["runs", "rows"] == 1
    error = str(v.loc["samples", "error"])
    assert "Restore it from a backup" not in error and "\n" not in error  # DuckDB's own line
