"""The worker side: a Dask WorkerPlugin that says what the worker's machine can measure.

On start, the plugin runs :func:`~accel_toolkit.backends.doctor` on the worker's machine and
advertises each available backend as a Dask resource (``cpu``, ``wgpu``, ``webgpu``,
``webnn``, ``cuda``), with a count: how many configurations of that backend the worker
measures at once (browsers in its pool, GPUs; one for ``cpu`` and ``wgpu``). It keeps a
:class:`~accel_toolkit.backends.BackendPool` open for the worker's lifetime, so tasks reuse
warm browsers and devices. It is loaded by ``accel-toolkit worker`` or by
``dask worker ADDR --preload accel_toolkit.distributed``, which reads:

``ACCEL_TOOLKIT_WORKER_BACKENDS``
    comma-separated backends to probe and offer (default: every backend).
``ACCEL_TOOLKIT_WORKER_BROWSERS``
    browsers in the pool (default :func:`~accel_toolkit.backends._pool.default_browsers`).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from distributed import Worker, WorkerPlugin
from distributed.core import Status

from .._version import __version__
from ..backends._pool import BackendPool, default_browsers

__all__ = ["PLUGIN_NAME", "AcceleratorPlugin", "dask_setup", "machine_info", "worker_info"]

#: the name the plugin is registered under on every worker
PLUGIN_NAME = "accel_toolkit"
#: backends whose resource count is the number of browsers in the pool
BROWSER_BACKENDS = ("webgpu", "webnn")
#: guards opening a worker's pool from several task threads
_POOL_LOCK = threading.Lock()


def machine_info(
    backends: Sequence[str] | None = None,
    browsers: int | None = None,
) -> dict[str, Any]:
    """What this machine offers: environment, backends (doctor) and the Dask resources.

    Returns
    -------
    dict
        ``env`` and ``env_id`` (the fingerprint every row records), ``backends`` (doctor's
        availability per backend), ``resources`` (``{backend: count}`` of the available ones)
        and ``browsers`` (the pool size).
    """
    from ..backends import doctor
    from ..harness import environment, environment_id

    env = environment()
    found = doctor(list(backends) if backends else None)
    n_browsers = default_browsers() if browsers is None else int(browsers)
    resources: dict[str, float] = {}
    for a in found:
        if not a.available:
            continue
        if a.name in BROWSER_BACKENDS:
            count = n_browsers
        elif a.name == "cuda":
            count = int((a.device or {}).get("device_count") or 1)
        else:
            count = 1
        if count > 0:
            resources[a.name] = float(count)
    return {
        "env": env,
        "env_id": environment_id(env),
        "hostname": env.get("hostname"),
        "backends": [a.as_dict() for a in found],
        "resources": resources,
        "browsers": n_browsers,
    }


class AcceleratorPlugin(WorkerPlugin):
    """Advertises the worker machine's backends as Dask resources and keeps them warm.

    Parameters
    ----------
    backends : list of str, optional
        Backends to probe and offer (default: every backend ``doctor`` knows).
    browsers : int, optional
        Browsers in the worker's pool (default: what the machine's cores can feed).
    backend_options : dict, optional
        ``{backend: {option: value}}`` for the backend constructors.
    version : str
        The accel-toolkit version the worker reports; a client with another version refuses
        the worker (the default is the installed version).
    """

    idempotent = True
    name = PLUGIN_NAME

    def __init__(
        self,
        *,
        backends: Sequence[str] | None = None,
        browsers: int | None = None,
        backend_options: Mapping[str, Mapping[str, Any]] | None = None,
        version: str = __version__,
    ):
        self.backends = list(backends) if backends else None
        self.browsers = browsers
        self.backend_options = {k: dict(v) for k, v in (backend_options or {}).items()}
        self.version = version
        self.info: dict[str, Any] = {}
        self.pool: BackendPool | None = None

    async def setup(self, worker: Worker) -> None:
        """Probe the machine, open the pool, advertise the resources to the scheduler."""
        info = await asyncio.to_thread(machine_info, self.backends, self.browsers)
        self.info = {
            **info,
            "version": self.version,
            "address": worker.address,
            "nthreads": worker.state.nthreads,
        }
        self.pool = BackendPool(self.backend_options, browsers=info["browsers"], max_crashes=3)
        resources = dict(info["resources"])
        if worker.status == Status.running:
            await worker.set_resources(**resources)
        else:  # preloaded: the worker sends its resources when it registers
            for r, quantity in resources.items():
                worker.state.available_resources[r] = quantity
                worker.state.total_resources[r] = quantity

    def teardown(self, worker: Worker) -> None:
        """Close the browsers and devices of the pool."""
        if self.pool is not None:
            self.pool.close()

    def get_pool(self) -> BackendPool:
        """The worker's pool (opened by :meth:`setup`)."""
        with _POOL_LOCK:
            if self.pool is None:
                self.pool = BackendPool(self.backend_options, browsers=self.browsers, max_crashes=3)
            return self.pool


def worker_info(dask_worker: Worker) -> dict[str, Any] | None:
    """The plugin's description of ``dask_worker`` (``None``: started without the plugin);
    called on every worker by ``Client.run``."""
    plugin = dask_worker.plugins.get(PLUGIN_NAME)
    if not isinstance(plugin, AcceleratorPlugin) or not plugin.info:
        return None
    return {**plugin.info, "address": dask_worker.address}


def _env_list(name: str) -> list[str] | None:
    value = os.environ.get(name, "").strip()
    return [v.strip() for v in value.split(",") if v.strip()] or None


async def dask_setup(worker: Worker) -> None:
    """``dask worker ... --preload accel_toolkit.distributed``: add the plugin to the worker
    (backends and browsers from ``ACCEL_TOOLKIT_WORKER_BACKENDS`` / ``_BROWSERS``)."""
    browsers = os.environ.get("ACCEL_TOOLKIT_WORKER_BROWSERS", "").strip()
    plugin = AcceleratorPlugin(
        backends=_env_list("ACCEL_TOOLKIT_WORKER_BACKENDS"),
        browsers=int(browsers) if browsers else None,
    )
    await worker.plugin_add(plugin, name=PLUGIN_NAME)
