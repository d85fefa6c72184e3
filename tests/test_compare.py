"""Comparing two sets of results: verdicts, the CI-overlap fallback, the store front end."""

from __future__ import annotations

import importlib
import math
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

import accel_toolkit as at
from accel_toolkit.analysis import (
    compare,
    compare_chart,
    compare_frames,
    compare_samples,
    ratio_ci_bootstrap,
)
from accel_toolkit.exceptions import ConfigError


def _lognormal(n: int, median: float, sigma: float, seed: int) -> np.ndarray:
    return median * np.exp(np.random.default_rng(seed).normal(0, sigma, n))


def test_analysis_all_is_sorted_and_complete():
    mod = importlib.import_module("accel_toolkit.analysis")
    assert list(mod.__all__) == sorted(mod.__all__)
    assert all(hasattr(mod, m) for m in mod.__all__)


def test_identical_distributions_are_same():
    r = compare_samples(_lognormal(200, 1e-3, 0.02, 1), _lognormal(200, 1e-3, 0.02, 2))
    assert r["verdict"] == "same"
    assert r["test"] == "mann-whitney" and not r["significant"]
    assert r["ratio_ci_low"] < 1 < r["ratio_ci_high"]


@pytest.mark.parametrize("shift, verdict", [(1.2, "slower"), (1 / 1.2, "faster")])
def test_shifted_distributions(shift, verdict):
    r = compare_samples(_lognormal(100, 1e-3, 0.05, 1), _lognormal(100, 1e-3 * shift, 0.05, 2))
    assert r["verdict"] == verdict
    assert r["p_value"] < 0.002
    assert r["ratio_ci_low"] < shift < r["ratio_ci_high"]
    assert abs(r["ratio"] / shift - 1) < 0.03


def test_significant_but_below_threshold_is_same():
    r = compare_samples(
        _lognormal(500, 1e-3, 0.005, 1), _lognormal(500, 1.02e-3, 0.005, 2), threshold=0.05
    )
    assert r["significant"] and r["ratio_ci_low"] > 1
    assert r["verdict"] == "same"
    r = compare_samples(
        _lognormal(500, 1e-3, 0.005, 1), _lognormal(500, 1.02e-3, 0.005, 2), threshold=0.01
    )
    assert r["verdict"] == "slower"


def test_too_noisy_is_ambiguous():
    r = compare_samples(_lognormal(5, 1e-3, 0.4, 1), _lognormal(5, 1.1e-3, 0.4, 2))
    assert r["verdict"] == "ambiguous" and not r["significant"]


def test_bootstrap_ci_is_reproducible_and_covers():
    b, c = _lognormal(300, 1.0, 0.1, 3), _lognormal(300, 1.5, 0.1, 4)
    lo, hi = ratio_ci_bootstrap(b, c, seed=5)
    assert (lo, hi) == ratio_ci_bootstrap(b, c, seed=5)
    assert lo < 1.5 < hi and hi / lo < 1.1


def _frame(tag: str, median: float, low: float, high: float, rid: str) -> dict:
    return {
        "tag": tag,
        "run_id": f"run-{tag}",
        "result_id": rid,
        "config_key": "k1",
        "backend": "cpu",
        "venue": "process",
        "device": "cpu0",
        "kernel": "matmul",
        "params": {"M": 8},
        "dtype": "float32",
        "median_s": median,
        "ci_low_s": low,
        "ci_high_s": high,
        "status": "ok",
        "created_at": pd.Timestamp("2026-01-01", tz="UTC"),
    }


def test_without_samples_the_ci_overlap_fallback_is_used_and_recorded():
    rows = pd.DataFrame([_frame("a", 1.0, 0.95, 1.05, "r1"), _frame("b", 1.3, 1.2, 1.4, "r2")])
    df = compare_frames(rows, None, baseline="a", candidate="b")
    r = df.iloc[0]
    assert r["test"] == "ci-overlap" and np.isnan(r["p_value"])
    assert r["verdict"] == "slower" and r["n_baseline"] == 0
    assert r["ratio_ci_low"] == pytest.approx(1.2 / 1.05)
    assert r["ratio_ci_high"] == pytest.approx(1.4 / 0.95)
    overlapping = pd.DataFrame(
        [_frame("a", 1.0, 0.9, 1.1, "r1"), _frame("b", 1.02, 0.95, 1.12, "r2")]
    )
    r = compare_frames(overlapping, None, baseline="a", candidate="b").iloc[0]
    assert r["test"] == "ci-overlap" and not r["significant"] and r["verdict"] != "slower"


