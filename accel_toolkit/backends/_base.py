"""The backend interface: what every engine (cpu, cuda, webgpu, webnn, wgpu) implements.

A backend is chosen by name (:func:`accel_toolkit.backends.get_backend`) and imported
lazily, so ``import accel_toolkit`` needs no GPU, browser or CUDA. A backend never invents
inputs or references: it receives the spec's inputs and returns its outputs and raw timing
samples; the harness computes statistics and the check against the reference.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..harness import TimingResult, TimingSettings
from ..kernels import KernelSpec

__all__ = ["Availability", "Backend", "Measurement"]


@dataclass(frozen=True)
class Availability:
    """Whether a backend can run here, why not, and on which device."""

    name: str
    available: bool
    reason: str
    device: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "available": self.available,
            "reason": self.reason,
            "device": self.device,
        }


@dataclass(frozen=True)
class Measurement:
    """One configuration measured on one backend.

    Attributes
    ----------
    outputs : dict
        The kernel's outputs from a run on the backend (checked against the reference).
    timing : TimingResult
        Raw samples (seconds per call), inner-loop count, first-run and warm-up cost, timer.
    device : dict
        Where it ran: device name plus everything that identifies it (adapter vendor and
        architecture, browser and version, flags, WebNN deviceType, GPU clocks, ...).
    venue : str
        ``process`` (in the Python process), ``headless`` (Playwright Chromium) or ``tab``.
    """

    outputs: dict[str, np.ndarray]
    timing: TimingResult
    device: dict[str, Any]
    venue: str


class Backend(ABC):
    """Base class of every backend.

    Subclasses set ``name`` and implement :meth:`probe`, :meth:`device_info`, :meth:`run`
    and :meth:`measure`; they may override :meth:`supports`, :meth:`recover` and
    :meth:`close`. Constructing a backend that cannot run raises
    :class:`~accel_toolkit.exceptions.BackendUnavailableError` with the fix.
    """

    name: ClassVar[str]
    #: pip extra that installs what the backend needs (named in error messages)
    extra: ClassVar[str | None] = None
    venue: str = "process"

    @classmethod
    @abstractmethod
    def probe(cls) -> Availability:
        """Check availability without raising (used by ``doctor``)."""

    @abstractmethod
    def device_info(self) -> dict[str, Any]:
        """Where results of this backend instance come from (stored with every row)."""

    def supports(self, spec: KernelSpec, params: Mapping[str, Any], dtype: str) -> str | None:
        """``None`` if the configuration can run here, else the reason it cannot."""
        return None

    @abstractmethod
    def run(
        self,
        spec: KernelSpec,
        params: Mapping[str, Any],
        dtype: str,
        inputs: Mapping[str, np.ndarray],
    ) -> dict[str, np.ndarray]:
        """Run once and return the outputs as numpy arrays."""

    @abstractmethod
    def measure(
        self,
        spec: KernelSpec,
        params: Mapping[str, Any],
        dtype: str,
        inputs: Mapping[str, np.ndarray],
        settings: TimingSettings,
    ) -> Measurement:
        """Run, time and return outputs plus raw samples."""

    def recover(self) -> None:  # noqa: B027 - optional hook, nothing to do by default
        """Bring the backend back after a crash (relaunch a browser, recreate a device)."""

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to do by default
        """Release browsers, devices and servers."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} venue={self.venue!r}>"
