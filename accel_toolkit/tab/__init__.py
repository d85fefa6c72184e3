"""The live notebook tab as a venue: kernels run in the JupyterLab tab that shows the notebook.

``TabRunner`` (an anywidget) sends kernel requests to the tab's WebGPU/WebNN runtime and
stores each result in DuckDB as it arrives (venue ``tab``); ``Explorer`` puts controls, a
live chart, a table and the hardware side by side. Needs the ``notebooks`` extra (anywidget);
``import accel_toolkit`` does not import this package.
"""

from ._explorer import Explorer
from ._runner import TabRunner
from ._sweep import BenchHandle

__all__ = ["BenchHandle", "Explorer", "TabRunner"]
