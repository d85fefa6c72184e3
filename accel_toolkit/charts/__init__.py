"""Altair charts of benchmark results; every function returns a chart and never displays it.

Each takes rows of the ``results`` view (``Store().results()`` or the return value of
``bench()``); tooltips carry the configuration (kernel, params, dtype, backend, device).

>>> import accel_toolkit as at
>>> from accel_toolkit import charts
>>> df = at.bench("matmul", "cpu", db=":memory:")  # doctest: +SKIP
>>> charts.latency(df)  # doctest: +SKIP

============================  ==============================================================
:func:`latency`               time per call vs FLOPs (or bytes), per backend, CI error bars
:func:`roofline`              GFLOP/s vs arithmetic intensity under measured/declared ceilings
:func:`speedup_heatmap`       kernel x backend geometric-mean speedup over a baseline backend
:func:`history`               one configuration across runs: median, CI band, change points
:func:`first_run`             first call (compile) vs steady-state median, per backend
:func:`op_breakdown`          one model forward's time per op, stacked, per backend and shape
:func:`model_backends`        model forward medians with CI, backends side by side
:func:`compare_chart`         two runs compared: ratio of medians with CI, per verdict
:func:`regression_chart`      every detected step: its ratio with CI
:func:`history_chart_with_steps`  one series of the regression analysis with its steps
:func:`ceilings`, :func:`speedups`   the numbers behind the roofline and the heatmap
:func:`params_label`, :func:`describe_series`, :func:`latest`   labels, newest row per config
============================  ==============================================================

Fixed colors come from :data:`PALETTE`; :func:`enable_theme` turns on the Altair theme
built from it (:data:`THEME`).
"""

from ._compare import speedup_heatmap, speedups
from ._history import first_run, history
from ._models import model_backends, op_breakdown
from ._perf import ceilings, latency, roofline
from ._prep import describe_series, latest, params_label
from ._regressions import compare_chart, history_chart_with_steps, regression_chart
from ._theme import PALETTE, THEME, enable_theme

__all__ = [
    "PALETTE",
    "THEME",
    "ceilings",
    "compare_chart",
    "describe_series",
    "enable_theme",
    "first_run",
    "history",
    "history_chart_with_steps",
    "latency",
    "latest",
    "model_backends",
    "op_breakdown",
    "params_label",
    "regression_chart",
    "roofline",
    "speedup_heatmap",
    "speedups",
]