def test_each_row_carries_both_sides_and_the_settings():
    base = {**_frame("a", 1.0, 0.95, 1.05, "r1"), "round_spread": 0.02}
    cand = {**_frame("b", 1.3, 1.2, 1.4, "r2"), "round_spread": 0.04}
    samples = pd.DataFrame(
        {
            "result_id": ["r1"] * 40 + ["r2"] * 50,
            "seconds": np.r_[_lognormal(40, 1.0, 0.02, 1), _lognormal(50, 1.3, 0.02, 2)],
        }
    )
    df = compare_frames(
        pd.DataFrame([base, cand]), samples, baseline="a", candidate="b", alpha=0.01
    )
    r = df.iloc[0]
    assert (r["kernel"], r["dtype"], r["params"]) == ("matmul", "float32", '{"M": 8}')
    assert (r["baseline_median_s"], r["candidate_median_s"]) == (1.0, 1.3)
    assert (r["n_baseline"], r["n_candidate"]) == (40, 50)
    assert (r["baseline_round_spread"], r["candidate_round_spread"]) == (0.02, 0.04)
    assert r["test"] == "mann-whitney" and r["verdict"] == "slower"
    assert df.attrs == {
        "baseline": "a",
        "candidate": "b",
        "by": "tag",
        "alpha": 0.01,
        "threshold": 0.05,
        "level": 0.99,
    }


def test_compare_on_a_store_matches_compare_frames_on_its_rows(tmp_path):
    st = at.Store(tmp_path / "s.duckdb")
    for tag, median, seed in (("a", 1.0, 1), ("b", 1.02, 2)):
        run = st.start_run(tag=tag)
        x = _lognormal(60, median, 0.05, seed)
        row = {
            "run_id": run,
            "config_key": "k1",
            "kernel": "matmul",
            "params": {"M": 8},
            "dtype": "float32",
            "backend": "cpu",
            "venue": "process",
            "status": "ok",
            "median_s": float(np.median(x)),
            "ci_low_s": float(np.quantile(x, 0.4)),
            "ci_high_s": float(np.quantile(x, 0.6)),
        }
        st.add_result(row, samples=x)
    df = compare(st, baseline="a", candidate="b")
    results = st.results()
    expected = compare_frames(
        results, st.samples(results["result_id"].tolist()), baseline="a", candidate="b"
    )
    pd.testing.assert_frame_equal(df, expected)
    assert df["ratio_ci_low"].iloc[0] < df["ratio"].iloc[0] < df["ratio_ci_high"].iloc[0]


def test_one_sided_configuration_is_missing():
    rows = pd.DataFrame([_frame("a", 1.0, 0.95, 1.05, "r1"), _frame("b", 1.0, 0.95, 1.05, "r2")])
    rows.loc[1, "config_key"] = "k2"
    df = compare_frames(rows, None, baseline="a", candidate="b")
    assert sorted(df["verdict"]) == ["missing", "missing"]


def test_by_must_be_known():
    rows = pd.DataFrame([_frame("a", 1.0, 0.95, 1.05, "r1")])
    with pytest.raises(ConfigError, match="by must be one of"):
        compare_frames(rows, None, baseline="a", candidate="b", by="colour")


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    db = tmp_path_factory.mktemp("cmp") / "cmp.duckdb"
    for tag in ("one", "two"):
        at.bench("add_mul_relu", "cpu", db=str(db), tag=tag, time_budget=0.1, progress=False)
    return db


def test_compare_on_a_real_store(two_runs):
    df = compare(two_runs, baseline="one", candidate="two")
    assert len(df) == 2
    assert set(df["test"]) == {"mann-whitney"}
    assert (df["n_baseline"] >= 3).all() and (df["n_candidate"] >= 3).all()
    assert df["verdict"].isin(["same", "slower", "faster", "ambiguous"]).all()
    assert (df["ratio_ci_low"] <= df["ratio"]).all() and (df["ratio"] <= df["ratio_ci_high"]).all()
    assert df.attrs["baseline"] == "one" and df.attrs["by"] == "tag"
    spec = compare_chart(df).to_dict()
    assert (
        spec["layer"] and "one" in spec["title"]["text"]
        if isinstance(spec["title"], dict)
        else spec["title"]
    )


def test_compare_unknown_tag_lists_present_tags(two_runs):
    with pytest.raises(ConfigError, match="one, two"):
        compare(two_runs, baseline="one", candidate="three")


def test_compare_run_against_itself_finds_no_change(two_runs):
    run = at.Store(two_runs).runs()["run_id"].iloc[0]
    df = compare(two_runs, baseline=run, candidate=run, by="run_id")
    assert (df["ratio"] == 1).all() and (df["p_value"] == 1).all()
    # tiny kernels with ~10 noisy samples: "same" only if the CI is inside +-5 %
    expected = np.where(
        (df["ratio_ci_low"] >= 1 / 1.05) & (df["ratio_ci_high"] <= 1.05), "same", "ambiguous"
    )
    assert list(df["verdict"]) == list(expected)


@pytest.mark.wgpu
def test_compare_two_backends_pairs_configurations_across_devices(tmp_path):
    from accel_toolkit.backends import doctor

    wgpu = doctor(["wgpu"])[0]
    if not wgpu.available:
        pytest.skip(f"wgpu backend unavailable: {wgpu.reason}")
    db = tmp_path / "be.duckdb"
    at.bench("add_mul_relu", "cpu,wgpu", db=str(db), time_budget=0.1, progress=False)
    df = compare(db, baseline="cpu", candidate="wgpu", by="backend")
    assert len(df) == 2 and "missing" not in set(df["verdict"])
    assert set(df["test"]) == {"mann-whitney"}


