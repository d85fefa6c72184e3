"""The benchmark, report and explore notebooks: parameters, papermill runs, provenance.

>>> from accel_toolkit.notebooks import run_notebook
>>> run = run_notebook(  # doctest: +SKIP
...     "benchmark", {"kernels": "matmul,softmax", "backends": "cpu"}
... )
>>> run.output, run.run_ids  # doctest: +SKIP

The same runs from the shell: ``accel-toolkit notebook run benchmark -p kernels matmul``
or plain ``papermill notebooks/benchmark.ipynb out.ipynb -p kernels matmul``.
"""

from ._params import BenchmarkParams, ReportParams, benchmark_params, report_params
from ._run import NOTEBOOKS, NotebookRun, notebook_path, parse_value, run_notebook
from ._setup import availability, use_renderer

__all__ = [
    "BenchmarkParams",
    "NOTEBOOKS",
    "NotebookRun",
    "ReportParams",
    "availability",
    "benchmark_params",
    "notebook_path",
    "parse_value",
    "report_params",
    "run_notebook",
    "use_renderer",
]
