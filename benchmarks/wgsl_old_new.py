"""Old vs new default WGSL plans of linear_gelu, batched_matmul, reduce and matmul_int8, on
the ``webgpu`` (Chromium's adapter, SwiftShader without a GPU) or ``wgpu`` backend.

``old`` is ``variants(kernel)[0]`` (what the backend ran before the kernel was tunable);
``new`` is the tunable variant with this adapter's default knobs (``default_for``). Every
plan is checked against the numpy reference first. Passes alternate the order (A B | B A);
each figure is the tuner's timing of one plan (``TuneDevice.time``: on webgpu the executor's
timestamp-query median, no transfers; on wgpu dispatch + sync), every pass printed.

    ACCEL_TOOLKIT_DB=/tmp/none.duckdb .venv/bin/python benchmarks/wgsl_old_new.py --passes 2
"""

from __future__ import annotations

import argparse
from typing import Any

from accel_toolkit.backends._wgsl import build_plan, variants
from accel_toolkit.kernels import get_kernel
from accel_toolkit.tuning import SPACES
from accel_toolkit.tuning._devices import TuneDevice

CASES: list[tuple[str, dict[str, Any]]] = [
    ("linear_gelu", {"M": 128, "N": 1536, "K": 384}),
    ("batched_matmul", {"B": 8, "M": 128, "N": 128, "K": 128}),
    ("reduce", {"rows": 4096, "cols": 1024}),
    ("matmul_int8", {"M": 256, "N": 256, "K": 256}),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="webgpu", choices=("webgpu", "wgpu"))
    ap.add_argument("--passes", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=1.0, help="timing budget per plan")
    args = ap.parse_args()
    dev = TuneDevice(args.backend)
    print(f"# {args.backend}: {dev.device.get('name')} {dev.device.get('description')}")
    plans = []
    for kernel, shape in CASES:
        spec = get_kernel(kernel)
        p = spec.resolve(shape)
        x = spec.make_inputs(p, "float32")
        space = SPACES[kernel]
        new = build_plan(spec, p, "float32", space.variant, space.default_for(dev.fingerprint))
        old = build_plan(spec, p, "float32", variants(kernel)[0])
        for name, plan in (("old", old), ("new", new)):
            res = spec.check(dev.run(plan, x), spec.reference(x, p), p, "float32")
            assert res.passed, f"{kernel} {name}: {res.describe()}"
            plans.append((kernel, name, plan, x))
            print(f"# {kernel} {shape} {name}: {plan.variant} {plan.knobs or ''}", flush=True)
    for k in range(args.passes):
        for kernel, name, plan, x in plans if k % 2 == 0 else plans[::-1]:
            t, n = dev.time(plan, x, args.seconds)
            print(f"pass {k} {kernel:15s} {name} {t * 1e3:9.2f} ms (n={n})", flush=True)
    dev.close()


if __name__ == "__main__":
    main()
