"""Self-contained HTML benchmark reports that render offline.

>>> from accel_toolkit.report import build_report
>>> build_report("results.duckdb", tag="nightly").write("report.html")  # doctest: +SKIP

The page has a summary (speedup heatmap, roofline), the environment, one section per
kernel (latency chart, history across runs, table), first-run vs steady state, the
sections of other modules (:data:`PLUGINS`: regressions, predictions), failures with
their errors, and how to reproduce every run. A section that fails shows its error.
"""

from ._blocks import ChartBlock, Code, ErrorBlock, Table, Text
from ._build import Report, build_report, load_context, write_report
from ._html import CHART_MODES
from ._sections import (
    PLUGINS,
    SECTIONS,
    ReportContext,
    Section,
    reproduce_command,
    results_table,
)

__all__ = [
    "CHART_MODES",
    "ChartBlock",
    "Code",
    "ErrorBlock",
    "PLUGINS",
    "Report",
    "ReportContext",
    "SECTIONS",
    "Section",
    "Table",
    "Text",
    "build_report",
    "load_context",
    "reproduce_command",
    "results_table",
    "write_report",
]
