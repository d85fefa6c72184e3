"""Backends opened once per sweep, reused across configurations, recovered after crashes.

A pool holds up to ``browsers`` instances of each browser backend (``webgpu``, ``webnn``)
and one of every other backend. :meth:`BackendPool.measure` leases an instance for one
configuration, health-checks it when it comes back, relaunches a crashed browser after an
exponential backoff with jitter, and quarantines a configuration that crashed browsers
``max_crashes`` times (stored as ``error`` with the reason), so it cannot take a sweep down.
"""

from __future__ import annotations

import contextlib
import os
import random
import threading
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ..exceptions import BackendUnavailableError
from . import Backend, get_backend

if TYPE_CHECKING:
    import numpy as np

    from ..harness import Outcome, TimingSettings
    from ..kernels import KernelSpec

__all__ = ["BackendPool", "default_browsers"]

#: backends whose pool holds ``browsers`` instances (one browser process each)
POOLED = ("webgpu", "webnn")
#: cores one headless browser keeps busy while it measures (its GPU process and renderer)
CORES_PER_BROWSER = 2


def default_browsers(cores: int | None = None) -> int:
    """Browsers a machine can feed: one per :data:`CORES_PER_BROWSER` cores, at least one
    (``doctor`` states it). Each headless browser holds its own GPU device; a pool never
    opens more browsers than that."""
    if cores is None:
        cores = (
            len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else (os.cpu_count() or 1)
        )
    return max(1, int(cores) // CORES_PER_BROWSER)


class BackendPool:
    """Opens each backend on first use and keeps it (one browser for a whole sweep).

    A backend that cannot be opened is remembered as unavailable, so every configuration
    gets the same clear error without trying again.

    Parameters
    ----------
    options : dict, optional
        ``{backend: {option: value}}`` for the backend constructors.
    instances : dict, optional
        Already-open backends (the caller closes them).
    browsers : int
        Instances of each browser backend that :meth:`measure` may use at once.
    max_crashes : int
        Browser crashes after which a configuration is quarantined (stored as ``error``);
        ``1`` (the default) stores a crashed configuration as ``error`` at once, more retry it
        on a relaunched browser (a cluster worker's pool retries 3 times).
    backoff : float
        Seconds before the first relaunch of a crashed browser; doubled after every further
        crash of the same backend (at most 30 s), with up to 50% random jitter.
    """

    def __init__(
        self,
        options: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        instances: Mapping[str, Backend] | None = None,
        browsers: int | None = 1,
        max_crashes: int = 1,
        backoff: float = 0.5,
    ):
        self._options = {k: dict(v) for k, v in (options or {}).items()}
        self._open: dict[str, Backend] = dict(instances or {})
        self._failed: dict[str, BackendUnavailableError] = {}
        self.browsers = default_browsers() if browsers is None else max(1, int(browsers))
        self.max_crashes = int(max_crashes)
        self.backoff = float(backoff)
        self._cond = threading.Condition()
        self._idle: dict[str, list[Backend]] = {n: [b] for n, b in self._open.items()}
        self._size: dict[str, int] = {n: 1 for n in self._open}
        self._crashes: dict[str, int] = {}
        self.relaunches = 0

    def get(self, name: str) -> Backend:
        if name in self._failed:
            raise self._failed[name]
        if name not in self._open:
            try:
                be = get_backend(name, **self._options.get(name, {}))
            except BackendUnavailableError as exc:
                self._failed[name] = exc
                raise
            with self._cond:  # the first instance leases hand out too
                self._open[name] = be
                self._idle.setdefault(name, []).append(be)
                self._size[name] = self._size.get(name, 0) + 1
        return self._open[name]

    def __contains__(self, name: object) -> bool:
        return name in self._open

    def venue_of(self, name: str) -> str:
        if name in self._open:
            return self._open[name].venue
        default = "headless" if name in ("webgpu", "webnn") else "process"
        return str(self._options.get(name, {}).get("venue") or default)

    def recover(self, name: str) -> None:
        """After a crash: let the backend relaunch itself, or reopen it."""
        be = self._open.get(name)
        if be is None:
            return
        try:
            be.recover()
        except Exception:
            try:
                be.close()
            finally:
                self._open.pop(name, None)
                with self._cond:
                    if be in self._idle.get(name, []):
                        self._idle[name].remove(be)
                        self._size[name] -= 1

    # -- leases: several instances measured from several threads ----------------------------
    def _capacity(self, name: str) -> int:
        return self.browsers if name in POOLED else 1

    def _acquire(self, name: str) -> Backend:
        with self._cond:
            while True:
                if name in self._failed:
                    raise self._failed[name]
                idle = self._idle.setdefault(name, [])
                if idle:
                    return idle.pop()
                if self._size.get(name, 0) < self._capacity(name):
                    self._size[name] = self._size.get(name, 0) + 1
                    break
                self._cond.wait()
        try:  # open outside the lock: launching a browser takes seconds
            be = get_backend(name, **self._options.get(name, {}))
        except BaseException as exc:
            with self._cond:
                self._size[name] -= 1
                if isinstance(exc, BackendUnavailableError):
                    self._failed[name] = exc
                self._cond.notify_all()
            raise
        with self._cond:
            self._open.setdefault(name, be)
        return be

    def _release(self, name: str, be: Backend, crashed: bool) -> None:
        healthy = not crashed and _healthy(be)
        if not healthy:
            with self._cond:
                n = self._crashes[name] = self._crashes.get(name, 0) + 1
            delay = min(30.0, self.backoff * 2 ** (n - 1)) * (1 + 0.5 * random.random())
            time.sleep(delay)  # exponential backoff with jitter before the relaunch
            try:
                be.recover()
                healthy = _healthy(be)
            except Exception:
                healthy = False
            self.relaunches += 1
        with self._cond:
            if healthy:
                self._idle.setdefault(name, []).append(be)
                if not crashed:
                    self._crashes[name] = 0
            else:  # drop it; the next lease opens a fresh instance
                self._size[name] -= 1
                if self._open.get(name) is be:
                    del self._open[name]
                with contextlib.suppress(Exception):
                    be.close()
            self._cond.notify_all()

    @contextlib.contextmanager
    def lease(self, name: str) -> Iterator[_Lease]:
        """One instance of backend ``name`` for the block, health-checked when it returns."""
        lease = _Lease(self, name)
        try:
            yield lease
        finally:
            if lease.backend is not None:
                self._release(name, lease.backend, lease.crashed)

    def measure(
        self,
        name: str,
        spec: KernelSpec,
        p: Mapping[str, Any],
        dtype: str,
        seed: int,
        inputs: Mapping[str, np.ndarray],
        reference: Mapping[str, np.ndarray],
        timing: TimingSettings,
    ) -> Outcome:
        """Measure one configuration on a leased instance of ``name`` (thread-safe).

        A browser crash is retried on a relaunched browser; after :attr:`max_crashes` crashes
        the configuration is quarantined: its row is ``error`` and says so.
        """
        from ..harness import measure_one

        errors: list[str] = []
        while True:
            with self.lease(name) as lease:
                row, samples = measure_one(
                    lease, name, spec, p, dtype, seed, inputs, reference, timing
                )
            if not lease.crashed:
                return row, samples
            errors.append(str(row.get("error")))
            if len(errors) >= self.max_crashes:
                if self.max_crashes <= 1:
                    return row, samples
                row["error"] = (
                    f"quarantined after {len(errors)} browser crashes on this "
                    f"configuration (last: {errors[-1]}); measure it alone with "
                    f"bench(..., backends='{name}') to investigate"
                )
                return row, samples

    def close(self) -> None:
        with self._cond:
            every = {
                id(b): b
                for b in [*self._open.values(), *(b for v in self._idle.values() for b in v)]
            }
            self._open.clear()
            self._idle.clear()
            self._size.clear()
        for be in every.values():
            try:
                be.close()
            except Exception:
                pass

    def __enter__(self) -> BackendPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _healthy(be: Backend) -> bool:
    """Whether ``be`` can take the next configuration (a backend's ``healthy()``, if any)."""
    check = getattr(be, "healthy", None)
    if check is None and hasattr(be, "session"):  # a browser backend: is Chromium alive?
        check = getattr(be.session, "alive", None)
    try:
        return bool(check()) if callable(check) else True
    except Exception:
        return False


class _Lease:
    """The :class:`~accel_toolkit.harness._measure.Pool` view of one leased instance."""

    def __init__(self, pool: BackendPool, name: str):
        self.pool = pool
        self.name = name
        self.backend: Backend | None = None
        self.crashed = False

    def get(self, name: str) -> Backend:
        if self.backend is None:
            self.backend = self.pool._acquire(name)
        return self.backend

    def venue_of(self, name: str) -> str:
        return self.backend.venue if self.backend is not None else self.pool.venue_of(name)

    def recover(self, name: str) -> None:
        """A crash: the instance is relaunched (after a backoff) when the lease ends."""
        self.crashed = True
