"""scikit-learn's estimator checks on the numeric core of the predictor."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from accel_toolkit.exceptions import ConfigError  # noqa: E402
from accel_toolkit.predict import ConformalBoostingRegressor, ConformalGPRegressor  # noqa: E402


@parametrize_with_checks(
    [
        ConformalBoostingRegressor(n_estimators=20, n_folds=3),
        ConformalGPRegressor(n_folds=3, ard=False),
    ]
)
def test_sklearn_contract(estimator, check):
    check(estimator)


@pytest.mark.parametrize(
    "make",
    [
        lambda: ConformalBoostingRegressor(coverage=0.8, n_estimators=100),
        lambda: ConformalGPRegressor(coverage=0.8),
    ],
    ids=["boosting", "gp"],
)
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


def test_length_scales_learned_on_many_points_carry_over_to_few():
    # 6 features, 2 of which matter: 15 points cannot tell which, 400 points of the same
    # function (another sweep) can; reused as they are, their length scales make the
    # 15-point model far more accurate than one fitting all of them on its own
    rng = np.random.default_rng(5)

    def draw(n):
        X = rng.uniform(-2, 2, size=(n, 6)) * np.array([1, 3, 1, 1, 1, 1])
        return X, np.sin(1.5 * X[:, 0]) + 0.1 * X[:, 1] ** 2 + rng.normal(0, 0.05, size=n)

    (X_big, y_big), (X_few, y_few), (X_test, y_test) = draw(400), draw(15), draw(300)
    earlier = ConformalGPRegressor(n_folds=3).fit(X_big, y_big)
    reused = ConformalGPRegressor(n_folds=3, length_scale=earlier.length_scale_).fit(X_few, y_few)
    fresh = ConformalGPRegressor(n_folds=3).fit(X_few, y_few)
    np.testing.assert_allclose(reused.length_scale_, earlier.length_scale_)
    assert np.argsort(earlier.length_scale_)[:2].tolist() in ([0, 1], [1, 0])

    def rmse(reg):
        return float(np.sqrt(np.mean((reg.predict(X_test) - y_test) ** 2)))

    assert rmse(reused) < 0.7 * rmse(fresh)
    iv = reused.predict_interval(X_test)  # 15 points: conformal intervals err on the wide side
    assert np.mean((y_test >= iv[:, 0]) & (y_test <= iv[:, 1])) >= 0.7


def test_length_scale_of_the_wrong_shape_says_what_to_pass():
    X, y = np.random.default_rng(0).normal(size=(20, 3)), np.arange(20.0)
    with pytest.raises(ConfigError, match="one per feature"):
        ConformalGPRegressor(length_scale=[1.0, 2.0]).fit(X, y)
    with pytest.raises(ConfigError, match="positive"):
        ConformalGPRegressor(length_scale=[1.0, -2.0, 1.0]).fit(X, y)
