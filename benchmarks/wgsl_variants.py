"""Compare the WGSL variants of a kernel on the wgpu backend (and, optionally, in Chromium).

Prints one line per (size, variant, backend): median time with its 99% CI, GFLOP/s from the
kernel's cost model, and the first-run / compile figures. Every output is checked against the
numpy reference first; a mismatch is printed instead of a time.

    .venv/bin/python benchmarks/wgsl_variants.py --kernel matmul --sizes 64,128,256 \\
        [--backends wgpu,webgpu] [--time-budget 1.0]
"""

from __future__ import annotations

import argparse

from accel_toolkit.backends import get_backend
from accel_toolkit.backends._wgsl import variants
from accel_toolkit.harness import TimingSettings, summarize
from accel_toolkit.kernels import get_kernel


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel", default="matmul")
    ap.add_argument("--sizes", default="64,128,256")
    ap.add_argument("--backends", default="wgpu")
    ap.add_argument("--time-budget", type=float, default=1.0)
    args = ap.parse_args()
    spec = get_kernel(args.kernel)
    settings = TimingSettings.from_budget(args.time_budget)
    for name in args.backends.split(","):
        be = get_backend(name)
        print(f"# {name}: {be.device_info()['name']}")
        try:
            for s in (int(x) for x in args.sizes.split(",")):
                p = spec.resolve({k: s for k in ("M", "N", "K") if k in spec.param_names})
                inputs = spec.make_inputs(p, "float32")
                ref = spec.reference(inputs, p)
                for v in variants(spec.name):
                    if name == "wgpu":
                        be.variants = {spec.name: v}
                    else:
                        be.variant = v
                    why = be.supports(spec, p, "float32")
                    if why:
                        print(f"{s:5d} {v:8s} unsupported: {why}")
                        continue
                    m = be.measure(spec, p, "float32", inputs, settings)
                    check = spec.check(m.outputs, ref, p, "float32")
                    if not check.passed:
                        print(f"{s:5d} {v:8s} {check.describe()}")
                        continue
                    st = summarize(m.timing.samples)
                    gf = spec.cost(p, 4).flops / st.median / 1e9
                    print(
                        f"{s:5d} {v:8s} median {st.median * 1e3:9.3f} ms "
                        f"[{st.ci_low * 1e3:.3f}, {st.ci_high * 1e3:.3f}] {gf:8.3f} GFLOP/s "
                        f"n={st.n} first_run {m.timing.first_run_s:.3f} s "
                        f"compile {m.timing.extra.get('compile_s', float('nan')):.3f} s "
                        f"timer={m.timing.timer}"
                    )
        finally:
            be.close()


if __name__ == "__main__":
    main()
