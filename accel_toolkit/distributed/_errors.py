"""Errors of sweeps on a Dask cluster (part of the toolkit's one exception tree)::

    AccelToolkitError
    └── ClusterError (RuntimeError)       the scheduler cannot be reached or was lost
        └── VersionMismatchError          no worker runs the client's accel-toolkit version
"""

from __future__ import annotations

from ..exceptions import AccelToolkitError

__all__ = ["ClusterError", "RefusedWorkerWarning", "VersionMismatchError"]


class ClusterError(AccelToolkitError, RuntimeError):
    """The Dask scheduler cannot be reached, was lost mid-sweep, or has no usable worker."""


class VersionMismatchError(ClusterError):
    """Workers run another accel-toolkit version than the client (results would not compare)."""


class RefusedWorkerWarning(UserWarning):
    """A worker the sweep does not use (no plugin, or another accel-toolkit version)."""
