"""Timing one configuration the way shared/BENCHMARKING.md says a trustworthy harness does.

1. The first call is timed on its own (``first_run_s``): allocation, JIT, cache misses.
2. Warm-up **by time** (``warmup_time``), not by count.
3. The inner loop is **calibrated**: the number of calls per sample grows until one sample
   takes at least ``target_sample_time`` (timer overhead then < 1e-4 of a sample).
4. Samples are taken until the noise is low (``IQR/median < noise_target``) after at least
   ``min_time`` and ``min_samples``, or until ``max_time`` runs out.
5. Every sample (seconds per call) is kept; statistics are computed by :func:`summarize`.
6. Steal-aware: a sample batch during which the hypervisor stole CPU time (``/proc/stat``) is
   re-taken, up to a budget, and the rest are flagged (:class:`~._steal.StealPolicy`); the
   result's ``extra["steal"]`` holds the stolen share, ``unknown`` where it cannot be read.

The browser runtime (``widgets/runtime/timing.js``) implements the same loop from the same
:class:`TimingSettings`, so CPU and browser numbers mean the same thing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from ._steal import StealPolicy

__all__ = ["TimingResult", "TimingSettings", "time_batches", "time_callable"]


@dataclass(frozen=True, kw_only=True)
class TimingSettings:
    """How long and how carefully to time one configuration.

    Parameters
    ----------
    warmup_time : float
        Seconds of untimed calls after the first one.
    target_sample_time : float
        The inner loop grows until one sample takes at least this long.
    min_time, max_time : float
        Sampling runs at least ``min_time`` and at most ``max_time`` seconds (the time budget).
    min_samples, max_samples : int
        Bounds on the number of samples.
    noise_target : float
        Stop early once ``IQR / median`` of the samples is below this.
    """

    warmup_time: float = 0.1
    target_sample_time: float = 0.01
    min_time: float = 0.2
    max_time: float = 2.0
    min_samples: int = 10
    max_samples: int = 2000
    noise_target: float = 0.1

    def __post_init__(self) -> None:
        from ..exceptions import ConfigError

        if not (self.max_time > 0 and self.min_time >= 0 and self.max_time >= self.min_time):
            raise ConfigError(
                f"time budget must satisfy 0 <= min_time <= max_time and max_time > 0, got "
                f"min_time={self.min_time}, max_time={self.max_time}."
            )
        if self.min_samples < 1 or self.max_samples < self.min_samples:
            raise ConfigError("need 1 <= min_samples <= max_samples.")

    @classmethod
    def from_budget(cls, time_budget: float | None) -> TimingSettings:
        """Settings whose sampling stops after ``time_budget`` seconds per configuration."""
        if time_budget is None:
            return cls()
        tb = float(time_budget)
        return cls(
            max_time=tb,
            min_time=min(0.2, tb / 4),
            warmup_time=min(0.1, tb / 10),
            target_sample_time=min(0.01, tb / 50),
        )

    @classmethod
    def quick(cls) -> TimingSettings:
        """A tiny budget for correctness tests (the numbers are still real, just few)."""
        return cls(
            warmup_time=0.005, target_sample_time=0.001, min_time=0.01, max_time=0.1, min_samples=5
        )

    def with_(self, **changes: Any) -> TimingSettings:
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TimingResult:
    """Raw timing of one configuration."""

    samples: np.ndarray  # seconds per call, one per sample
    inner_loops: int
    first_run_s: float
    warmup_s: float
    timer: str = "perf_counter"
    extra: dict[str, Any] = field(default_factory=dict)


def _rel_iqr(x: list[float]) -> float:
    if len(x) < 4:
        return math.inf
    q1, med, q3 = np.percentile(x, [25, 50, 75])
    return float((q3 - q1) / med) if med > 0 else math.inf


def time_batches(
    batch: Callable[[int], float],
    settings: TimingSettings | None = None,
    *,
    clock: Callable[[], float] = time.perf_counter,
    timer: str = "perf_counter",
    steal: StealPolicy | None = None,
) -> TimingResult:
    """The harness loop over ``batch(n)``, which runs the kernel ``n`` times and returns the
    seconds those ``n`` calls took (wall clock, CUDA events, timestamp queries, ...).

    First call alone, warm-up by time, calibrated inner loop, adaptive stop on noise within
    ``[min_time, max_time]`` of wall time (``clock``). :func:`time_callable` is this loop with
    a wall-clock ``batch``; the CUDA backend passes an event-timed one. ``steal`` says what
    to do with batches taken while CPU time was stolen (default :class:`StealPolicy`).
    """
    s = settings or TimingSettings()
    meter = (steal or StealPolicy()).meter()
    first = batch(1)
    start = clock()
    # Warm up by time (at least one call).
    w0 = clock()
    while True:
        batch(1)
        if clock() - w0 >= s.warmup_time:
            break
    warmup = clock() - w0

    # Calibrate the inner loop; calibration batches are not samples.
    n = 1
    per_call = first
    while True:
        t = batch(n)
        per_call = t / n
        if t >= s.target_sample_time or clock() - start >= s.max_time / 2:
            break
        grow = s.target_sample_time / max(t, 1e-9) * 1.2
        n = max(n + 1, min(n * 10, math.ceil(n * grow)))

    samples: list[float] = []
    t_start = clock()
    # At least 3 samples unless even the fastest call seen says 3 would overrun the budget
    # (one noisy calibration batch must not leave a configuration with a single sample).
    fastest = min(first, per_call)
    floor = 3 if fastest * n * 3 <= s.max_time else 1
    while True:
        before = meter.read()
        took = batch(n)
        elapsed = clock() - t_start
        if meter.retake(before, allowed=elapsed < s.max_time):
            continue
        samples.append(took / n)
        if len(samples) >= s.max_samples:
            break
        if elapsed >= s.max_time and len(samples) >= floor:
            break
        if (
            elapsed >= s.min_time
            and len(samples) >= s.min_samples
            and _rel_iqr(samples) < s.noise_target
        ):
            break
    return TimingResult(
        samples=np.asarray(samples, dtype=float),
        inner_loops=n,
        first_run_s=first,
        warmup_s=warmup,
        timer=timer,
        extra={"steal": meter.summary()},
    )


def time_callable(
    fn: Callable[[], Any],
    settings: TimingSettings | None = None,
    *,
    sync: Callable[[], Any] | None = None,
    clock: Callable[[], float] = time.perf_counter,
    steal: StealPolicy | None = None,
) -> TimingResult:
    """Time ``fn()`` with warm-up, calibrated inner loop and adaptive stop.

    Parameters
    ----------
    fn : callable
        One call of the kernel. Its return value is ignored.
    settings : TimingSettings, optional
        Budget and stopping rule; defaults to ``TimingSettings()``.
    sync : callable, optional
        Called after each batch of calls before the clock is read (e.g. a device sync).
    clock : callable
        Monotonic clock in seconds.
    steal : StealPolicy, optional
        Re-take batches taken while CPU time was stolen (default :class:`StealPolicy`).
    """
    done = sync or (lambda: None)

    def batch(n: int) -> float:
        t0 = clock()
        for _ in range(n):
            fn()
        done()
        return clock() - t0

    return time_batches(batch, settings, clock=clock, steal=steal)
