"""Backends, chosen by name and imported lazily.

========  =========================================================  ==================
name      what runs                                                  install
========  =========================================================  ==================
cpu       numpy in the kernel process                                (always)
wgpu      the WGSL shaders through wgpu-py (Vulkan/Metal/D3D12)      ``[wgpu]``
webgpu    the WGSL shaders in Chromium (headless venue or live tab)  ``[browser]``
webnn     WebNN graphs in Chromium                                   ``[browser]``
cuda      CUDA C++ kernels through CuPy/NVRTC, plus cuBLAS           ``[cuda]``
========  =========================================================  ==================
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any

from ..exceptions import UnknownBackendError
from ._base import Availability, Backend, Measurement

__all__ = [
    "Availability",
    "BACKENDS",
    "Backend",
    "Measurement",
    "backend_class",
    "check_backend_name",
    "doctor",
    "get_backend",
]

#: name -> "module:Class", imported only when asked for
BACKENDS: dict[str, str] = {
    "cpu": "accel_toolkit.backends._cpu:CpuBackend",
    "wgpu": "accel_toolkit.backends._wgpu:WgpuBackend",
    "webgpu": "accel_toolkit.backends.browser:WebGPUBackend",
    "webnn": "accel_toolkit.backends.browser:WebNNBackend",
    "cuda": "accel_toolkit.backends._cuda:CudaBackend",
}


def check_backend_name(name: str) -> str:
    """Return ``name`` if it is a known backend, else raise UnknownBackendError."""
    if name not in BACKENDS:
        close = difflib.get_close_matches(str(name), list(BACKENDS), n=1, cutoff=0.4)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownBackendError(
            f"Unknown backend {name!r}.{hint} Known backends: {', '.join(BACKENDS)}."
        )
    return name


def backend_class(name: str) -> type[Backend]:
    """The class of backend ``name`` (imports its module, not its heavy dependencies)."""
    module, cls = BACKENDS[check_backend_name(name)].split(":")
    found: type[Backend] = getattr(importlib.import_module(module), cls)
    return found


def get_backend(name: str, **options: Any) -> Backend:
    """An instance of backend ``name``; raises BackendUnavailableError saying how to fix it."""
    return backend_class(name)(**options)


def doctor(names: list[str] | None = None) -> list[Availability]:
    """Probe every backend (or ``names``) and say whether it runs here, why not, and where."""
    out = []
    for name in names or list(BACKENDS):
        try:
            out.append(backend_class(name).probe())
        except Exception as exc:  # a probe must never take doctor down
            out.append(Availability(name, False, f"probe failed: {type(exc).__name__}: {exc}"))
    return out
