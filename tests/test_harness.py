"""The timing harness and its statistics."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from accel_toolkit.exceptions import ConfigError
from accel_toolkit.harness import (
    TimingSettings,
    environment,
    environment_id,
    median_ci,
    summarize,
    time_callable,
)


def test_median_ci_is_distribution_free_and_covers():
    rng = np.random.default_rng(0)
    hits = 0
    trials = 2000
    for _ in range(trials):
        x = rng.lognormal(0.0, 0.5, size=30)  # true median = 1
        lo, hi, level = median_ci(x)
        assert level >= 0.99
        hits += lo <= 1.0 <= hi
    assert hits / trials >= 0.985  # 99% nominal, Monte-Carlo slack


def test_median_ci_small_samples_report_their_real_level():
    lo, hi, level = median_ci(np.array([3.0, 1.0, 2.0]))
    assert (lo, hi) == (1.0, 3.0)
    assert level == pytest.approx(0.75)


def test_summarize_fields():
    s = summarize([1.0, 2.0, 3.0, 4.0, 100.0])
    assert s.median == 3.0 and s.n == 5 and s.min == 1.0 and s.max == 100.0
    assert s.iqr == pytest.approx(2.0)
    assert summarize([]).n == 0


def test_summarize_without_finite_samples_is_nan_not_none():
    # a run whose every sample failed: numeric columns stay numeric (NaN), the level is 0
    for samples in ([], [float("nan"), float("inf")]):
        s = summarize(samples)
        assert s.n == 0 and s.ci_level == 0.0
        values = [s.median, s.ci_low, s.ci_high, s.iqr, s.mean, s.std, s.min, s.max]
        assert all(isinstance(v, float) and math.isnan(v) for v in values)


def test_settings_validate():
    with pytest.raises(ConfigError):
        TimingSettings(min_time=2.0, max_time=1.0)
    s = TimingSettings.from_budget(0.5)
    assert s.max_time == 0.5 and s.min_time <= s.max_time


def test_inner_loop_is_calibrated_for_fast_functions():
    calls = 0

    def f():
        nonlocal calls
        calls += 1

    r = time_callable(
        f, TimingSettings(warmup_time=0.01, target_sample_time=0.002, min_time=0.02, max_time=0.2)
    )
    assert r.inner_loops > 10  # a no-op needs many calls per sample
    assert r.samples.size >= 3
    assert calls >= r.inner_loops * r.samples.size


def test_samples_measure_the_function():
    r = time_callable(
        lambda: time.sleep(0.002),
        TimingSettings(
            warmup_time=0.005, target_sample_time=0.001, min_time=0.05, max_time=0.5, min_samples=5
        ),
    )
    med = float(np.median(r.samples))
    assert 0.0019 <= med <= 0.01
    assert r.inner_loops == 1


def test_first_run_is_kept_apart():
    state = {"first": True}

    def f():
        if state["first"]:
            state["first"] = False
            time.sleep(0.05)  # a "compile" on the first call only

    r = time_callable(f, TimingSettings.quick())
    assert r.first_run_s >= 0.05
    assert np.median(r.samples) < 0.01


def test_budget_bounds_sampling_time():
    t0 = time.perf_counter()
    time_callable(
        lambda: time.sleep(0.001),
        TimingSettings(
            warmup_time=0.01,
            target_sample_time=0.001,
            min_time=0.05,
            max_time=0.3,
            noise_target=0.0,
        ),
    )  # never "quiet enough": stops on max_time
    assert time.perf_counter() - t0 < 2.0


def test_environment_fingerprint():
    env = environment()
    for key in (
        "cpu_model",
        "cores_logical",
        "memory_bytes",
        "os",
        "python",
        "libraries",
        "blas",
        "threads",
        "toolkit_version",
        "git_commit",
    ):
        assert key in env
    assert "numpy" in env["libraries"]
    assert environment_id(env) == environment_id(environment())


def test_single_sample_has_no_interval():
    lo, hi, level = median_ci(np.array([0.389]))
    assert np.isnan(lo) and np.isnan(hi) and level == 0.0


def test_cpu_device_names_the_blas_numpy_calls():
    # scipy's wheel loads an OpenBLAS of its own; the cpu backend runs numpy's, and the speed
    # model's GEMM rules read the name it records
    import scipy.linalg  # noqa: F401  (loads scipy's BLAS into the process)

    from accel_toolkit.backends import get_backend
    from accel_toolkit.harness import _env

    _env._static_environment.cache_clear()
    built = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    libs = [b for b in _env.environment()["blas"] if b["user_api"] == "blas"]
    if not any(b["numpy"] for b in libs):
        pytest.skip(f"numpy uses a BLAS outside its wheel ({built['name']})")
    blas = get_backend("cpu").device_info()["blas"]
    assert blas.count("threads") == sum(b["numpy"] for b in libs) == 1
    assert blas.split()[1] == built["version"]


# -- mutants of the out-of-sample run of 2026-12-05 (seed 1205), see docs/testing.md ----------
def test_summarize_level_is_99_percent_unless_asked():
    x = np.random.default_rng(0).lognormal(0.0, 0.1, 200)
    default, at99, at90 = summarize(x), summarize(x, 0.99), summarize(x, level=0.90)
    assert (default.ci_low, default.ci_high, default.ci_level) == (
        at99.ci_low,
        at99.ci_high,
        at99.ci_level,
    )
    assert 0.99 <= default.ci_level < 0.995
    assert 0.90 <= at90.ci_level < 0.93
    assert default.ci_low < at90.ci_low < at90.median < at90.ci_high < default.ci_high


def test_summarize_drops_missing_samples():
    s = summarize([1.0, None, 3.0, float("nan"), 2.0])
    assert (s.n, s.median, s.min, s.max) == (3, 2.0, 1.0, 3.0)


def test_summarize_std_of_two_samples():
    s = summarize([1.0, 3.0])
    assert s.std == pytest.approx(math.sqrt(2.0)) and s.n == 2
    assert summarize([2.0]).std == 0.0
