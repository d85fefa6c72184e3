"""MiniLM's forward on accel_toolkit's backends next to ONNX Runtime (CPU, in-process).

Same model, weights, batch, sequence and inputs on every side; the time of one forward
includes what each tool normally includes (inputs in, embeddings out as numpy). Rounds are
interleaved (A B | B A ...) so drift on a shared machine hits every side alike; every round's
median is printed, then the median of the rounds and the ratio to onnxruntime.

    .venv/bin/python benchmarks/model_peers.py --batch 1 --seq 128 --rounds 6
    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/model_peers.py --ort-threads 1

ORT Web (WebGPU and WASM execution providers in Chromium) is not measured here yet.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from accel_toolkit.models import get_model_spec, load_weights, synthetic_inputs
from accel_toolkit.models._cpu import cpu_forward
from accel_toolkit.models._onnx import ort_feeds, ort_session


def _median_time(fn: Callable[[], object], calls: int) -> float:
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=6, help="interleaved rounds (even)")
    ap.add_argument("--calls", type=int, default=10, help="timed forwards per side and round")
    ap.add_argument("--ort-threads", type=int, default=0, help="ORT intra-op threads (0: default)")
    ap.add_argument("--wgpu", action="store_true", help="also time the wgpu backend")
    a = ap.parse_args()

    spec = get_model_spec("minilm-l6")
    x = synthetic_inputs(spec, a.batch, a.seq)
    w = load_weights(spec)
    sess = ort_session("minilm-l6", a.ort_threads)
    feeds = ort_feeds(x)
    sides: dict[str, Callable[[], np.ndarray]] = {
        "accel_toolkit cpu": lambda: cpu_forward(spec, w, x)[0],
        "onnxruntime cpu": lambda: np.asarray(sess.run(["embeddings"], feeds)[0]),
    }
    if a.wgpu:
        from accel_toolkit.models._wgpu import WgpuModel

        m = WgpuModel.shared("minilm-l6")
        sides["accel_toolkit wgpu"] = lambda: m.forward(x)
    outs = {k: f() for k, f in sides.items()}  # first runs (compile, allocate), untimed
    ref = outs["onnxruntime cpu"]
    for k, o in outs.items():
        cos = (o * ref).sum(1) / np.linalg.norm(o, axis=1) / np.linalg.norm(ref, axis=1)
        print(f"{k:20s} cosine to onnxruntime: min {cos.min():.7f}")
    per: dict[str, list[float]] = {k: [] for k in sides}
    names = list(sides)
    for r in range(a.rounds):
        order = names if r % 2 == 0 else names[::-1]
        for k in order:
            per[k].append(_median_time(sides[k], 1 if "wgpu" in k else a.calls))
        print(f"round {r}: " + ", ".join(f"{k} {per[k][-1] * 1e3:.1f} ms" for k in names))
    base = statistics.median(per["onnxruntime cpu"])
    print(f"\nbatch {a.batch}, seq {a.seq}: median of {a.rounds} rounds")
    for k in names:
        med = statistics.median(per[k])
        ratios = [p / q for p, q in zip(per[k], per["onnxruntime cpu"], strict=True)]
        print(f"  {k:20s} {med * 1e3:8.1f} ms   x{med / base:5.2f} of onnxruntime "
              f"(per-round ratios {min(ratios):.2f}-{max(ratios):.2f})")


if __name__ == "__main__":
    main()
