"""A cpu backend that stops a sweep as Ctrl-C would, for the tests of interruption and resume."""

from __future__ import annotations

from typing import Any

from accel_toolkit.backends._cpu import CpuBackend


class InterruptingCpu(CpuBackend):
    """The cpu backend, interrupted (``KeyboardInterrupt``) after ``after`` measurements."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.left = after

    def measure(self, *a: Any, **k: Any) -> Any:
        if self.left == 0:
            raise KeyboardInterrupt
        self.left -= 1
        return super().measure(*a, **k)
