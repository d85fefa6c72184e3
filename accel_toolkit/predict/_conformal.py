"""The numeric core of the predictor: regressors with conformal prediction intervals.

:class:`ConformalGPRegressor` (a Gaussian process with one length scale per feature) and
:class:`ConformalBoostingRegressor` (gradient boosting) follow scikit-learn's estimator
contract (checked with ``parametrize_with_checks``). Each fits its model on all the data,
plus one model per cross-validation fold. The intervals are *normalised cross-conformal*
(CV+ style):

1. each training point gets an out-of-fold residual ``r_i = y_i - f_{-fold(i)}(x_i)``;
2. the difficulty of a point is ``s(x) + beta``: for boosting ``s(x) = sd_k f_k(x)``, how
   much the fold models disagree there; for the GP the fold models' posterior standard
   deviation (for a training point: under the fold model that did not see it). Both are
   large far from the data, e.g. when extrapolating; ``beta`` is the median of ``s`` on the
   training data;
3. the conformal score is ``|r_i| / s(x_i)`` and ``q`` its ``ceil((n+1) c) / n`` empirical
   quantile for coverage ``c``;
4. the interval at ``x`` is ``f(x) +- q s(x)``.

On exchangeable data this covers about ``c`` of new points (Vovk; Barber et al. 2021,
"Predictive inference with the jackknife+"); the width varies with ``s(x)``, which is what
uncertainty sampling in active learning needs.
"""

from __future__ import annotations

import math
from typing import Any, cast

import numpy as np

from ..exceptions import ConfigError, NotFittedError

__all__ = ["ConformalBoostingRegressor", "ConformalGPRegressor"]


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

    # scikit-learn ships no type hints, so its NotFittedError is Any to mypy
    class EstimatorNotFittedError(NotFittedError, SklearnNotFittedError):  # type: ignore[misc]
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


