"""Predict the speed of configurations nobody measured, with calibrated intervals."""

from ._candidates import DEFAULT_RANGES, log_uniform_grid
from ._conformal import ConformalBoostingRegressor, ConformalGPRegressor
from ._evaluate import evaluate, measurement_noise, prediction_metrics
from ._features import OPENBLAS_SMALL_GEMM, cache_sizes, featurize, gemm_paths, numpy_loops
from ._loop import ActiveLearningResult, active_learning
from ._model import STATISTICS, SpeedModel, aggregate_repeats, with_latency
from ._replay import ReplayResult, replay_active_learning, replay_split
from ._report import PredictionsSection, predicted_vs_measured_chart, predictions_section
from ._strategies import suggest

__all__ = [
    "ActiveLearningResult",
    "ConformalBoostingRegressor",
    "ConformalGPRegressor",
    "DEFAULT_RANGES",
    "OPENBLAS_SMALL_GEMM",
    "PredictionsSection",
    "ReplayResult",
    "STATISTICS",
    "SpeedModel",
    "active_learning",
    "aggregate_repeats",
    "cache_sizes",
    "evaluate",
    "featurize",
    "gemm_paths",
    "log_uniform_grid",
    "measurement_noise",
    "numpy_loops",
    "predicted_vs_measured_chart",
    "prediction_metrics",
    "predictions_section",
    "replay_active_learning",
    "replay_split",
    "suggest",
    "with_latency",
]
