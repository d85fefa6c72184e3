"""How the cpu softmax's time per byte grows with its size, with and without fresh temporaries.

Usage::

    OPENBLAS_NUM_THREADS=1 python benchmarks/softmax_bytes.py [--repeats 30]

Prints, for each shape, the best of ``--repeats`` calls of the cpu backend's softmax (numpy:
max, subtract, exp, sum, divide; its temporaries freshly allocated each call) and of the same
computation writing into preallocated arrays (``out=``), as nanoseconds per byte of input
and output, with the minor page faults each call took. If fresh temporaries (large numpy
allocations are mmap'd and fault on first touch) made big shapes slow, only the first column
would grow. On the 2-core CI VM (AMD EPYC, 2026-11-30) both grow alike, from 0.15 ns a byte
at 2.1 MB to 0.16 at 8 MB, 0.17-0.21 at 15 MB and 0.20-0.22 at 29 MB (three runs), with no
page faults at all once the allocator has warmed up (0-100 a call): the four arrays of a
softmax outgrow the caches. This is what the speed
model cannot learn from shapes below 2 MB (docs/predict.md, the second, larger sweep).
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable
from functools import partial

import numpy as np

SHAPES = ((400, 650), (1000, 1000), (1583, 1155), (1800, 2000))


def softmax(x: np.ndarray) -> np.ndarray:
    """The cpu backend's softmax (``accel_toolkit/kernels/_normalization.py``)."""
    z = x - x.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def softmax_into(x: np.ndarray, z: np.ndarray, e: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The same, every full-size intermediate written into a preallocated array."""
    np.subtract(x, x.max(axis=-1, keepdims=True), out=z)
    np.exp(z, out=e)
    return np.divide(e, e.sum(axis=-1, keepdims=True), out=y)


def best(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Fastest of ``repeats`` calls (seconds) and the minor page faults per call."""
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    per_call = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / repeats
    return min(times), per_call


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    print("shape        MB in+out   fresh: us  ns/B  faults   out=: us  ns/B  faults")
    for rows, cols in SHAPES:
        x = rng.uniform(-8.0, 8.0, (rows, cols)).astype(np.float32)
        z, e, y = (np.empty_like(x) for _ in range(3))
        np.testing.assert_allclose(softmax(x), softmax_into(x, z, e, y), rtol=1e-6)
        nbytes = 2 * x.nbytes
        fresh, f_faults = best(partial(softmax, x), args.repeats)
        into, i_faults = best(partial(softmax_into, x, z, e, y), args.repeats)
        print(
            f"{rows:>4}x{cols:<6} {nbytes / 1e6:9.1f} {fresh * 1e6:11.0f} "
            f"{fresh / nbytes * 1e9:5.3f} {f_faults:7.0f} {into * 1e6:10.0f} "
            f"{into / nbytes * 1e9:5.3f} {i_faults:7.0f}"
        )


if __name__ == "__main__":
    main()
