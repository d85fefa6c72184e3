"""Sweeps on a Dask cluster: workers that advertise their backends, one writer, no lost rows.

Needs the ``distributed`` extra (``pip install 'accel-toolkit[distributed]'``). Nothing here
imports Dask until a name is used, so ``import accel_toolkit`` stays light
(``from accel_toolkit.distributed import cluster_info``)::

    accel-toolkit worker tcp://SCHEDULER:8786        # on each lab machine
    at.bench("matmul", "cpu,webgpu", cluster="tcp://SCHEDULER:8786", where="all")
    cluster_info("tcp://SCHEDULER:8786")    # machines, backends, devices (a DataFrame)

``dask worker tcp://SCHEDULER:8786 --preload accel_toolkit.distributed`` loads the same
plugin into a plain Dask worker (:func:`dask_setup`). See docs/distributed.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ..exceptions import ClusterError, RefusedWorkerWarning, VersionMismatchError

if TYPE_CHECKING:
    from ._cluster import cluster_info, connect, describe_workers
    from ._local import bench_in_threads
    from ._plugin import AcceleratorPlugin, dask_setup, machine_info
    from ._sweep import bench_on_cluster

__all__ = [
    "AcceleratorPlugin",
    "ClusterError",
    "RefusedWorkerWarning",
    "VersionMismatchError",
    "bench_in_threads",
    "bench_on_cluster",
    "cluster_info",
    "connect",
    "dask_setup",
    "describe_workers",
    "machine_info",
]

#: name -> private module that defines it (imported on first use)
_WHERE = {
    "AcceleratorPlugin": "_plugin",
    "dask_setup": "_plugin",
    "machine_info": "_plugin",
    "bench_in_threads": "_local",
    "bench_on_cluster": "_sweep",
    "cluster_info": "_cluster",
    "connect": "_cluster",
    "describe_workers": "_cluster",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in ("dask", "distributed"):
            raise ImportError(
                "Sweeps on a cluster need Dask: pip install 'accel-toolkit[distributed]'."
            ) from exc
        raise
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