def test_too_few_samples_for_the_rank_test_fall_back_to_cis():
    from accel_toolkit.analysis._compare import mwu_can_reach

    assert not mwu_can_reach(3, 10, 0.002) and mwu_can_reach(10, 10, 0.002)
    base = _lognormal(10, 1e-3, 0.02, 1)
    cand = _lognormal(3, 1.0, 0.02, 2)  # 1000x slower, but only 3 samples
    r = compare_samples(base, cand)
    assert r["test"] == "ci-overlap" and r["significant"] and r["verdict"] == "slower"


def test_compare_keeps_to_the_kernels_asked_for(tmp_path):
    # mutant of the out-of-sample run of 2026-12-05 (seed 1205), see docs/testing.md
    st = at.Store(tmp_path / "s.duckdb")
    for tag, median, seed in (("a", 1.0, 1), ("b", 1.02, 2)):
        run = st.start_run(tag=tag)
        for kernel in ("matmul", "softmax"):
            x = _lognormal(30, median, 0.05, seed)
            row = {
                "run_id": run,
                "config_key": f"{kernel}-k1",
                "kernel": kernel,
                "params": {"M": 8},
                "dtype": "float32",
                "backend": "cpu",
                "venue": "process",
                "status": "ok",
                "median_s": float(np.median(x)),
            }
            st.add_result(row, samples=x)
    assert sorted(compare(st, baseline="a", candidate="b")["kernel"]) == ["matmul", "softmax"]
    assert compare(st, baseline="a", candidate="b", kernels=["softmax"])["kernel"].tolist() == [
        "softmax"
    ]


# -- mutants of the out-of-sample run of 2026-12-05 (seed 1206), see docs/testing.md ----------
def test_a_commit_prefix_never_matches_rows_without_a_commit():
    rows = pd.DataFrame(
        [
            {**_frame("a", 1.0, 0.95, 1.05, "r1"), "git_commit": "abc123"},
            {**_frame("b", 1.3, 1.2, 1.4, "r2"), "git_commit": "def456"},
            {**_frame("c", 9.0, 8.0, 10.0, "r3"), "git_commit": None},
        ]
    )
    r = compare_frames(rows, None, baseline="abc", candidate="def", by="git_commit").iloc[0]
    assert r["baseline_median_s"] == 1.0 and r["ratio"] == pytest.approx(1.3)


def test_an_unknown_tag_lists_the_tags_and_counts_the_rest():
    rows = pd.DataFrame([_frame("a", 1.0, 0.95, 1.05, "r1"), _frame("b", 1.3, 1.2, 1.4, "r2")])
    with pytest.raises(ConfigError) as err:
        compare_frames(rows, None, baseline="a", candidate="zzz")
    assert "tag values present: a, b. Pick" in str(err.value)
    many = pd.DataFrame([_frame(f"t{i:02d}", 1.0, 0.95, 1.05, f"r{i}") for i in range(31)])
    with pytest.raises(ConfigError, match=r"t29 and 1 more\. Pick"):
        compare_frames(many, None, baseline="t00", candidate="zzz")


def test_compare_frames_passes_n_boot_to_the_bootstrap():
    samples = pd.DataFrame(
        {
            "result_id": ["r1"] * 40 + ["r2"] * 40,
            "seconds": np.r_[_lognormal(40, 1.0, 0.05, 1), _lognormal(40, 1.1, 0.05, 2)],
        }
    )
    rows = pd.DataFrame([_frame("a", 1.0, 0.95, 1.05, "r1"), _frame("b", 1.1, 1.0, 1.2, "r2")])
    b, c = (samples["seconds"][samples["result_id"] == r].to_numpy() for r in ("r1", "r2"))
    for n_boot in (300, 2000):
        r = compare_frames(rows, samples, baseline="a", candidate="b", n_boot=n_boot).iloc[0]
        expected = ratio_ci_bootstrap(b, c, level=0.99, n_boot=n_boot, seed=0)
        assert (r["ratio_ci_low"], r["ratio_ci_high"]) == pytest.approx(expected, rel=1e-12)


def test_bootstrap_ci_width_matches_the_asymptotic_width_of_a_median_ratio():
    # log(median) of n lognormal(0, s) samples has variance about (pi / 2) s^2 / n, so the
    # central 50 % interval of the log ratio is 2 x 0.674 x sqrt(2 x that) wide
    n, s = 400, 0.2
    half = NormalDist().inv_cdf(0.75) * math.sqrt(2 * (math.pi / 2) * s * s / n)
    widths = []
    for seed in range(4):
        b, c = _lognormal(n, 1.0, s, 10 + seed), _lognormal(n, 1.0, s, 20 + seed)
        lo, hi = ratio_ci_bootstrap(b, c, level=0.5, n_boot=4000, seed=seed)
        widths.append(math.log(hi / lo))
    assert np.mean(widths) == pytest.approx(2 * half, rel=0.15)
