"""MiniLM's wgpu forward in float16 against float32 on the same adapter (lavapipe here).

Both models are opened in one process (weights uploaded once each, every plan compiled by a
first forward that is not timed), then timed in interleaved passes (A B | B A ...) so drift
on a shared machine hits both alike; a side's figure in a pass is the median of ``--calls``
forwards (each: ids written, one command buffer, one readback). Every pass is printed, then
the median of the passes and the float16 / float32 ratio, and each side's least cosine per
sentence to the float64 forward.

    .venv/bin/python benchmarks/model_f16.py --batch 1 --seq 32,128 --passes 6 --calls 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from accel_toolkit.models import forward, get_model_spec, synthetic_inputs
from accel_toolkit.models._wgpu import WgpuModel


def _cos_min(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)).min())


def _median_forward(m: WgpuModel, x: object, calls: int) -> float:
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        m.forward(x)  # type: ignore[arg-type]
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", default="1")
    ap.add_argument("--seq", default="32")
    ap.add_argument("--passes", type=int, default=6)
    ap.add_argument("--calls", type=int, default=3)
    args = ap.parse_args()
    spec = get_model_spec("minilm-l6")
    models = {dt: WgpuModel.shared("minilm-l6", dt) for dt in ("float32", "float16")}
    print(f"adapter: {models['float32'].adapter}; load average {os.getloadavg()[0]:.1f}")
    for b in [int(v) for v in args.batch.split(",")]:
        for s in [int(v) for v in args.seq.split(",")]:
            x = synthetic_inputs(spec, b, s)
            ref = forward("minilm-l6", x, backend="reference")
            cos = {dt: _cos_min(m.forward(x), ref) for dt, m in models.items()}  # compiles
            per: dict[str, list[float]] = {"float32": [], "float16": []}
            for p in range(args.passes):
                order = ("float32", "float16") if p % 2 == 0 else ("float16", "float32")
                for dt in order:
                    per[dt].append(_median_forward(models[dt], x, args.calls))
                print(
                    f"batch {b} seq {s} pass {p} ({order[0][5:]} first): "
                    f"f32 {per['float32'][-1] * 1e3:.1f} ms  f16 {per['float16'][-1] * 1e3:.1f} ms"
                    f"  f16/f32 {per['float16'][-1] / per['float32'][-1]:.2f}"
                )
            ratios = [h / f for h, f in zip(per["float16"], per["float32"], strict=True)]
            print(
                f"batch {b} seq {s}: median f32 {statistics.median(per['float32']) * 1e3:.1f} ms,"
                f" f16 {statistics.median(per['float16']) * 1e3:.1f} ms, f16/f32 per pass "
                f"{min(ratios):.2f}-{max(ratios):.2f} (median {statistics.median(ratios):.2f}); "
                f"min cosine to float64: f32 {cos['float32']:.7f}, f16 {cos['float16']:.7f}; "
                f"load average {os.getloadavg()[0]:.1f}"
            )


if __name__ == "__main__":
    main()
