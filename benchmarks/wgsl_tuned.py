"""Tuned vs default WGSL matmul on the wgpu backend, interleaved, several passes.

Each pass times every (size, configuration) once: one warm call, then ``--samples`` timed
calls (dispatch + device sync each; the median is the pass's figure). Passes alternate the
order of the configurations (A B C | C B A), so drift on a shared machine falls on every
configuration alike. Every configuration is checked against the numpy reference before it
is timed. Configurations:

- ``tiled``: the registry's default variant (``variants("matmul")[0]``), what the wgpu
  backend ran before tuning existed;
- ``gemm-default``: the ``gemm`` entry point with the default knobs (what an untuned
  adapter runs now);
- ``tuned``: the knobs the tuning table holds for this adapter and the size's bucket
  (skipped where none is stored);
- ``p1``, ``p2``, ...: the points given with ``--points`` (knobs as ``accel_toolkit.tune``
  prints them, ``;``-separated), e.g. to choose the default knobs.

    .venv/bin/python benchmarks/wgsl_tuned.py --sizes 256,512,1024 --passes 3 \\
        [--db PATH] [--samples 3] [--points "wg_x=16,wg_y=16,tm=4,tn=8,tk=32,shared=1,vec4=1"]
"""

from __future__ import annotations

import argparse
import statistics
import time

from accel_toolkit.backends._wgpu import WgpuBackend
from accel_toolkit.backends._wgsl import build_plan, variants
from accel_toolkit.kernels import get_kernel
from accel_toolkit.tune import SPACES, best, bucket, fingerprint, fingerprint_key, knobs_key
from accel_toolkit.tune._lookup import tuning_db


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="256,512,1024")
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--samples", type=int, default=3)
    ap.add_argument("--db", default=None, help="results database (default: the default one)")
    ap.add_argument("--points", default="", help="more knobs to time, ';'-separated")
    ap.add_argument("--no-tiled", action="store_true", help="leave out the tiled variant")
    args = ap.parse_args()
    extra = [{k: int(v) for k, v in (kv.split("=") for kv in pt.split(","))}
             for pt in args.points.split(";") if pt.strip()]
    for pt in extra:
        pt["shared"], pt["vec4"] = bool(pt["shared"]), bool(pt["vec4"])
    be = WgpuBackend(tuning=False)
    spec = get_kernel("matmul")
    fp = fingerprint_key(fingerprint("wgpu", be.device_info()))
    store = tuning_db(args.db or True)
    print(f"# wgpu: {be.device_info()['name']} ({be.device_info()['description']}), "
          f"adapter fingerprint {fp}")
    sizes = [int(s) for s in args.sizes.split(",")]
    configs: dict[int, dict[str, object]] = {}
    for s in sizes:
        p = spec.resolve(M=s, N=s, K=s)
        inputs = spec.make_inputs(p, "float32")
        ref = spec.reference(inputs, p)
        plans = {"tiled": build_plan(spec, p, "float32", variants("matmul")[0]),
                 "gemm-default": build_plan(spec, p, "float32", "gemm", SPACES["matmul"].default)}
        if args.no_tiled:
            del plans["tiled"]
        entry = best(store, "matmul", "wgpu", fp, bucket("matmul", p)) if store else None
        if entry is not None:
            plans["tuned"] = build_plan(spec, p, "float32", "gemm", entry.knobs)
        for i, pt in enumerate(extra):
            plans[f"p{i + 1}"] = build_plan(spec, p, "float32", "gemm", pt)
        configs[s] = {}
        for name, plan in plans.items():
            prep = be.prepare(plan, inputs)
            res = spec.check(prep.run_once(), ref, p, "float32")
            assert res.passed, f"{s} {name}: {res.describe()}"
            configs[s][name] = prep
            print(f"# {s} {name}: {plan.variant} {knobs_key(plan.knobs) if plan.knobs else ''}")
    table: dict[tuple[int, str], list[float]] = {}
    for k in range(args.passes):
        for s in sizes:
            names = list(configs[s])
            for name in names if k % 2 == 0 else names[::-1]:
                prep = configs[s][name]
                prep.dispatch()
                prep.sync()
                xs = []
                for _ in range(args.samples):
                    t0 = time.perf_counter()
                    prep.dispatch()
                    prep.sync()
                    xs.append(time.perf_counter() - t0)
                med = statistics.median(xs)
                table.setdefault((s, name), []).append(med)
                print(f"pass {k} {s:5d} {name:13s} {med * 1e3:10.1f} ms "
                      f"{2 * s**3 / med / 1e9:7.3f} GFLOP/s", flush=True)
    ref_name = "gemm-default" if args.no_tiled else "tiled"
    print(f"\nsize  config        median of pass medians   GFLOP/s   vs {ref_name}   per pass (ms)")
    for s in sizes:
        base = statistics.median(table[(s, ref_name)])
        for name in configs[s]:
            xs = table[(s, name)]
            m = statistics.median(xs)
            print(f"{s:5d} {name:13s} {m * 1e3:12.1f} ms {2 * s**3 / m / 1e9:14.3f} "
                  f"{base / m:9.2f}x   {', '.join(f'{x * 1e3:.0f}' for x in xs)}")


if __name__ == "__main__":
    main()
