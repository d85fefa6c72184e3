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
