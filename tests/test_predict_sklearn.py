"""scikit-learn's estimator checks on the numeric core of the predictor."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from accel_toolkit.predict import ConformalBoostingRegressor, ConformalGPRegressor  # noqa: E402


@parametrize_with_checks([ConformalBoostingRegressor(n_estimators=20, n_folds=3),
                          ConformalGPRegressor(n_folds=3, ard=False)])
def test_sklearn_contract(estimator, check):
    check(estimator)


@pytest.mark.parametrize("make", [lambda: ConformalBoostingRegressor(coverage=0.8, n_estimators=100),
                                  lambda: ConformalGPRegressor(coverage=0.8)],
                         ids=["boosting", "gp"])
def test_intervals_cover_nominal_share_on_heldout_data(make):
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(1400, 3))
    y = X[:, 0] ** 2 + np.sin(2 * X[:, 1]) + rng.normal(0, 0.3, size=1400)
    reg = make().fit(X[:250], y[:250])
    iv = reg.predict_interval(X[400:])
    covered = np.mean((y[400:] >= iv[:, 0]) & (y[400:] <= iv[:, 1]))
    assert 0.72 <= covered <= 0.9
    assert reg.predict(X[:5]).shape == (5,)


def test_rows_beyond_the_data_get_intervals_calibrated_on_held_out_top_rows():
    # latency-like data with a regime change near the top of the measured range (a cache
    # cliff): random folds alone under-cover larger inputs, the held-out top rows do not
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 4, size=(260, 2))
    y = x[:, 0] + 0.8 * np.maximum(0.0, x[:, 0] - 2.5) ** 2 + rng.normal(0, 0.05, size=260)
    train, beyond = x[:, 0] <= 3.2, x[:, 0] > 3.2
    plain = ConformalGPRegressor(coverage=0.8).fit(x[train], y[train])
    aware = ConformalGPRegressor(coverage=0.8, extrapolation_feature=0).fit(x[train], y[train])
    assert aware.quantile_beyond_ >= aware.quantile_ == pytest.approx(plain.quantile_)
    inside = rng.uniform(0, 3.0, size=(50, 2))
    np.testing.assert_allclose(aware.predict_interval(inside), plain.predict_interval(inside))

    def coverage(reg):
        iv = reg.predict_interval(x[beyond])
        return np.mean((y[beyond] >= iv[:, 0]) & (y[beyond] <= iv[:, 1]))

    assert coverage(aware) > coverage(plain)
    assert coverage(aware) >= 0.6
