"""How the harness compares with timeit and a pyperf-style loop on the same kernels.

For a ~10 us kernel and a ~10 ms kernel (cpu backend), five repeated measurements by each
method; printed: the median of the five, their spread ((max - min) / median), the wall time
each method spent, and each method's median as a ratio of timeit's best-of-repeat.

    .venv/bin/python benchmarks/harness_overhead.py
"""

from __future__ import annotations

import statistics
import time
import timeit

import numpy as np

from accel_toolkit.harness import TimingSettings, summarize, time_callable
from accel_toolkit.kernels import array_ops, get_kernel

REPEATS = 5


def kernel_call(name: str, **params):
    spec = get_kernel(name)
    p = spec.resolve(params)
    x = spec.make_inputs(p)
    ops = array_ops(np)
    return lambda: spec.impl(ops, x, p), f"{name} {p}"


def harness(fn) -> float:
    return summarize(time_callable(fn, TimingSettings()).samples).median


def timeit_best(fn) -> float:
    t = timeit.Timer(fn)
    number, _ = t.autorange()  # >= 0.2 s per repeat
    return min(t.repeat(repeat=5, number=number)) / number


def pyperf_style(fn) -> float:
    """pyperf's default shape.

    Loops calibrated to >= 100 ms per value, 1 warm-up, 20 values, mean.
    """
    loops = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(loops):
            fn()
        if time.perf_counter() - t0 >= 0.1:
            break
        loops *= 2
    values = []
    for i in range(21):
        t0 = time.perf_counter()
        for _ in range(loops):
            fn()
        if i:  # first value is the warm-up
            values.append((time.perf_counter() - t0) / loops)
    return statistics.fmean(values)


def fmt(s: float) -> str:
    return f"{s * 1e6:9.2f} us" if s < 1e-3 else f"{s * 1e3:9.3f} ms"


def main() -> None:
    cases = [kernel_call("softmax", rows=8, cols=64), kernel_call("matmul", M=640, N=640, K=640)]
    methods = {"harness": harness, "timeit": timeit_best, "pyperf-style": pyperf_style}
    print(
        f"{'kernel':45s} {'method':13s} {'median of 5':>12s} {'spread':>8s} "
        f"{'wall/meas.':>11s} {'vs timeit':>9s}"
    )
    for fn, label in cases:
        fn()
        results = {}
        for name, method in methods.items():
            vals, walls = [], []
            for _ in range(REPEATS):
                t0 = time.perf_counter()
                vals.append(method(fn))
                walls.append(time.perf_counter() - t0)
            med = statistics.median(vals)
            results[name] = (med, (max(vals) - min(vals)) / med, statistics.median(walls))
        base = results["timeit"][0]
        for name, (med, spread, wall) in results.items():
            print(
                f"{label[:45]:45s} {name:13s} {fmt(med):>12s} {spread:7.1%} "
                f"{wall:10.2f}s {med / base:9.3f}"
            )


if __name__ == "__main__":
    main()