class _CrossConformal(*_base_classes()):  # type: ignore[misc]
    """Fit/predict/interval logic shared by the conformal regressors (see the module doc)."""

    coverage: float
    n_folds: int
    random_state: int | None
    extrapolation_feature: int | None
    extrapolation_share: float

    def _new_model(self) -> Any:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def _new_fold_model(self) -> Any:
        """A model for one cross-validation fold (called after ``model_`` is fitted)."""
        return self._new_model()

    def fit(self, X: Any, y: Any) -> Any:
        """Fit the full model and the fold models; calibrate the interval quantile."""
        import warnings

        _sklearn()
        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings():
            # a GP length scale at its bound means "this feature does not matter": expected
            warnings.simplefilter("ignore", ConvergenceWarning)
            return self._fit(X, y)

    def _fit(self, X: Any, y: Any) -> Any:
        sk = _sklearn()
        from sklearn.utils.validation import check_X_y

        if not 0.0 < float(self.coverage) < 1.0:
            raise ConfigError(f"coverage must be in (0, 1), got {self.coverage!r}.")
        if int(self.n_folds) < 2:
            raise ConfigError(f"n_folds must be >= 2, got {self.n_folds!r}.")
        X, y = check_X_y(X, y, y_numeric=True, dtype=np.float64)
        n = X.shape[0]
        if n < 2:
            raise ValueError(f"{type(self).__name__} needs at least 2 samples; got n_samples={n}.")
        self.n_features_in_ = X.shape[1]
        self._y_scale = float(np.std(y)) or 1.0  # what normalize_y divides by
        self.model_ = self._new_model().fit(X, y)
        k = min(int(self.n_folds), n)
        folds = sk.model_selection.KFold(k, shuffle=True, random_state=self.random_state)
        oof = np.empty(n)
        self.fold_models_ = []
        tests = []
        for train, test in folds.split(X):
            m = self._new_fold_model().fit(X[train], y[train])
            oof[test] = m.predict(X[test])
            self.fold_models_.append(m)
            tests.append(test)
        self.oof_residuals_ = y - oof
        spread = self._calibration_spread(X, tests)
        self.beta_ = float(np.median(spread)) + 1e-12 * (1.0 + float(np.std(y)))
        scores = np.abs(self.oof_residuals_) / (spread + self.beta_)
        level = min(1.0, math.ceil((n + 1) * float(self.coverage)) / n)
        self.quantile_ = float(np.quantile(scores, level, method="higher"))
        self._calibrate_beyond(X, y)
        return self

    def _calibrate_beyond(self, X: np.ndarray, y: np.ndarray) -> None:
        """A second quantile for rows beyond the data along ``extrapolation_feature``.

        Random folds calibrate the interval for rows *like* the training rows. Predictions
        past the largest value of one feature (e.g. the log FLOPs: larger shapes than any
        measured) err more than the GP's standard deviation says (cache cliffs, regime
        changes), so the rows with the top ``extrapolation_share`` of that feature are held
        out once, predicted by a model fitted on the rest, and their normalised scores give
        ``quantile_beyond_``, used (when larger) for rows beyond the training range.
        """
        self.quantile_beyond_ = self.quantile_
        self.beyond_threshold_ = math.inf
        j = self.extrapolation_feature
        if j is None:
            return
        if not 0 <= int(j) < X.shape[1]:
            raise ConfigError(
                f"extrapolation_feature={j} is not a column of X ({X.shape[1]} features)."
            )
        col = X[:, int(j)]
        self.beyond_threshold_ = float(col.max())
        outer = col > np.quantile(col, 1.0 - float(self.extrapolation_share))
        n_out = int(outer.sum())
        if n_out < 3 or (~outer).sum() < 5:
            return
        m = self._new_fold_model().fit(X[~outer], y[~outer])
        scores = np.abs(y[outer] - m.predict(X[outer])) / (self._scale_of(m, X[outer]) + self.beta_)
        level = min(1.0, math.ceil((n_out + 1) * float(self.coverage)) / n_out)
        self.quantile_beyond_ = max(
            self.quantile_, float(np.quantile(scores, level, method="higher"))
        )

    def _scale_of(self, model: Any, X: np.ndarray) -> np.ndarray:
        """The uncertainty scale of one held-out model at ``X`` (default: :meth:`_spread`)."""
        return self._spread(X)

    def _spread(self, X: np.ndarray) -> np.ndarray:
        """How uncertain the prediction at each row is: the fold models' disagreement."""
        preds = np.stack([m.predict(X) for m in self.fold_models_])
        return cast(np.ndarray, preds.std(axis=0))

    def _calibration_spread(self, X: np.ndarray, tests: list[np.ndarray]) -> np.ndarray:
        """:meth:`_spread` of the training rows, as the conformal scores divide by it."""
        return self._spread(X)

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise EstimatorNotFittedError(
                f"This {type(self).__name__} is not fitted yet; call fit(X, y) first."
            )

    def _check(self, X: Any) -> np.ndarray:
        self._check_fitted()
        from sklearn.utils.validation import check_array

        X = check_array(X, dtype=np.float64)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input."
            )
        return cast(np.ndarray, X)

    def predict(self, X: Any) -> np.ndarray:
        """Point predictions of the model fitted on all the data."""
        X = self._check(X)
        return cast(np.ndarray, self.model_.predict(X))

    def predict_interval(self, X: Any) -> np.ndarray:
        """``(n, 2)`` array of ``[low, high]`` with nominal coverage :attr:`coverage`."""
        X = self._check(X)
        mid = self.model_.predict(X)
        q = np.full(X.shape[0], self.quantile_)
        if self.extrapolation_feature is not None:
            beyond = X[:, int(self.extrapolation_feature)] > self.beyond_threshold_
            q[beyond] = self.quantile_beyond_
        half = q * (self._spread(X) + self.beta_)
        return np.column_stack([mid - half, mid + half])


