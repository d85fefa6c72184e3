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
:func:`ceilings`, :func:`speedups`   the numbers behind the roofline and the heatmap
============================  ==============================================================
"""

from ._compare import speedup_heatmap, speedups
from ._history import first_run, history
from ._perf import ceilings, latency, roofline
from ._prep import params_label

__all__ = [
    "ceilings",
    "first_run",
    "history",
    "latency",
    "params_label",
    "roofline",
    "speedup_heatmap",
    "speedups",
]
