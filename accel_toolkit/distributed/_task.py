"""The task a worker runs: measure one configuration on one backend with its warm pool."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from distributed import get_worker

from ..exceptions import ClusterError, VersionMismatchError
from ..harness import TimingSettings, inputs_or_reason, refused_row
from ..kernels import get_kernel
from ._plugin import PLUGIN_NAME, AcceleratorPlugin

__all__ = ["TaskResult", "measure_task"]

#: the row (without run id), its raw samples, the measuring machine's env_id, the worker
TaskResult = tuple[dict[str, Any], "np.ndarray | None", str, str]


def measure_task(
    kernel: str,
    params: Mapping[str, Any],
    dtype: str,
    seed: int,
    backend: str,
    timing: TimingSettings,
    version: str,
) -> TaskResult:
    """Measure ``kernel`` with ``params`` on ``backend`` of the worker running this task.

    Never raises for a failed measurement (it becomes the row's status); raises
    :class:`ClusterError` on a worker without the plugin and :class:`VersionMismatchError`
    on a worker whose accel-toolkit version differs from the client's ``version``.
    """
    worker = get_worker()
    plugin = worker.plugins.get(PLUGIN_NAME)
    if not isinstance(plugin, AcceleratorPlugin):
        raise ClusterError(
            f"Worker {worker.address} has no accel_toolkit plugin; start it with "
            f"`accel-toolkit worker SCHEDULER` or `dask worker SCHEDULER "
            f"--preload accel_toolkit.distributed`."
        )
    if plugin.version != version:
        raise VersionMismatchError(
            f"Worker {worker.address} runs accel-toolkit {plugin.version}, the client "
            f"{version}; install accel-toolkit=={version} on the worker."
        )
    env_id = str(plugin.info.get("env_id"))
    spec = get_kernel(kernel)
    p = dict(params)
    made = inputs_or_reason(spec, p, dtype, seed)
    pool = plugin.get_pool()
    if isinstance(made, str):
        return (
            refused_row(backend, spec, p, dtype, seed, made, venue=pool.venue_of(backend)),
            None,
            env_id,
            worker.address,
        )
    inputs, reference = made
    row, samples = pool.measure(backend, spec, p, dtype, seed, inputs, reference, timing)
    return row, samples, env_id, worker.address
