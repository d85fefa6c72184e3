"""Input generation helpers shared by the kernel definitions."""

from __future__ import annotations

import numpy as np

DIM_MAX = 1 << 16


def uniform(
    rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype, scale: float = 1.0
) -> np.ndarray:
    """Uniform values in [-scale, scale), drawn in float32 so every dtype sees the same numbers."""
    return (
        (rng.random(shape, dtype=np.float32) * 2.0 - 1.0).__mul__(np.float32(scale)).astype(dtype)
    )


def int8s(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Uniform int8 values in [-127, 127] (symmetric quantization never produces -128)."""
    return rng.integers(-127, 128, size=shape, dtype=np.int8)
