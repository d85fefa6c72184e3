"""How fast this machine is, moment by moment: a fixed probe timed every few milliseconds.

On a shared VM the speed of a core moves in states that last from a tenth of a second to
seconds, without any CPU time being stolen (another tenant on the same physical core or
memory bus slows us while we run). This script shows them: it times a fixed probe (20 x a
64x64 float32 matmul and an exp over 4096 floats) every 5 ms for ``--seconds`` and prints
one character per 0.2 s: ``.`` within 10% of the fastest 5% of probes, ``+`` 10-25% slower,
``#`` more than 25% slower. It also says how the probe time differs between the cores the
process ran on, and how much CPU time the hypervisor stole meanwhile (``/proc/stat``).

Usage::

    python benchmarks/machine_states.py --seconds 40

What it found is in docs/reproducibility.md ("Taking turns").
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def _cpu() -> int:
    with open("/proc/self/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[36])


def _steal() -> tuple[int, int]:
    with open("/proc/stat") as f:
        vals = [int(v) for v in f.readline().split()[1:]]
    return vals[7], sum(vals)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=40.0)
    ap.add_argument("--bin", type=float, default=0.2, help="seconds per printed character")
    args = ap.parse_args()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    a = np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32)
    x = np.random.default_rng(1).standard_normal(4096).astype(np.float32)
    rows = []
    steal0 = _steal()
    t_end = time.perf_counter() + args.seconds
    while time.perf_counter() < t_end:
        t0 = time.perf_counter_ns()
        for _ in range(20):
            np.exp(x)
            a @ a
        t1 = time.perf_counter_ns()
        rows.append((time.perf_counter(), (t1 - t0) / 20e3, _cpu()))
        time.sleep(0.005)
    steal1 = _steal()
    o = np.array(rows)
    base = float(np.percentile(o[:, 1], 5))
    bins = ((o[:, 0] - o[0, 0]) / args.bin).astype(int)
    line = ""
    for b in range(int(bins.max()) + 1):
        v = o[bins == b, 1]
        r = float(np.median(v)) / base if len(v) else 1.0
        line += "." if r < 1.1 else ("+" if r < 1.25 else "#")
    print(f"probe: fastest 5% at {base:.2f} us; one character per {args.bin} s")
    for i in range(0, len(line), 100):
        print(line[i : i + 100])
    for c in sorted({int(c) for c in o[:, 2]}):
        sel = o[:, 2] == c
        print(
            f"core {c}: {sel.mean():.0%} of probes, median {np.median(o[sel, 1]) / base:.2f}x "
            f"the fastest"
        )
    print(f"slower than 1.1x: {np.mean(o[:, 1] / base > 1.1):.0%} of probes")
    d_steal, d_total = steal1[0] - steal0[0], steal1[1] - steal0[1]
    print(f"CPU time stolen meanwhile: {d_steal / max(d_total, 1):.2%}")


if __name__ == "__main__":
    main()
