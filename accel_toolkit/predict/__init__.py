"""Predict the speed of configurations nobody measured, with calibrated intervals."""

from ._candidates import DEFAULT_RANGES, log_uniform_grid
from ._conformal import ConformalBoostingRegressor
from ._evaluate import evaluate, measurement_noise, prediction_metrics
from ._features import cache_sizes, featurize
from ._model import SpeedModel

__all__ = [
    "DEFAULT_RANGES",
    "ConformalBoostingRegressor",
    "SpeedModel",
    "cache_sizes",
    "evaluate",
    "featurize",
    "log_uniform_grid",
    "measurement_noise",
    "prediction_metrics",
]
