"""A model's ComputePlan at a git ref against the working tree's, interleaved, on webgpu / wgpu.

Both plans run in one process on the same adapter: the ``webgpu`` side sends both to one
headless Chromium page (the page's timestamp queries time the chain, and each pass, so the
per-op split is printed), the ``wgpu`` side builds one ``WgpuModel`` per plan. Passes
alternate the order (ref, tree | tree, ref). Every output is checked against the float64
forward (cosine). Only ``_plan.py`` is taken from the ref: the shaders and everything else
are the tree's.

Usage::

    python benchmarks/model_plan_ab.py --ref 2966eba --seq 128 --passes 3
    python benchmarks/model_plan_ab.py --ref HEAD --backends wgpu --seq 32,128
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def plan_module_at(ref: str) -> types.ModuleType:
    """``accel_toolkit/models/_plan.py`` as it was at ``ref``, imported beside today's."""
    src = subprocess.run(
        ["git", "show", f"{ref}:accel_toolkit/models/_plan.py"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    mod = types.ModuleType("accel_toolkit.models._plan_at_ref")
    mod.__package__ = "accel_toolkit.models"
    # the glue shaders beside it (accel_toolkit/models/shaders/) are read from the tree
    mod.__file__ = str(REPO / "accel_toolkit" / "models" / "_plan.py")
    sys.modules[mod.__name__] = mod  # dataclasses look their module up while decorating
    exec(compile(src, f"{ref}:accel_toolkit/models/_plan.py", "exec"), mod.__dict__)
    return mod


def _cosine(out: np.ndarray, ref: np.ndarray) -> float:
    a, b = out.astype(np.float64), ref
    return float(((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)).min())


def _top(per: dict[str, float], n: int = 5) -> str:
    items = sorted(per.items(), key=lambda kv: -kv[1])[:n]
    return ", ".join(f"{k} {v * 1e3:.0f}" for k, v in items)


def run_webgpu(plans: dict[str, Any], spec: Any, seq: int, passes: int, x: Any, ref: Any) -> None:
    from accel_toolkit.harness import TimingSettings
    from accel_toolkit.models._blobs import cached_weights
    from accel_toolkit.models._embed import webgpu_backend
    from accel_toolkit.models._plan import model_gemm, plan_inputs

    be = webgpu_backend()
    gemm = model_gemm(be, spec, 1, seq)
    ready = {}
    for side, mod in plans.items():
        plan, kinds = mod.record_plan(spec, 1, seq, gemm)
        inputs = plan_inputs(plan, x, weights=False)
        ready[side] = (plan, kinds, inputs, cached_weights(be, spec.name, plan.inputs))
    settings = TimingSettings.quick().with_(min_samples=2)
    med: dict[str, list[float]] = {s: [] for s in plans}
    print(f"# webgpu: {be.device_info().get('name')}; batch 1, seq {seq}")
    for p in range(passes):
        for side in list(plans) if p % 2 == 0 else list(plans)[::-1]:
            plan, kinds, inputs, w = ready[side]
            out, res = be.run_plan(plan, inputs, settings=settings, weights=w)
            per: dict[str, float] = {}
            for k, sec in zip(kinds, res.extra.get("pass_s") or [], strict=False):
                per[k] = per.get(k, 0.0) + float(sec)
            med[side].append(float(np.median(res.samples)))
            print(
                f"pass {p} {side:5s} {med[side][-1] * 1e3:7.0f} ms  cosine "
                f"{_cosine(out['out'], ref):.7f}  per op ms: {_top(per)}",
                flush=True,
            )
    _ratios(med)


def run_wgpu(plans: dict[str, Any], spec: Any, seq: int, passes: int, x: Any, calls: int) -> None:
    import accel_toolkit.models._wgpu as wgpu_model

    models = {}
    today = wgpu_model.record_plan
    try:
        for side, mod in plans.items():
            wgpu_model.record_plan = mod.record_plan  # the model records its plan on first use
            m = wgpu_model.WgpuModel(spec.name)
            m.forward(x)
            m.forward_timed(x)
            models[side] = m
    finally:
        wgpu_model.record_plan = today
    med: dict[str, list[float]] = {s: [] for s in plans}
    print(f"# wgpu: {next(iter(models.values())).adapter}; batch 1, seq {seq}")
    for p in range(passes):
        for side in list(plans) if p % 2 == 0 else list(plans)[::-1]:
            m = models[side]
            t = []
            for _ in range(calls):
                t0 = time.perf_counter()
                m.forward(x)
                t.append(time.perf_counter() - t0)
            med[side].append(float(np.median(t)))
            per = {k: v[0] for k, v in m.forward_timed(x)[1].items()}
            print(
                f"pass {p} {side:5s} {med[side][-1] * 1e3:7.0f} ms  per op ms "
                f"(submit and wait each): {_top(per)}",
                flush=True,
            )
    _ratios(med)


def _ratios(med: dict[str, list[float]]) -> None:
    ref, tree = med["ref"], med["tree"]
    print(
        f"ref / tree per pass: {', '.join(f'{a / b:.2f}' for a, b in zip(ref, tree, strict=True))}"
        f"; medians {np.median(ref) * 1e3:.0f} / {np.median(tree) * 1e3:.0f} ms\n"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ref", required=True, help="git ref of the plan to compare against")
    ap.add_argument("--model", default="minilm-l6")
    ap.add_argument("--seq", default="128", help="comma-separated sequence lengths")
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--calls", type=int, default=3, help="wgpu forwards per pass (median)")
    ap.add_argument("--backends", default="webgpu,wgpu")
    args = ap.parse_args()

    import accel_toolkit.models._plan as tree
    from accel_toolkit.models._cpu import cpu_forward
    from accel_toolkit.models._inputs import synthetic_inputs
    from accel_toolkit.models._spec import get_model_spec
    from accel_toolkit.models._weights import load_weights

    plans = {"ref": plan_module_at(args.ref), "tree": tree}
    spec = get_model_spec(args.model)
    for seq in [int(s) for s in args.seq.split(",")]:
        x = synthetic_inputs(spec, 1, seq, 0)
        for backend in args.backends.split(","):
            if backend == "webgpu":
                ref = cpu_forward(spec, load_weights(spec), x, "float64")[0]
                run_webgpu(plans, spec, seq, args.passes, x, ref)
            elif backend == "wgpu":
                run_wgpu(plans, spec, seq, args.passes, x, args.calls)
            else:
                ap.error(f"--backends takes webgpu and/or wgpu, not {backend!r}")


if __name__ == "__main__":
    main()
