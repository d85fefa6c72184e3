"""The ``cpu`` backend: each kernel's numpy implementation in the requested dtype."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..harness import TimingSettings, cpu_caches, cpu_model, environment, time_callable
from ..kernels import KernelSpec, array_ops
from ._base import Availability, Backend, Measurement

__all__ = ["CpuBackend"]


class CpuBackend(Backend):
    """numpy on the CPU of the kernel process (BLAS for the matmuls)."""

    name = "cpu"

    def __init__(self) -> None:
        self._ops = array_ops(np)

    @classmethod
    def probe(cls) -> Availability:
        return Availability("cpu", True, "numpy is always available", cls._device())

    @staticmethod
    def _device() -> dict[str, Any]:
        env = environment()
        libs = [b for b in env["blas"] if b.get("user_api") == "blas"]
        # the one numpy calls (scipy may load another): what the cpu kernels run on, and
        # what the speed model's GEMM rules read
        libs = [b for b in libs if b.get("numpy")] or libs
        blas = ", ".join(
            f"{b.get('internal_api')} {b.get('version')} ({b.get('num_threads')} threads)"
            for b in libs
        )
        return {
            "name": cpu_model(),
            "cores": env["cores_available"],
            "caches": cpu_caches(),
            "numpy": np.__version__,
            "blas": blas or "unknown",
        }

    def device_info(self) -> dict[str, Any]:
        return self._device()

    def run(
        self,
        spec: KernelSpec,
        params: Mapping[str, Any],
        dtype: str,
        inputs: Mapping[str, np.ndarray],
    ) -> dict[str, np.ndarray]:
        out = spec.impl(self._ops, inputs, params)
        return {k: np.asarray(v) for k, v in out.items()}

    def measure(
        self,
        spec: KernelSpec,
        params: Mapping[str, Any],
        dtype: str,
        inputs: Mapping[str, np.ndarray],
        settings: TimingSettings,
    ) -> Measurement:
        outputs = self.run(spec, params, dtype, inputs)
        timing = time_callable(lambda: spec.impl(self._ops, inputs, params), settings)
        return Measurement(
            outputs=outputs, timing=timing, device=self.device_info(), venue="process"
        )
