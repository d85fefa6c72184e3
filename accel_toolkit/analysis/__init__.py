"""Comparing runs and detecting regressions: statistics, change points, CI gate.

The charts of these results live in :mod:`accel_toolkit.charts` and are re-exported here.

>>> from accel_toolkit.analysis import compare, detect_regressions
>>> df = compare("results.duckdb", baseline="main", candidate="branch")   # doctest: +SKIP
>>> steps = detect_regressions("results.duckdb")                          # doctest: +SKIP
"""

from ..charts import compare_chart, describe_series, history_chart_with_steps, regression_chart
from ._compare import BY_COLUMNS, compare, compare_frames, compare_samples, ratio_ci_bootstrap
from ._drift import round_drift
from ._gate import gate_json, gate_markdown, gate_status
from ._history import NOISE_KINDS, synthetic_history
from ._regressions import detect_regressions, find_steps, load_history, regressions_section
from ._steps import DEFAULT_GAMMA, DEFAULT_MIN_SIZE, Step, detect_steps

__all__ = [
    "BY_COLUMNS",
    "DEFAULT_GAMMA",
    "DEFAULT_MIN_SIZE",
    "NOISE_KINDS",
    "Step",
    "compare",
    "compare_chart",
    "compare_frames",
    "compare_samples",
    "describe_series",
    "detect_regressions",
    "detect_steps",
    "find_steps",
    "gate_json",
    "gate_markdown",
    "gate_status",
    "history_chart_with_steps",
    "load_history",
    "ratio_ci_bootstrap",
    "regression_chart",
    "regressions_section",
    "round_drift",
    "synthetic_history",
]
