"""Will a configuration fit in memory? An estimate from the cost model, checked before allocating.

A sweep makes each configuration's inputs and its float64 reference in the host process
before any backend runs. :func:`host_shortfall` estimates those bytes from the kernel's cost
model and compares them with the memory this process may still take: the kernel's
``MemAvailable`` (``/proc/meminfo``), the cgroup's ``memory.max`` and the address-space limit
(``RLIMIT_AS``, ``ulimit -v``). A configuration that does not fit is refused with the numbers
instead of dying in ``numpy``. Device memory is checked by the backends themselves (CUDA's free
memory, WebGPU's ``maxBufferSize`` and ``maxStorageBufferBindingSize``), also before dispatch.
"""

from __future__ import annotations

import resource
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ..kernels import KernelSpec

__all__ = ["host_bytes_needed", "host_memory_available", "host_shortfall"]

GiB = 2**30


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_available() -> int | None:
    base = Path("/sys/fs/cgroup")
    try:
        limit = (base / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return int(limit) - int((base / "memory.current").read_text().strip())
    except (OSError, ValueError):
        return None


def _address_space_available() -> int | None:
    soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    used = 0
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                used = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return int(soft) - used


def host_memory_available() -> tuple[int | None, str]:
    """Bytes this process can still allocate, and which limit says so (``None``: unknown)."""
    found = [
        (v, name)
        for v, name in (
            (_meminfo_available(), "MemAvailable in /proc/meminfo"),
            (_cgroup_available(), "the cgroup's memory.max"),
            (_address_space_available(), "the address-space limit (RLIMIT_AS, ulimit -v)"),
        )
        if v is not None
    ]
    if not found:
        return None, "unknown"
    v, name = min(found)
    return max(int(v), 0), name


def host_bytes_needed(spec: KernelSpec, params: Mapping[str, Any], dtype: str) -> int:
    """Bytes a sweep holds for one configuration at least: the inputs and outputs in ``dtype``
    (the cost model's bytes) plus their float64 copies for the reference."""
    itemsize = np.dtype(dtype).itemsize
    return int(spec.cost(params, itemsize).bytes + spec.cost(params, 8).bytes)


def host_shortfall(spec: KernelSpec, params: Mapping[str, Any], dtype: str) -> str | None:
    """Why ``spec`` with ``params`` cannot be allocated here, or ``None`` if it fits."""
    need = host_bytes_needed(spec, params, dtype)
    have, source = host_memory_available()
    if have is None or need <= have:
        return None
    return (
        f"needs at least {need / GiB:.2f} GiB of host memory (inputs and outputs, and their "
        f"float64 copies for the reference) but {have / GiB:.2f} GiB are available "
        f"({source}); use smaller parameters"
    )
