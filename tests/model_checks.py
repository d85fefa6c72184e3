"""Shared by the model tests: the per-sentence cosine and a wgpu model or a reasoned skip."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from accel_toolkit.exceptions import BackendUnavailableError, UnsupportedKernelError


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of each row of ``a`` with the same row of ``b``, in float64."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.asarray((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1))


def open_wgpu_model(name: str, dtype: str = "float32") -> Any:
    """The process's shared ``WgpuModel`` of ``name``; a skip saying why where there is no
    wgpu-py, no adapter, or (float16) no ``shader-f16``."""
    pytest.importorskip(
        "wgpu", reason="wgpu-py is not installed: pip install 'accel-toolkit[wgpu]'"
    )
    from accel_toolkit.models._wgpu import WgpuModel

    try:
        return WgpuModel.shared(name, dtype)
    except (BackendUnavailableError, UnsupportedKernelError) as exc:
        pytest.skip(str(exc))
