"""CPU time stolen by the hypervisor while a sample batch ran, and what to do about it.

On a shared VM the hypervisor runs other tenants on our cores; Linux counts that time in the
``steal`` column of ``/proc/stat``. A sample batch during which time was stolen is slower for
reasons that have nothing to do with the kernel. :class:`StealMeter` reads the counters
around every batch (through a reader function, so tests pass a fake ``/proc/stat``): a batch
whose stolen share of CPU time exceeds :attr:`StealPolicy.threshold` is re-taken, up to
:attr:`StealPolicy.max_retakes` per configuration, and the batches still kept above the
threshold are counted as flagged. Where the counters cannot be read (macOS, Windows, a
sandbox without ``/proc``) the steal is ``unknown``.

The counters are in jiffies (1/100 s on Linux) summed over every CPU, so one batch of ~10 ms
on 2 cores sees about 2 jiffies: a batch's share is coarse, the row's share over all its
batches is not.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["CpuTimes", "StealMeter", "StealPolicy", "proc_stat_reader", "read_proc_stat"]

#: cumulative (steal, total) CPU time in jiffies, over every CPU
CpuTimes = tuple[int, int]


def read_proc_stat(text: str) -> CpuTimes | None:
    """``(steal, total)`` from the text of ``/proc/stat`` (its aggregate ``cpu`` line);
    ``None`` when the line is missing or has no steal column (kernels before 2.6.11)."""
    for line in text.splitlines():
        parts = line.split()
        if parts and parts[0] == "cpu":
            try:
                values = [int(v) for v in parts[1:]]
            except ValueError:
                return None
            if len(values) < 8:
                return None
            # user nice system idle iowait irq softirq steal [guest guest_nice]: guest time
            # is already counted in user and nice, so the total is the first eight columns
            return values[7], sum(values[:8])
    return None


def proc_stat_reader(path: str | os.PathLike[str] = "/proc/stat") -> Callable[[], CpuTimes | None]:
    """A reader of ``path`` for :class:`StealPolicy` (``None`` while it cannot be read)."""
    file = Path(path)

    def read() -> CpuTimes | None:
        try:
            return read_proc_stat(file.read_text())
        except OSError:
            return None

    return read


@dataclass(frozen=True, kw_only=True)
class StealPolicy:
    """What the timing loop does about stolen CPU time.

    Parameters
    ----------
    threshold : float
        A sample batch during which more than this share of the machine's CPU time was
        stolen is re-taken (0.1 = 10 %).
    max_retakes : int
        Re-takes allowed per configuration; batches above the threshold after that are kept
        and flagged.
    reader : callable
        Returns the cumulative ``(steal, total)`` jiffies, or ``None`` when unknown
        (default: :func:`proc_stat_reader` of ``/proc/stat``).
    """

    threshold: float = 0.1
    max_retakes: int = 10
    reader: Callable[[], CpuTimes | None] = field(default_factory=proc_stat_reader, compare=False)

    def meter(self) -> StealMeter:
        """A fresh meter for one configuration."""
        return StealMeter(self)


class StealMeter:
    """Stolen CPU time around the sample batches of one configuration."""

    def __init__(self, policy: StealPolicy):
        self.policy = policy
        self.retaken = 0
        self.flagged = 0
        self.batches = 0
        self._first: CpuTimes | None = None
        self._last: CpuTimes | None = None
        self._known = True

    def read(self) -> CpuTimes | None:
        """The counters now (remembered as the first reading of the configuration)."""
        now = self.policy.reader()
        if now is None:
            self._known = False
        elif self._first is None:
            self._first = now
        return now

    def retake(self, before: CpuTimes | None, *, allowed: bool = True) -> bool:
        """Account for a batch that started at ``before``: True if it must be taken again
        (``allowed=False``: the time budget is spent, so a stolen batch is kept, flagged)."""
        after = self.read()
        self.batches += 1
        if before is None or after is None:
            return False
        self._last = after
        share = _share(before, after)
        if share is None or share <= self.policy.threshold:
            return False
        if allowed and self.retaken < self.policy.max_retakes:
            self.retaken += 1
            return True
        self.flagged += 1
        return False

    @property
    def fraction(self) -> float | None:
        """The share of CPU time stolen over every batch so far (``None``: unknown)."""
        if not self._known or self._first is None or self._last is None:
            return None
        return _share(self._first, self._last)

    def summary(self) -> dict[str, Any]:
        """What a stored row keeps: ``fraction``, ``retaken``, ``flagged``, ``threshold``,
        ``source`` (``proc_stat`` or ``unknown``) and the 1-minute load average."""
        frac = self.fraction
        try:
            load: float | None = os.getloadavg()[0]
        except (OSError, AttributeError):
            load = None
        return {
            "fraction": frac,
            "retaken": self.retaken,
            "flagged": self.flagged,
            "threshold": self.policy.threshold,
            "source": "unknown" if frac is None else "proc_stat",
            "load1": load,
        }


def _share(before: CpuTimes, after: CpuTimes) -> float | None:
    total = after[1] - before[1]
    if total <= 0:
        return 0.0 if total == 0 else None
    return max(0.0, min(1.0, (after[0] - before[0]) / total))
