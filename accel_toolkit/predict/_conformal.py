"""The numeric core of the predictor: gradient boosting with conformal prediction intervals.

:class:`ConformalBoostingRegressor` follows scikit-learn's estimator contract (checked with
``parametrize_with_checks``). It fits a gradient-boosting model on all the data, plus one
model per cross-validation fold. The intervals are *normalised cross-conformal* (CV+ style):

1. each training point gets an out-of-fold residual ``r_i = y_i - f_{-fold(i)}(x_i)``;
2. the difficulty of a point is ``s(x) = sd_k f_k(x) + beta`` - how much the fold models
   disagree there (large far from the data, e.g. when extrapolating), with ``beta`` the median
   disagreement on the training data;
3. the conformal score is ``|r_i| / s(x_i)`` and ``q`` its ``ceil((n+1) c) / n`` empirical
   quantile for coverage ``c``;
4. the interval at ``x`` is ``f(x) +- q s(x)``.

On exchangeable data this covers about ``c`` of new points (Vovk; Barber et al. 2021,
"Predictive inference with the jackknife+"); the width varies with ``s(x)``, which is what
uncertainty sampling in active learning needs.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..exceptions import ConfigError, NotFittedError

__all__ = ["ConformalBoostingRegressor"]


def _sklearn() -> Any:
    try:
        import sklearn  # noqa: F401
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "The speed predictor needs scikit-learn: pip install 'accel-toolkit[models]'."
        ) from exc
    import sklearn.base
    import sklearn.ensemble
    import sklearn.model_selection
    import sklearn.utils.validation

    return sklearn


def _not_fitted_error() -> type[NotFittedError]:
    """Our NotFittedError, also a scikit-learn NotFittedError when sklearn is installed."""
    try:
        from sklearn.exceptions import NotFittedError as SklearnNotFittedError
    except ImportError:  # pragma: no cover
        return NotFittedError

    class EstimatorNotFittedError(NotFittedError, SklearnNotFittedError):
        """Raised before ``fit``; caught by ``except accel_toolkit.exceptions.NotFittedError``
        and by scikit-learn's own checks."""

    return EstimatorNotFittedError


EstimatorNotFittedError = _not_fitted_error()


def _base_classes() -> tuple[type, ...]:
    try:
        from sklearn.base import BaseEstimator, RegressorMixin
    except ImportError:  # pragma: no cover
        return (object,)
    return (RegressorMixin, BaseEstimator)


class ConformalBoostingRegressor(*_base_classes()):  # type: ignore[misc]
    """Gradient boosting with normalised cross-conformal prediction intervals.

    Parameters
    ----------
    coverage : float
        Nominal coverage of :meth:`predict_interval` (0.8 = an 80% interval).
    n_folds : int
        Cross-validation folds for the out-of-fold residuals (at most the number of samples).
    loss : str
        Boosting loss: ``"squared_error"`` (default) or ``"huber"`` (robust to a measurement
        slowed down by another process, but ~2x slower to fit and no better on our data).
    n_estimators, learning_rate, max_depth, min_samples_leaf, subsample :
        Passed to :class:`sklearn.ensemble.GradientBoostingRegressor`.
    random_state : int or None
        Seed of the folds and the boosting.

    Attributes
    ----------
    model_ : GradientBoostingRegressor
        Fitted on all the data; :meth:`predict` uses it.
    fold_models_ : list
        One model per fold.
    quantile_ : float
        The conformal quantile of the normalised scores.
    beta_ : float
        The floor added to the fold disagreement.
    oof_residuals_ : ndarray
        Out-of-fold residuals of the training points.
    n_features_in_ : int
    """

    def __init__(
        self,
        *,
        coverage: float = 0.8,
        n_folds: int = 5,
        loss: str = "squared_error",
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        max_depth: int = 3,
        min_samples_leaf: int = 2,
        subsample: float = 1.0,
        random_state: int | None = 0,
    ) -> None:
        self.coverage = coverage
        self.n_folds = n_folds
        self.loss = loss
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.subsample = subsample
        self.random_state = random_state

    def _new_model(self) -> Any:
        sk = _sklearn()
        return sk.ensemble.GradientBoostingRegressor(
            loss=self.loss, n_estimators=self.n_estimators, learning_rate=self.learning_rate,
            max_depth=self.max_depth, min_samples_leaf=self.min_samples_leaf,
            subsample=self.subsample, random_state=self.random_state,
        )

    def fit(self, X: Any, y: Any) -> ConformalBoostingRegressor:
        """Fit the full model and the fold models; calibrate the interval quantile."""
        sk = _sklearn()
        from sklearn.utils.validation import check_X_y

        if not 0.0 < float(self.coverage) < 1.0:
            raise ConfigError(f"coverage must be in (0, 1), got {self.coverage!r}.")
        if int(self.n_folds) < 2:
            raise ConfigError(f"n_folds must be >= 2, got {self.n_folds!r}.")
        X, y = check_X_y(X, y, y_numeric=True, dtype=np.float64)
        n = X.shape[0]
        if n < 2:
            raise ValueError(f"ConformalBoostingRegressor needs at least 2 samples; got "
                             f"n_samples={n}.")
        self.n_features_in_ = X.shape[1]
        self.model_ = self._new_model().fit(X, y)
        k = min(int(self.n_folds), n)
        folds = sk.model_selection.KFold(k, shuffle=True, random_state=self.random_state)
        oof = np.empty(n)
        self.fold_models_ = []
        for train, test in folds.split(X):
            m = self._new_model().fit(X[train], y[train])
            oof[test] = m.predict(X[test])
            self.fold_models_.append(m)
        self.oof_residuals_ = y - oof
        spread = self._spread(X)
        self.beta_ = float(np.median(spread)) + 1e-12 * (1.0 + float(np.std(y)))
        scores = np.abs(self.oof_residuals_) / (spread + self.beta_)
        level = min(1.0, math.ceil((n + 1) * float(self.coverage)) / n)
        self.quantile_ = float(np.quantile(scores, level, method="higher"))
        return self

    def _spread(self, X: np.ndarray) -> np.ndarray:
        preds = np.stack([m.predict(X) for m in self.fold_models_])
        return preds.std(axis=0)

    def _check(self, X: Any) -> np.ndarray:
        if not hasattr(self, "model_"):
            raise EstimatorNotFittedError(
                f"This {type(self).__name__} is not fitted yet; call fit(X, y) first."
            )
        from sklearn.utils.validation import check_array

        X = check_array(X, dtype=np.float64)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input."
            )
        return X

    def predict(self, X: Any) -> np.ndarray:
        """Point predictions of the model fitted on all the data."""
        X = self._check(X)
        return self.model_.predict(X)

    def predict_interval(self, X: Any) -> np.ndarray:
        """``(n, 2)`` array of ``[low, high]`` with nominal coverage :attr:`coverage`."""
        X = self._check(X)
        mid = self.model_.predict(X)
        half = self.quantile_ * (self._spread(X) + self.beta_)
        return np.column_stack([mid - half, mid + half])
