"""Is this machine's speed stable? Time one fixed matmul back to back and print its modes.

Usage::

    OPENBLAS_NUM_THREADS=1 python benchmarks/machine_stability.py [--seconds 10] [--size 200]

A dedicated machine gives one narrow band of per-call times. A shared VM (other tenants on the
same host) switches between speeds for seconds at a time; then a single run's median of any
benchmark lands in either mode, and only repeated, interleaved runs (``bench(shuffle=...)``
in several rounds) and the best-case figure (``statistic="min"`` in the predictor) repeat.
On the 2-core CI VM: p1 190 us, median 203 us, p90 257 us; 100-sample block medians from 191
to 257 us, with slow spells of several seconds.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--size", type=int, default=200, help="n of an n x n x n float32 matmul")
    ap.add_argument("--calls", type=int, default=5, help="calls per sample")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    a, b = (rng.random((args.size, args.size), dtype=np.float32) for _ in range(2))
    out = np.empty_like(a)
    samples = []
    end = time.perf_counter() + args.seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        for _ in range(args.calls):
            np.matmul(a, b, out=out)
        samples.append((time.perf_counter() - t) / args.calls)
    us = np.array(samples) * 1e6
    p1, p50, p90, p99 = np.percentile(us, [1, 50, 90, 99])
    print(
        f"{len(us)} samples of {args.calls} calls: p1 {p1:.1f} us, median {p50:.1f}, "
        f"p90 {p90:.1f}, p99 {p99:.1f}"
    )
    blocks = np.array([np.median(us[i : i + 100]) for i in range(0, len(us) - 99, 100)])
    print(
        f"100-sample block medians: {blocks.min():.0f}-{blocks.max():.0f} us; "
        f"{np.mean(blocks > 1.1 * p1):.0%} of blocks >10% slower than p1"
    )
    print(" ".join(f"{v:.0f}" for v in blocks))


if __name__ == "__main__":
    main()
