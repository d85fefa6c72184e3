"""accel_toolkit: measure, explore and predict the speed of ML compute kernels.

CPU and CUDA in the kernel process; WebGPU and WebNN in a browser (headless Chromium or the
live JupyterLab tab); the same WGSL in-process through wgpu-py. Every measurement lands in
DuckDB. Backends are imported lazily: ``import accel_toolkit`` needs no GPU or browser.

>>> import accel_toolkit as at
>>> at.run("matmul", "cpu", M=64, N=64, K=64).passed
True
"""

from ._api import RunResult, bench, list_kernels, run
from ._check import CheckResult, check
from ._version import __version__
from .analysis import compare, detect_regressions
from .backends import doctor
from .harness import TimingSettings
from .kernels import get_kernel
from .models import bench_model, embed
from .store import Store, default_db_path
from .tuning import tune

__all__ = [
    "CheckResult",
    "RunResult",
    "Store",
    "TimingSettings",
    "__version__",
    "bench",
    "bench_model",
    "check",
    "compare",
    "default_db_path",
    "detect_regressions",
    "doctor",
    "embed",
    "get_kernel",
    "list_kernels",
    "run",
    "tune",
]
