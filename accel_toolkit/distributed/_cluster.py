"""Connecting to a Dask cluster (or starting a LocalCluster) and describing its workers."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pandas as pd
from distributed import Client, LocalCluster

from .._version import __version__
from ..exceptions import ClusterError
from ._plugin import PLUGIN_NAME, AcceleratorPlugin, worker_info

__all__ = ["cluster_info", "connect", "describe_workers"]


def _unreachable(address: str, exc: BaseException) -> ClusterError:
    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return ClusterError(
        f"Cannot reach a Dask scheduler at {address!r} ({detail}). Check the address "
        f"(tcp://HOST:8786), that `dask scheduler` runs on that host and that the port is "
        f"open from here; or leave cluster= out (parallel=N starts a LocalCluster)."
    )


def scheduler_address(client: Client) -> str:
    """The address of the scheduler ``client`` talks to (e.g. ``tcp://HOST:8786``)."""
    scheduler = client.scheduler
    if scheduler is None:  # closed, or asynchronous and not awaited yet
        raise ClusterError(
            "This Dask client is not connected (closed, or not started); "
            "pass an open client, or cluster='tcp://HOST:8786'."
        )
    return str(scheduler.address)


def open_client(address: str, *, timeout: float = 10.0) -> Client:
    """A client of the scheduler at ``address``; :class:`ClusterError` if it cannot be
    reached within ``timeout`` seconds or the address is malformed."""
    if not isinstance(address, str) or not address.strip():
        raise ClusterError(
            f"cluster= must be a scheduler address like 'tcp://HOST:8786', got {address!r}."
        )
    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise _unreachable(address, exc) from None


@contextlib.contextmanager
def connect(
    *,
    cluster: str | None = None,
    client: Client | None = None,
    parallel: int | None = None,
    backends: Sequence[str] | None = None,
    browsers: int | None = None,
    backend_options: Mapping[str, Mapping[str, Any]] | None = None,
    timeout: float = 10.0,
) -> Iterator[Client]:
    """A Dask client for a sweep: ``client`` as given, a client of ``cluster`` (an address),
    or a LocalCluster of ``parallel`` worker processes with the plugin (closed afterwards).
    """
    if client is not None:
        yield client
        return
    if cluster is not None:
        own = open_client(cluster, timeout=timeout)
        try:
            yield own
        finally:
            with contextlib.suppress(Exception):
                own.close(timeout=5)
        return
    n = int(parallel or 1)
    if n < 1:
        raise ClusterError(f"parallel must be a positive number of workers, got {parallel!r}.")
    threads = 1 + (browsers or 1)
    local = LocalCluster(
        n_workers=n,
        threads_per_worker=threads,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    try:
        own = Client(local, set_as_default=False)
        try:
            own.register_plugin(
                AcceleratorPlugin(
                    backends=backends, browsers=browsers, backend_options=backend_options
                ),
                name=PLUGIN_NAME,
            )
            yield own
        finally:
            with contextlib.suppress(Exception):
                own.close(timeout=5)
    finally:
        with contextlib.suppress(Exception):
            local.close(timeout=10)


def describe_workers(client: Client) -> dict[str, dict[str, Any] | None]:
    """``{address: plugin info}`` of every worker (``None``: a worker without the plugin)."""
    try:
        found = client.run(worker_info, on_error="return")
    except (OSError, TimeoutError) as exc:
        raise _unreachable(scheduler_address(client), exc) from None
    return {addr: (info if isinstance(info, dict) else None) for addr, info in found.items()}


def cluster_info(cluster: str | None = None, *, client: Client | None = None) -> pd.DataFrame:
    """The cluster's workers: machine, toolkit version, backends with their counts, devices.

    One row per worker: ``address, hostname, env_id, version, compatible`` (same
    accel-toolkit version as this client), ``backends`` (``name:count``), ``devices`` and
    ``unavailable`` (backends doctor found missing, with the reason).
    """
    if cluster is None and client is None:
        raise ClusterError("Pass the scheduler's address (cluster='tcp://HOST:8786') or a client.")
    with connect(cluster=cluster, client=client) as c:
        workers = describe_workers(c)
    rows = []
    for addr, info in sorted(workers.items()):
        if info is None:
            rows.append(
                {
                    "address": addr,
                    "hostname": None,
                    "env_id": None,
                    "version": None,
                    "compatible": False,
                    "backends": "",
                    "devices": "",
                    "unavailable": "no accel_toolkit plugin (start the worker with "
                    "`accel-toolkit worker`)",
                }
            )
            continue
        found = info.get("backends") or []
        rows.append(
            {
                "address": addr,
                "hostname": info.get("hostname"),
                "env_id": info.get("env_id"),
                "version": info.get("version"),
                "compatible": info.get("version") == __version__,
                "backends": ", ".join(f"{k}:{int(v)}" for k, v in info["resources"].items()),
                "devices": "; ".join(
                    f"{a['name']}: {a['device'].get('name')}"
                    for a in found
                    if a.get("available") and (a.get("device") or {}).get("name")
                ),
                "unavailable": "; ".join(
                    f"{a['name']}: {a['reason']}" for a in found if not a.get("available")
                ),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "address",
            "hostname",
            "env_id",
            "version",
            "compatible",
            "backends",
            "devices",
            "unavailable",
        ],
    )
