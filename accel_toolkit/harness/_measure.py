"""Measuring one configuration on one backend: the row it stores and the status it gets.

:class:`Attempt` is the one core every sweep shares, without I/O: it starts a ``measurements``
row, maps an exception to the row's ``status`` (:func:`status_of`) and completes the row from
a measurement checked against the reference. The I/O lives in thin shells around it, as
httpx's ``Client`` and ``AsyncClient`` wrap one ``BaseClient``: :func:`measure_one` (here,
blocking, backends from a :class:`~accel_toolkit.backends.BackendPool`) and
``accel_toolkit.tab._sweep.measure_one_tab`` (awaiting the live notebook tab)::

    attempt = Attempt(name, spec, params, dtype, seed, inputs, reference, timing)
    try:
        m = <measure attempt.inputs, blocking or awaited>
    except Exception as exc:
        return attempt.failed(exc, venue=...)
    return attempt.measured(m)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ..exceptions import (
    BackendUnavailableError,
    BrowserCrashedError,
    NoFrontendError,
    ResourceLimitError,
    UnsupportedKernelError,
)
from ._memory import host_shortfall
from ._stats import summarize
from ._timing import TimingSettings

if TYPE_CHECKING:
    from ..backends import Backend, Measurement
    from ..kernels import Check, KernelSpec

__all__ = [
    "Attempt",
    "Outcome",
    "STATUS_OF_ERROR",
    "complete_row",
    "error_text",
    "inputs_or_reason",
    "measure_one",
    "measurement_row",
    "refused_row",
    "status_of",
]

#: a stored row (without run and environment ids) and its raw samples (``None``: not measured)
Outcome = tuple[dict[str, Any], "np.ndarray | None"]

#: the status of a row whose measurement raised, by exception class (first match wins);
#: any other ``Exception`` is ``error``. ``unsupported`` rows are final (a resumed sweep skips
#: them); ``unavailable`` and ``error`` rows are measured again on resume.
STATUS_OF_ERROR: tuple[tuple[type[BaseException], str], ...] = (
    (BackendUnavailableError, "unavailable"),
    (UnsupportedKernelError, "unsupported"),
    (ResourceLimitError, "unsupported"),
)

#: exceptions that stop the sweep instead of becoming a row (it cannot go on without them)
STOPS_SWEEP: tuple[type[BaseException], ...] = (NoFrontendError,)


def error_text(exc: BaseException) -> str:
    """``"ExceptionClass: message"``, the ``error`` column of a failed row."""
    return f"{type(exc).__name__}: {exc}"


def status_of(exc: BaseException) -> tuple[str, str]:
    """The ``(status, error)`` a row gets when measuring it raised ``exc``."""
    for cls, status in STATUS_OF_ERROR:
        if isinstance(exc, cls):
            return status, str(exc)
    return "error", error_text(exc)


def measurement_row(
    name: str, spec: KernelSpec, p: Mapping[str, Any], dtype: str, seed: int
) -> dict[str, Any]:
    """The start of a ``measurements`` row: the configuration, its cost and its tolerance."""
    cost = spec.cost(p, np.dtype(dtype).itemsize)
    tol = spec.tolerance(p, dtype)
    return {
        "kernel": spec.name,
        "family": spec.family,
        "params": dict(p),
        "dtype": dtype,
        "seed": seed,
        "backend": name,
        "flops": cost.flops,
        "bytes": cost.bytes,
        "atol": tol.atol,
        "rtol": tol.rtol,
    }


def inputs_or_reason(
    spec: KernelSpec,
    p: Mapping[str, Any],
    dtype: str,
    seed: int,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]] | str:
    """A configuration's inputs and reference, or why they do not fit in host memory (an
    estimate from the cost model, checked before allocating, or a ``MemoryError``)."""
    reason = host_shortfall(spec, p, dtype)
    if reason:
        return reason
    try:
        inputs = spec.make_inputs(p, dtype, seed)
        return inputs, spec.reference(inputs, p)
    except MemoryError as exc:
        return f"out of host memory making the inputs and reference ({exc}); use smaller parameters"


def refused_row(
    name: str,
    spec: KernelSpec,
    p: Mapping[str, Any],
    dtype: str,
    seed: int,
    reason: str,
    *,
    venue: str,
) -> dict[str, Any]:
    """The ``unsupported`` row of a configuration refused before its inputs were made
    (``reason`` from :func:`inputs_or_reason`)."""
    row = measurement_row(name, spec, p, dtype, seed)
    row.update(status="unsupported", error=reason, venue=venue)
    return row


def complete_row(
    row: dict[str, Any], m: Measurement, check: Check, timing: TimingSettings
) -> dict[str, Any]:
    """Fill ``row`` from a measurement and its check against the reference (status ok/mismatch)."""
    s = summarize(m.timing.samples)
    row.update(
        venue=m.venue,
        device=m.device.get("name"),
        device_info=m.device,
        timer=m.timing.timer,
        median_s=s.median,
        ci_low_s=s.ci_low,
        ci_high_s=s.ci_high,
        ci_level=s.ci_level,
        iqr_s=s.iqr,
        mean_s=s.mean,
        std_s=s.std,
        min_s=s.min,
        max_s=s.max,
        n_samples=s.n,
        inner_loops=m.timing.inner_loops,
        first_run_s=m.timing.first_run_s,
        warmup_s=m.timing.warmup_s,
        max_abs_err=check.max_abs_err,
        max_rel_err=check.max_rel_err,
        atol=check.atol,
        rtol=check.rtol,
        status="ok" if check.passed else "mismatch",
        error=None if check.passed else check.describe(),
        extra={"timing": dict(m.timing.extra), "settings": timing.as_dict()},
    )
    return row


class Attempt:
    """One configuration on one backend: builds its row and gives it a status (no I/O).

    Parameters
    ----------
    name : str
        The backend's name (``cpu``, ``webgpu``, ...).
    spec, params, dtype, seed
        The configuration.
    inputs, reference : dict
        The kernel's inputs for ``seed`` and the numpy reference outputs for them.
    timing : TimingSettings
        The timing loop's settings (stored with the row).
    """

    def __init__(
        self,
        name: str,
        spec: KernelSpec,
        params: Mapping[str, Any],
        dtype: str,
        seed: int,
        inputs: Mapping[str, np.ndarray],
        reference: Mapping[str, np.ndarray],
        timing: TimingSettings,
    ):
        self.name = name
        self.spec = spec
        self.params = params
        self.dtype = dtype
        self.inputs = inputs
        self.reference = reference
        self.timing = timing
        self.row = measurement_row(name, spec, params, dtype, seed)

    def _device(self, device: Mapping[str, Any] | None) -> dict[str, Any]:
        if device is None:
            return {}
        return {"device": device.get("name"), "device_info": dict(device)}

    def unsupported(
        self, reason: str, *, venue: str, device: Mapping[str, Any] | None = None
    ) -> Outcome:
        """The row of a configuration the backend declined before running it."""
        self.row.update(status="unsupported", error=reason, venue=venue, **self._device(device))
        return self.row, None

    def failed(
        self, exc: Exception, *, venue: str, device: Mapping[str, Any] | None = None
    ) -> Outcome:
        """The row of a configuration whose measurement raised ``exc`` (see :func:`status_of`).

        Re-raises the exceptions that stop a sweep (:class:`NoFrontendError`).
        """
        if isinstance(exc, STOPS_SWEEP):
            raise exc
        status, error = status_of(exc)
        self.row.update(status=status, error=error, venue=venue, **self._device(device))
        return self.row, None

    def measured(self, m: Measurement) -> Outcome:
        """The row of a measurement, checked against the reference (``ok`` or ``mismatch``)."""
        check = self.spec.check(m.outputs, self.reference, self.params, self.dtype)
        complete_row(self.row, m, check, self.timing)
        return self.row, m.timing.samples


class Pool(Protocol):
    """What :func:`measure_one` needs of a :class:`~accel_toolkit.backends.BackendPool`."""

    def get(self, name: str) -> Backend: ...

    def venue_of(self, name: str) -> str: ...

    def recover(self, name: str) -> None: ...


def measure_one(
    pool: Pool,
    name: str,
    spec: KernelSpec,
    p: Mapping[str, Any],
    dtype: str,
    seed: int,
    inputs: Mapping[str, np.ndarray],
    reference: Mapping[str, np.ndarray],
    timing: TimingSettings,
) -> Outcome:
    """Measure one configuration on the backend ``name`` of ``pool``, blocking.

    Never raises except what stops a sweep (``KeyboardInterrupt``, :class:`NoFrontendError`):
    a failure becomes the row's ``status`` and ``error``, and a crashed browser is recovered
    for the next configuration.

    Returns
    -------
    row, samples
        The ``measurements`` row (without run and environment ids) and the raw samples
        (``None`` when nothing was measured).
    """
    attempt = Attempt(name, spec, p, dtype, seed, inputs, reference, timing)
    try:
        be = pool.get(name)
        reason = be.supports(spec, p, dtype)
        if reason:
            return attempt.unsupported(reason, venue=be.venue, device=be.device_info())
        m = be.measure(spec, p, dtype, inputs, timing)
    except Exception as exc:
        if isinstance(exc, BrowserCrashedError):
            pool.recover(name)
        return attempt.failed(exc, venue=pool.venue_of(name))
    return attempt.measured(m)
