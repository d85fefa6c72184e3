"""What the tuner needs from a backend: run a plan, time it, say which adapter it is.

:class:`TuneDevice` wraps a ``wgpu`` or ``webgpu`` backend instance; its backend is opened
with ``tuning=False`` so that what is timed is exactly the plan given.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from typing import Any, cast

import numpy as np

from ..backends import get_backend
from ..backends._compute_plan import ComputePlan
from ..exceptions import ConfigError
from ..harness import TimingSettings, summarize
from ._fingerprint import fingerprint, fingerprint_key

__all__ = ["TUNABLE_BACKENDS", "TuneDevice"]

#: backends that run WGSL plans (and so can be tuned)
TUNABLE_BACKENDS = ("wgpu", "webgpu")


class TuneDevice:
    """A backend that runs WGSL plans, seen by the tuner.

    Parameters
    ----------
    backend : str or Backend
        ``"wgpu"`` or ``"webgpu"`` (or an open instance of one).
    """

    def __init__(self, backend: Any) -> None:
        name = backend if isinstance(backend, str) else getattr(backend, "name", "")
        if name not in TUNABLE_BACKENDS:
            raise ConfigError(
                f"backend {name!r} runs no WGSL, so it has nothing to tune; "
                f"tune one of {', '.join(TUNABLE_BACKENDS)}."
            )
        self.name = name
        self._owned = isinstance(backend, str)
        if isinstance(backend, str):
            backend = get_backend(name, tuning=False) if name == "wgpu" else get_backend(name)
        self.be = backend
        self.device = self.be.device_info()
        self.fingerprint = fingerprint(name, self.device)
        self.key = fingerprint_key(self.fingerprint)

    @property
    def limits(self) -> Mapping[str, Any]:
        if self.name == "wgpu":
            return dict(self.be.limits)
        return dict(self.device.get("limits", {}))

    def run(self, plan: ComputePlan, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run ``plan`` once; compile errors and limits raise the backend's errors."""
        if self.name == "wgpu":
            return cast("dict[str, np.ndarray]", self.be.execute(plan, inputs))
        return cast("dict[str, np.ndarray]", self.be.run_plan(plan, inputs)[0])

    def time(
        self, plan: ComputePlan, inputs: Mapping[str, np.ndarray], seconds: float
    ) -> tuple[float, int]:
        """``(median seconds per call, samples)``: one warm call, then up to 3 timed calls
        while they fit in ``seconds`` (at least one)."""
        if self.name == "wgpu":
            prep = self.be.prepare(plan, inputs)

            def call() -> float:
                t0 = time.perf_counter()
                prep.dispatch()
                prep.sync()
                return time.perf_counter() - t0

            return _sample(call, seconds)
        settings = TimingSettings.from_budget(max(0.05, seconds))
        _, timing = self.be.run_plan(plan, inputs, settings=settings)
        st = summarize(timing.samples)
        return st.median, st.n

    def recover(self) -> None:
        self.be.recover()

    def close(self) -> None:
        if self._owned:
            self.be.close()


def _sample(call: Callable[[], float], seconds: float) -> tuple[float, int]:
    spent = call()  # warm: the first dispatch after upload
    samples: list[float] = []
    while not samples or (len(samples) < 3 and spent + sum(samples) + samples[-1] <= seconds):
        samples.append(call())
    return statistics.median(samples), len(samples)
