"""The one exception tree of accel_toolkit.

Every error the toolkit raises on purpose is an :class:`AccelToolkitError`, and every
message says what went wrong *and what to do about it*. Subclasses also inherit the
matching built-in, so ``except ValueError`` keeps working for callers that don't know us::

    AccelToolkitError
    ├── ConfigError (ValueError)               bad input from the user
    │   ├── UnknownKernelError                 "did you mean 'matmul'?"
    │   │   └── UnknownModelError              "did you mean 'minilm-l6'?"
    │   ├── UnknownBackendError                "did you mean 'webgpu'?"
    │   ├── ParameterError                     missing / extra / out-of-range parameters
    │   └── UnsupportedDtypeError              dtype the kernel has no tolerance for
    ├── BackendError (RuntimeError)            a backend could not do what was asked
    │   ├── BackendUnavailableError            not installed / no device / no browser
    │   ├── UnsupportedKernelError             the backend cannot express this kernel/dtype
    │   ├── ResourceLimitError                 inputs exceed the device's limits
    │   ├── KernelExecutionError               it ran and failed
    │   │   ├── ShaderCompileError             WGSL / CUDA / WebNN build error (file, line)
    │   │   └── BrowserCrashedError            the browser died or hung mid-request
    │   └── NoFrontendError                    no live notebook tab answered the widget
    ├── StoreError (RuntimeError)              the results database
    │   ├── StoreLockedError                   another process holds the file
    │   ├── MissingDatabaseError (FileNotFoundError)  reading a database that is not there
    │   └── NotADatabaseError                  the file is not a DuckDB database
    │       └── CorruptDatabaseError           a DuckDB file with damaged blocks
    ├── ClusterError (RuntimeError)            the Dask scheduler is unreachable or was lost
    │   └── VersionMismatchError               no worker runs the client's toolkit version
    ├── NotebookError (RuntimeError)           papermill / report problems
    └── PredictionError (RuntimeError)         the speed predictor
        └── NotFittedError (ValueError, AttributeError)

Warnings: RefusedWorkerWarning (UserWarning), a Dask worker a sweep does not use.
"""

from __future__ import annotations

__all__ = [
    "AccelToolkitError",
    "BackendError",
    "BackendUnavailableError",
    "BrowserCrashedError",
    "ClusterError",
    "ConfigError",
    "CorruptDatabaseError",
    "KernelExecutionError",
    "MissingDatabaseError",
    "NoFrontendError",
    "NotADatabaseError",
    "NotFittedError",
    "NotebookError",
    "ParameterError",
    "PredictionError",
    "RefusedWorkerWarning",
    "ResourceLimitError",
    "ShaderCompileError",
    "StoreError",
    "StoreLockedError",
    "UnknownBackendError",
    "UnknownKernelError",
    "UnknownModelError",
    "UnsupportedDtypeError",
    "UnsupportedKernelError",
    "VersionMismatchError",
]


class AccelToolkitError(Exception):
    """Base class of every error raised on purpose by accel_toolkit."""


class ConfigError(AccelToolkitError, ValueError):
    """The user asked for something that cannot be valid (names, parameters, dtypes)."""


class UnknownKernelError(ConfigError):
    """A kernel name that is not in the registry."""


class UnknownModelError(UnknownKernelError):
    """A model name that is not in the model registry."""


class UnknownBackendError(ConfigError):
    """A backend name that accel_toolkit does not know."""


class ParameterError(ConfigError):
    """Missing, extra, mistyped or out-of-range kernel parameters."""


class UnsupportedDtypeError(ConfigError):
    """A dtype the kernel does not define (no tolerance, no inputs)."""


class BackendError(AccelToolkitError, RuntimeError):
    """A backend could not do what was asked."""


class BackendUnavailableError(BackendError):
    """The backend cannot run here (missing package, device or browser)."""


class UnsupportedKernelError(BackendError):
    """The backend cannot express this kernel, dtype or parameter combination."""


class ResourceLimitError(BackendError):
    """The inputs exceed a limit of the device (checked before dispatch)."""


class KernelExecutionError(BackendError):
    """The kernel was dispatched and failed."""


class ShaderCompileError(KernelExecutionError):
    """A shader or graph failed to compile; the message names file, line and compiler text."""


class BrowserCrashedError(KernelExecutionError):
    """The browser process died or stopped answering during a request."""


class NoFrontendError(BackendError):
    """No live notebook front end answered (papermill, plain kernel, closed tab)."""


class StoreError(AccelToolkitError, RuntimeError):
    """The results database could not be opened, read or written."""


class StoreLockedError(StoreError):
    """Another process holds the database file's write lock for too long."""


class NotADatabaseError(StoreError):
    """The path exists but is not a DuckDB database."""


class MissingDatabaseError(StoreError, FileNotFoundError):
    """A command that only reads was given a database file that does not exist."""


class CorruptDatabaseError(NotADatabaseError):
    """A DuckDB file whose blocks fail their checksums; the message says how to recover."""


class ClusterError(AccelToolkitError, RuntimeError):
    """The Dask scheduler cannot be reached, was lost mid-sweep, or has no usable worker."""


class VersionMismatchError(ClusterError):
    """Workers run another accel-toolkit version than the client (results would not compare)."""


class RefusedWorkerWarning(UserWarning):
    """A worker the sweep does not use (no plugin, or another accel-toolkit version)."""


class NotebookError(AccelToolkitError, RuntimeError):
    """A benchmark notebook or report could not be produced."""


class PredictionError(AccelToolkitError, RuntimeError):
    """The speed predictor cannot be trained or used on this data."""


class NotFittedError(PredictionError, ValueError, AttributeError):
    """The estimator is used before ``fit`` (scikit-learn's contract)."""