class ConformalBoostingRegressor(_CrossConformal):
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
    extrapolation_feature : int, optional
        Column whose values past the training maximum mean "beyond the data" (the log FLOPs
        in :class:`~accel_toolkit.predict.SpeedModel`); such rows get an interval calibrated
        on held-out top rows of that column (``extrapolation_share`` of them).
    extrapolation_share : float
        Share of the rows held out for that calibration.
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
        extrapolation_feature: int | None = None,
        extrapolation_share: float = 0.15,
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
        self.extrapolation_feature = extrapolation_feature
        self.extrapolation_share = extrapolation_share
        self.random_state = random_state

    def _new_model(self) -> Any:
        sk = _sklearn()
        return sk.ensemble.GradientBoostingRegressor(
            loss=self.loss,
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            max_depth=self.max_depth,
            min_samples_leaf=self.min_samples_leaf,
            subsample=self.subsample,
            random_state=self.random_state,
        )


class ConformalGPRegressor(_CrossConformal):
    """A Gaussian process with normalised cross-conformal prediction intervals.

    The kernel is ``C * Matern(nu, one length scale per feature) + White`` on standardised
    features, its hyperparameters fitted by maximum marginal likelihood (scikit-learn's
    :class:`~sklearn.gaussian_process.GaussianProcessRegressor`). Kernel latencies are smooth
    in the log of their sizes between a few regime changes, which a GP interpolates from a
    few dozen points far better than trees do (on our cpu data: 96-100% vs 69-85% of held-out
    softmax/attention shapes within +-10%); per-feature length scales switch off features
    that do not matter.

    Parameters
    ----------
    coverage, n_folds, random_state :
        As in :class:`ConformalBoostingRegressor`.
    nu : float
        Smoothness of the Matern kernel (0.5, 1.5, 2.5 or ``inf`` for RBF).
    n_restarts : int
        Extra random restarts of the hyperparameter optimiser.
    noise : float
        Initial variance of the white-noise term (in the units of standardised ``y``).
    noise_floor : float, optional
        The smallest standard deviation of the measurement noise the GP may assume, in the
        units of ``y`` (for a log latency: 0.02 = measurements repeat no better than about
        2%). Without it a GP fitted on a handful of points can explain them exactly with
        absurd length scales (noise 1e-8 of the variance) and predict wildly between them.
        Default None: the noise is only bounded below by 1e-8 of the variance of ``y``.
    ard : bool
        One length scale per feature (default) or one shared by all (much faster to fit
        on many features, but cannot switch off the ones that do not matter).
    length_scale : array-like of shape (n_features,), optional
        Length scales to use as they are, in the units of the raw features (not fitted):
        e.g. :attr:`length_scale_` of a model fitted earlier on more data of the same
        kind. Only the amplitude and the noise are then fitted, which 20-40 points estimate
        well where ~20 length scales they do not. Default: fit them all.
    extrapolation_feature, extrapolation_share :
        As in :class:`ConformalBoostingRegressor`.

    Attributes
    ----------
    length_scale_ : ndarray of shape (n_features,)
        The model's length scales in the units of the raw features (what ``length_scale``
        takes).
    """

    def __init__(
        self,
        *,
        coverage: float = 0.8,
        n_folds: int = 5,
        nu: float = 2.5,
        n_restarts: int = 0,
        noise: float = 1e-2,
        noise_floor: float | None = None,
        ard: bool = True,
        length_scale: Any = None,
        extrapolation_feature: int | None = None,
        extrapolation_share: float = 0.15,
        random_state: int | None = 0,
    ) -> None:
        self.coverage = coverage
        self.n_folds = n_folds
        self.nu = nu
        self.n_restarts = n_restarts
        self.noise = noise
        self.noise_floor = noise_floor
        self.ard = ard
        self.length_scale = length_scale
        self.extrapolation_feature = extrapolation_feature
        self.extrapolation_share = extrapolation_share
        self.random_state = random_state

    def _new_model(self) -> Any:
        _sklearn()
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        given = self._given_length_scale()
        if given is not None:
            # the length scales are in raw feature units, so the features are not rescaled
            matern = Matern(length_scale=given, length_scale_bounds="fixed", nu=self.nu)
            scaler = StandardScaler(with_mean=False, with_std=False)
        else:
            scales = np.ones(int(self.n_features_in_)) if self.ard else 1.0
            matern = Matern(length_scale=scales, length_scale_bounds=(1e-2, 1e3), nu=self.nu)
            scaler = StandardScaler()
        low = 1e-8
        if self.noise_floor is not None:
            if not float(self.noise_floor) >= 0.0:
                raise ConfigError(f"noise_floor must be >= 0, got {self.noise_floor!r}.")
            # normalize_y divides y by its standard deviation: the floor in those units
            low = min(0.5, max(low, (float(self.noise_floor) / self._y_scale) ** 2))
        white = WhiteKernel(max(float(self.noise), 1.01 * low), (low, 1.0))
        kernel = ConstantKernel(1.0, (1e-3, 1e3)) * matern + white
        gp = GaussianProcessRegressor(
            kernel,
            normalize_y=True,
            n_restarts_optimizer=int(self.n_restarts),
            random_state=self.random_state,
        )
        return make_pipeline(scaler, gp)

    def _given_length_scale(self) -> np.ndarray | None:
        """``length_scale`` checked against the data (None: fit the length scales)."""
        if self.length_scale is None:
            return None
        ls = np.atleast_1d(np.asarray(self.length_scale, dtype=float))
        n = int(self.n_features_in_)
        if ls.shape != (n,) or not np.all(np.isfinite(ls)) or np.any(ls <= 0):
            raise ConfigError(
                f"length_scale must hold {n} positive finite values, one per feature of X "
                f"(got shape {ls.shape}); pass length_scale_ of a model fitted on the same "
                f"features, or None to fit them."
            )
        return ls

    @property
    def length_scale_(self) -> np.ndarray:
        """Length scales of the fitted kernel in raw feature units (see ``length_scale``)."""
        self._check_fitted()
        scaler, gp = self.model_[0], self.model_[-1]
        ls = np.broadcast_to(
            np.asarray(gp.kernel_.k1.k2.length_scale, dtype=float), (int(self.n_features_in_),)
        )
        scale = getattr(scaler, "scale_", None)
        return ls * (np.asarray(scale, dtype=float) if scale is not None else 1.0)

    def _new_fold_model(self) -> Any:
        # the fold models re-fit their hyperparameters on their own fold (so the out-of-fold
        # residuals are honest), starting from the ones learned on all the data (fast)
        from sklearn.base import clone

        pipe = clone(self._new_model())
        pipe.set_params(gaussianprocessregressor__kernel=self.model_[-1].kernel_)
        return pipe

    def _scale_of(self, model: Any, X: np.ndarray) -> np.ndarray:
        """One GP's posterior standard deviation at ``X``."""
        return np.asarray(model.predict(X, return_std=True)[1])

    def _spread(self, X: np.ndarray) -> np.ndarray:
        """The fold GPs' mean posterior standard deviation: large far from the data."""
        return cast(np.ndarray, np.mean([self._scale_of(m, X) for m in self.fold_models_], axis=0))

    def predict_cov(self, X: Any) -> np.ndarray:
        """Posterior covariance of the latent function at the rows of ``X`` (``(n, n)``).

        From the GP fitted on all the data, in the units of ``y``, without the white-noise
        term (the part a measurement can teach): what active learning uses to pick points
        that reduce the uncertainty over a whole candidate set.
        """
        X = self._check(X)
        scaler, gp = self.model_[:-1], self.model_[-1]
        cov = np.asarray(gp.predict(scaler.transform(X), return_cov=True)[1], dtype=float)
        return cov - self.noise_variance_ * np.eye(X.shape[0])

    @property
    def noise_variance_(self) -> float:
        """The fitted white-noise variance (units of ``y``): the repeatability of one
        measurement, as far as the GP can tell."""
        self._check_fitted()
        gp = self.model_[-1]
        scale = float(np.squeeze(getattr(gp, "_y_train_std", 1.0)))
        return float(gp.kernel_.k2.noise_level) * scale**2

    def _calibration_spread(self, X: np.ndarray, tests: list[np.ndarray]) -> np.ndarray:
        # each training row's std under the fold GP that did not see it, as for a new row
        out = np.empty(X.shape[0])
        for m, test in zip(self.fold_models_, tests, strict=True):
            out[test] = self._scale_of(m, X[test])
        return out
