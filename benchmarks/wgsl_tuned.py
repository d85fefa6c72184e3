"""Tuned vs default WGSL kernels on the wgpu backend, interleaved, several passes.

Each pass times every (shape, configuration) once: one warm call, then ``--samples`` timed
calls (dispatch + device sync each; the median is the pass's figure). Passes alternate the
order of the configurations (A B C | C B A), so drift on a shared machine falls on every
configuration alike. Every configuration is checked against the numpy reference before it
is timed. Configurations:

- ``legacy``: the registry's default variant (``variants(kernel)[0]``: matmul ``tiled``,
  softmax/layernorm ``rowwise``), what the wgpu backend ran before tuning existed;
- ``default``: the tunable variant with its default knobs (what an untuned adapter runs);
- ``tuned``: the knobs the tuning table holds for this adapter and the shape's bucket
  (left out where none is stored);
- ``p1``, ``p2``, ...: the points given with ``--points`` (knobs as ``accel-toolkit tune``
  prints them, ``;``-separated), e.g. to choose the default knobs.

    .venv/bin/python benchmarks/wgsl_tuned.py --kernel matmul --sizes 256,512,1024 \\
        --passes 3 [--db PATH] [--samples 3] [--points "wg_x=16,wg_y=16,tm=4,...;..."]
    .venv/bin/python benchmarks/wgsl_tuned.py --kernel softmax --sizes 4096x512,4096x1024
    .venv/bin/python benchmarks/wgsl_tuned.py --kernel linear_gelu --sizes 128x1536x384
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from accel_toolkit.backends._wgpu import WgpuBackend
from accel_toolkit.backends._wgsl import build_plan, variants
from accel_toolkit.kernels import get_kernel
from accel_toolkit.tuning import SPACES, best, bucket, fingerprint, fingerprint_key, knobs_key
from accel_toolkit.tuning._lookup import tuning_db


def _shape(kernel: str, text: str) -> dict[str, int]:
    if kernel in ("softmax", "layernorm", "reduce"):
        r, c = text.split("x")
        return {"rows": int(r), "cols": int(c)}
    dims = [int(v) for v in text.split("x")]
    dims = dims * 3 if len(dims) == 1 else dims
    names = ("B", "M", "N", "K") if len(dims) == 4 else ("M", "N", "K")
    return dict(zip(names, dims, strict=True))


def _point(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in text.split(","):
        k, v = kv.split("=")
        out[k] = bool(int(v)) if k in ("shared", "vec4", "unroll") else int(v)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel", default="matmul", choices=sorted(SPACES))
    ap.add_argument(
        "--sizes",
        default="256,512,1024",
        help="GEMMs: square sizes, MxNxK or BxMxNxK; softmax/layernorm/reduce: ROWSxCOLS",
    )
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--samples", type=int, default=3)
    ap.add_argument("--db", default=None, help="results database (default: the default one)")
    ap.add_argument("--points", default="", help="more knobs to time, ';'-separated")
    ap.add_argument("--no-legacy", action="store_true", help="leave out the legacy variant")
    args = ap.parse_args()
    kernel = args.kernel
    space = SPACES[kernel]
    extra = [_point(pt) for pt in args.points.split(";") if pt.strip()]
    be = WgpuBackend(tuning=False)
    spec = get_kernel(kernel)
    info = be.device_info()
    fp = fingerprint_key(fingerprint("wgpu", info))
    store = tuning_db(args.db or True)
    print(f"# wgpu: {info['name']} ({info['description']}), adapter fingerprint {fp}")
    shapes = [_shape(kernel, s) for s in args.sizes.split(",")]
    configs: dict[int, dict[str, Any]] = {}
    for i, shape in enumerate(shapes):
        p = spec.resolve(shape)
        inputs = spec.make_inputs(p, "float32")
        ref = spec.reference(inputs, p)
        plans = {"default": build_plan(spec, p, "float32", space.variant, space.default)}
        if not args.no_legacy:
            plans = {"legacy": build_plan(spec, p, "float32", variants(kernel)[0]), **plans}
        entry = best(store, kernel, "wgpu", fp, bucket(kernel, p)) if store else None
        if entry is not None:
            plans["tuned"] = build_plan(spec, p, "float32", space.variant, entry.knobs)
        for j, pt in enumerate(extra):
            plans[f"p{j + 1}"] = build_plan(spec, p, "float32", space.variant, pt)
        configs[i] = {}
        for name, plan in plans.items():
            prep = be.prepare(plan, inputs)
            res = spec.check(prep.run_once(), ref, p, "float32")
            assert res.passed, f"{shape} {name}: {res.describe()}"
            configs[i][name] = (prep, spec.cost(p, 4).flops)
            print(f"# {shape} {name}: {plan.variant} {knobs_key(plan.knobs) if plan.knobs else ''}")
    table: dict[tuple[int, str], list[float]] = {}
    for k in range(args.passes):
        for i in range(len(shapes)):
            names = list(configs[i])
            for name in names if k % 2 == 0 else names[::-1]:
                prep, flops = configs[i][name]
                prep.dispatch()
                prep.sync()
                xs = []
                for _ in range(args.samples):
                    t0 = time.perf_counter()
                    prep.dispatch()
                    prep.sync()
                    xs.append(time.perf_counter() - t0)
                med = statistics.median(xs)
                table.setdefault((i, name), []).append(med)
                print(
                    f"pass {k} {args.sizes.split(',')[i]:>10s} {name:8s} {med * 1e3:10.2f} ms "
                    f"{flops / med / 1e9:7.3f} GFLOP/s",
                    flush=True,
                )
    ref_name = "default" if args.no_legacy else "legacy"
    print(
        f"\nshape       config   median of pass medians   GFLOP/s   vs {ref_name}   per pass (ms)"
    )
    for i in range(len(shapes)):
        base = statistics.median(table[(i, ref_name)])
        for name, (_, flops) in configs[i].items():
            xs = table[(i, name)]
            m = statistics.median(xs)
            print(
                f"{args.sizes.split(',')[i]:>10s} {name:8s} {m * 1e3:12.2f} ms "
                f"{flops / m / 1e9:14.3f} {base / m:9.2f}x   "
                f"{', '.join(f'{x * 1e3:.1f}' for x in xs)}"
            )


if __name__ == "__main__":
    main()
