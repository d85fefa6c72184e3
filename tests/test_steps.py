"""The step detector on synthetic histories, and regressions over a real store's history."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pytest

import accel_toolkit as at
from accel_toolkit.analysis import (
    detect_regressions,
    detect_steps,
    find_steps,
    history_chart_with_steps,
    load_history,
    regression_chart,
    regressions_section,
    synthetic_history,
)
from accel_toolkit.backends._base import Measurement
from accel_toolkit.backends._cpu import CpuBackend
from accel_toolkit.backends._pool import BackendPool
from accel_toolkit.exceptions import ConfigError
from accel_toolkit.harness import time_callable

REPO = Path(__file__).resolve().parent.parent


def _series(df, name):
    g = df[df["series"] == name]
    return g, dict(
        y=g["median_s"].to_numpy(),
        ci_low=g["ci_low_s"].to_numpy(),
        ci_high=g["ci_high_s"].to_numpy(),
    )


@pytest.mark.parametrize("kind", ["lognormal", "outliers", "bimodal"])
def test_planted_steps_are_found_with_position_and_size(kind):
    sizes = [0.20, -0.15]
    df = synthetic_history(12, 80, steps=sizes, noise=0.02, kind=kind, seed=7)
    for name in df["series"].unique():
        g, kw = _series(df, name)
        y = kw.pop("y")
        found = detect_steps(y, **kw)
        planted = np.flatnonzero(g["step"].to_numpy())
        assert len(found) == 2, (name, planted, found)
        for step, pos, size in zip(found, planted, sizes, strict=True):
            assert abs(step.index - pos) <= 2
            assert step.ratio == pytest.approx(1 + size, rel=0.04)
            assert step.ci_low < step.ratio < step.ci_high
            assert step.kind == ("regression" if size > 0 else "improvement")
            assert step.n_before >= 3 and step.n_after >= 3


def test_no_change_series_give_no_steps():
    df = synthetic_history(30, 100, steps=[], noise=0.03, kind="mixed", seed=11)
    n_steps = 0
    for name in df["series"].unique():
        _, kw = _series(df, name)
        n_steps += len(detect_steps(kw.pop("y"), **kw))
    # target: at most one false alarm per 1,000 points (3,000 points here)
    assert n_steps <= 3


def test_relative_threshold_filters_small_steps():
    df = synthetic_history(1, 60, steps=[0.03], noise=0.003, seed=3)
    y = df["median_s"].to_numpy()
    assert [s.index for s in detect_steps(y, threshold=0.02)] == [
        int(np.flatnonzero(df["step"])[0])
    ]
    assert detect_steps(y, threshold=0.05) == []


def test_outlier_runs_do_not_make_steps():
    y = np.full(40, 1e-3) * np.exp(np.random.default_rng(0).normal(0, 0.01, 40))
    y[[10, 25, 26]] *= 1.5
    assert detect_steps(y) == []


def test_flat_and_short_series():
    assert detect_steps(np.full(30, 2e-3)) == []
    assert detect_steps([1.0, 1.0, 2.0, 2.0]) == []
    with pytest.raises(ConfigError, match="positive"):
        detect_steps([1.0, -1.0, 2.0])


def test_a_step_read_backwards_is_the_inverse_step():
    # levels of unequal length: the CI of the ratio depends on both sizes, symmetrically
    rng = np.random.default_rng(0)
    y = np.r_[np.full(20, 1.0), np.full(10, 1.2)] * np.exp(rng.normal(0, 0.01, 30))
    (fwd,) = detect_steps(y)
    (back,) = detect_steps(y[::-1])
    assert (fwd.index, back.index) == (20, 10)
    assert (fwd.n_before, fwd.n_after) == (back.n_after, back.n_before) == (20, 10)
    assert back.ratio == pytest.approx(1 / fwd.ratio)
    assert back.ci_low == pytest.approx(1 / fwd.ci_high)
    assert back.ci_high == pytest.approx(1 / fwd.ci_low)


def test_a_series_is_never_quieter_than_its_runs_cis_say():
    # runs that agree to 0.1 % but each report a +-5 % CI (99 %): the CIs set the noise
    rng = np.random.default_rng(3)
    y = np.r_[np.full(15, 1.0), np.full(15, 1.3)] * np.exp(rng.normal(0, 0.001, 30))
    (step,) = detect_steps(y, ci_low=0.95 * y, ci_high=1.05 * y)
    assert step.noise == pytest.approx(math.log(1.05 / 0.95) / (2 * NormalDist().inv_cdf(0.995)))
    assert detect_steps(y)[0].noise < step.noise / 10


def test_a_step_after_a_first_level_of_min_size_runs_is_kept():
    # three runs, then a 4 % step whose CI, measured on all three, excludes 1
    rng = np.random.default_rng(4)
    y = np.r_[np.full(3, 1.0), np.full(27, 1.04)] * np.exp(rng.normal(0, 0.01, 30))
    (step,) = detect_steps(y, min_size=3)
    assert (step.index, step.n_before) == (3, 3)
    assert step.ci_low > 1 and step.ratio > 1.02


def test_synthetic_history_validates():
    with pytest.raises(ConfigError, match="kind"):
        synthetic_history(kind="weird")
    with pytest.raises(ConfigError, match="n_points"):
        synthetic_history(n_points=15, steps=[0.1, 0.1])


def test_find_steps_and_charts_on_a_synthetic_frame():
    df = synthetic_history(2, 50, steps=[0.3], noise=0.02, seed=1)
    steps = find_steps(df)
    assert len(steps) == 2 and set(steps["kind"]) == {"regression"}
    assert (steps["ratio_ci_low"] > 1.2).all()
    assert regression_chart(steps).to_dict()["layer"]
    spec = history_chart_with_steps(df, steps, series_key="s0000").to_dict()
    assert len(spec["layer"]) == 4  # CI band, medians, fitted levels, step rules


class _SlowCpu(CpuBackend):
    def measure(self, spec, params, dtype, inputs, settings):  # type: ignore[override]
        outputs = self.run(spec, params, dtype, inputs)

        def call() -> None:
            spec.impl(self._ops, inputs, params)
            time.sleep(0.002)

        return Measurement(
            outputs=outputs,
            timing=time_callable(call, settings),
            device=self.device_info(),
            venue="process",
        )


@pytest.fixture(scope="module")
def history_db(tmp_path_factory):
    """Four real runs of one configuration, then four with a slower kernel."""
    db = tmp_path_factory.mktemp("hist") / "hist.duckdb"
    grid = [{"rows": 4, "cols": 16}]
    for i in range(8):
        at.bench(
            "softmax",
            "cpu",
            grid=grid,
            db=str(db),
            tag=f"r{i}",
            time_budget=0.05,
            progress=False,
            pool=BackendPool(instances={"cpu": _SlowCpu()}) if i >= 4 else None,
        )
    return db


def test_detect_regressions_on_real_history(history_db):
    steps = detect_regressions(history_db)
    assert len(steps) == 1
    s = steps.iloc[0]
    runs = at.Store(history_db).runs().set_index("tag")["run_id"]
    assert s["kind"] == "regression" and s["kernel"] == "softmax" and s["backend"] == "cpu"
    assert s["start_run_id"] == runs["r4"] and s["before_run_id"] == runs["r3"]
    assert s["ratio_ci_low"] > 10
    extra = json.loads(s["extra"])
    assert extra["n_before"] == 4 and extra["n_after"] == 4
    assert extra["before_tag"] == "r3" and extra["after_tag"] == "r4"
    stored = at.Store(history_db).query("SELECT * FROM regressions")
    assert list(stored["regression_id"]) == [s["regression_id"]]
    detect_regressions(history_db)  # re-detection replaces, never duplicates
    assert at.Store(history_db).count("regressions") == 1


def test_series_filter_substring_and_sql(history_db):
    assert load_history(history_db, series_filter="softmax")["run_id"].nunique() == 8
    assert load_history(history_db, series_filter="matmul").empty
    assert (
        len(load_history(history_db, series_filter="kernel = 'softmax' AND backend = 'cpu'")) == 8
    )
    assert detect_regressions(history_db, series_filter="matmul", save=False).empty


def test_regressions_section_for_the_report(history_db):
    steps, charts = regressions_section(history_db, save=False)
    assert len(steps) == 1 and "softmax(cols=16,rows=4)" in steps["config"].iloc[0]
    assert len(charts) == 2
    for c in charts:
        assert c.to_dict()


@pytest.mark.slow
@pytest.mark.notebook
@pytest.mark.parametrize("which", ["empty", "history"])
def test_regressions_notebook_runs(which, history_db, tmp_path):
    papermill = pytest.importorskip("papermill")
    db = tmp_path / "empty.duckdb" if which == "empty" else history_db
    out = tmp_path / "out.ipynb"
    papermill.execute_notebook(
        str(REPO / "notebooks" / "regressions.ipynb"),
        str(out),
        parameters={"db_path": str(db)},
        kernel_name="python3",
        cwd=str(REPO),
    )
    text = out.read_text()
    if which == "empty":
        assert "No results in" in text
    else:
        assert "1 step(s)" in text and "regression" in text


# -- mutants of the out-of-sample run of 2026-12-05 (seed 1205), see docs/testing.md ----------
def test_the_weakest_failing_step_is_pruned_first():
    # two sub-threshold changes (+1.5 % at 12, then +1.0 % at 20) that add up to +2.5 %:
    # pruning drops the weaker one and reports the whole change where the larger one happened
    for seed in range(3):
        rng = np.random.default_rng(seed)
        y = np.repeat([1.0, 1.015, 1.025], [12, 8, 12]) * np.exp(rng.normal(0, 0.002, 32))
        both = detect_steps(y, threshold=0.005)
        assert [s.index for s in both] == [12, 20]
        assert both[0].ratio > both[1].ratio
        (step,) = detect_steps(y, threshold=0.02)
        assert step.index == 12 and step.ratio == pytest.approx(1.025, abs=0.004)


def test_missing_cis_given_as_none_count_as_absent():
    rng = np.random.default_rng(1)
    y = np.repeat([1.0, 1.2], 10) * np.exp(rng.normal(0, 0.01, 20))
    lo, hi = list(y * 0.98), list(y * 1.02)
    lo[3] = hi[3] = None
    nan_lo, nan_hi = list(lo), list(hi)
    nan_lo[3] = nan_hi[3] = float("nan")
    got = detect_steps(y, ci_low=lo, ci_high=hi)
    assert [(s.index, s.ratio) for s in got] == [
        (s.index, s.ratio) for s in detect_steps(y, ci_low=nan_lo, ci_high=nan_hi)
    ]
    assert [s.index for s in got] == [10]


def test_degenerate_cis_raise_no_warnings():
    # a stored CI of [0, 0] (one sample) or [0, x]: no RuntimeWarning reaches the user
    import warnings

    rng = np.random.default_rng(2)
    y = np.repeat([1.0, 1.2], 10) * np.exp(rng.normal(0, 0.01, 20))
    lo, hi = y * 0.98, y * 1.02
    lo[2], hi[2] = 0.0, 0.0
    lo[5] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        steps = detect_steps(y, ci_low=lo, ci_high=hi)
        plain = detect_steps(y)
    assert [s.index for s in steps] == [s.index for s in plain] == [10]


def test_noise_sigma_ignores_a_steady_trend():
    from accel_toolkit.analysis._steps import noise_sigma

    e = np.random.default_rng(3).normal(0, 0.01, 60)
    ramp = np.linspace(0.0, 0.6, 60)  # +0.01 per point, as large as the noise
    assert noise_sigma(ramp + e) == pytest.approx(noise_sigma(e), rel=1e-9)
    assert noise_sigma(e) == pytest.approx(0.01, rel=0.3)


def test_series_too_short_for_two_levels_have_no_steps():
    assert detect_steps([]) == []
    assert detect_steps([1.0]) == []
    assert detect_steps([1.0, 1.0, 1.0, 2.0, 2.0]) == []  # 5 < 2 x min_size
    assert detect_steps([1.0, 1.0, 1.0, 2.0, 2.0, 2.0])[0].index == 3


# -- mutants of the out-of-sample run of 2026-12-05 (seed 1206), see docs/testing.md ----------
def test_huberize_clips_both_sides_to_c_sigma_around_the_running_median():
    from accel_toolkit.analysis._steps import _huberize

    z = np.zeros(11)
    z[3], z[7] = 1.0, -1.0
    out = _huberize(z, sigma=0.1)
    expected = np.zeros(11)
    expected[3], expected[7] = 0.2, -0.2
    np.testing.assert_allclose(out, expected)


def test_ci_weights_need_valid_cis_for_half_the_points():
    from accel_toolkit.analysis._steps import _weights

    y = np.ones(12)
    lo, hi = np.full(12, np.nan), np.full(12, np.nan)
    lo[:5], hi[:5] = 0.99, 1.01
    hi[0] = 1.5  # one run far noisier than the rest
    assert _weights(y, lo, hi).tolist() == [1.0] * 12  # 5 valid CIs of 12: not enough
    lo[5], hi[5] = 0.99, 1.01
    w = _weights(y, lo, hi)  # 6 of 12: the noisy run weighs less
    assert w[0] == pytest.approx(0.25) and (w[1:] == 1.0).all()


def test_a_step_reports_the_medians_on_each_side():
    rng = np.random.default_rng(5)
    y = np.repeat([1.0, 1.3], [9, 11]) * np.exp(rng.normal(0, 0.01, 20))
    (step,) = detect_steps(y)
    assert step.index == 9 and (step.n_before, step.n_after) == (9, 11)
    assert step.before == float(np.median(y[:9])) and step.after == float(np.median(y[9:]))
