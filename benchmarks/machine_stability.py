"""Is this machine's speed stable? Time one fixed matmul back to back and print its modes.

Usage::

    OPENBLAS_NUM_THREADS=1 python benchmarks/machine_stability.py [--seconds 10] [--size 200]
    OPENBLAS_NUM_THREADS=1 python benchmarks/machine_stability.py --seconds 40 --size 64 --timeline

``--timeline`` also prints one character per 0.2 s (``.`` within 10% of the fastest 1%,
``+`` 10-25% slower, ``#`` slower still), the median per core the process ran on, and the CPU
time the hypervisor stole meanwhile (``/proc/stat``): the slow states are not steal.

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
    ap.add_argument("--timeline", action="store_true", help="the states over time, per core")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    a, b = (rng.random((args.size, args.size), dtype=np.float32) for _ in range(2))
    out = np.empty_like(a)
    samples, when, cores = [], [], []
    steal0 = _steal()
    end = time.perf_counter() + args.seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        for _ in range(args.calls):
            np.matmul(a, b, out=out)
        samples.append((time.perf_counter() - t) / args.calls)
        if args.timeline:
            when.append(t)
            cores.append(_core())
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
    if args.timeline:
        _timeline(us, np.array(when), np.array(cores), p1, steal0)


def _core() -> int:
    with open("/proc/self/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[36])


def _steal() -> tuple[int, int]:
    with open("/proc/stat") as f:
        vals = [int(v) for v in f.readline().split()[1:]]
    return vals[7], sum(vals)


def _timeline(
    us: np.ndarray, when: np.ndarray, cores: np.ndarray, p1: float, steal0: tuple[int, int]
) -> None:
    bins = ((when - when[0]) / 0.2).astype(int)
    line = ""
    for b in range(int(bins.max()) + 1):
        v = us[bins == b]
        r = float(np.median(v)) / p1 if len(v) else 1.0
        line += "." if r < 1.1 else ("+" if r < 1.25 else "#")
    print("one character per 0.2 s:")
    for i in range(0, len(line), 100):
        print(line[i : i + 100])
    for c in sorted(set(cores.tolist())):
        sel = cores == c
        print(f"core {c}: {sel.mean():.0%} of samples, median {np.median(us[sel]) / p1:.2f}x p1")
    steal1 = _steal()
    stolen = (steal1[0] - steal0[0]) / max(steal1[1] - steal0[1], 1)
    print(f"CPU time stolen meanwhile: {stolen:.2%}")


if __name__ == "__main__":
    main()
