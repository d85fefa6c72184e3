"""Check the ``cuda`` backend on a real NVIDIA GPU: correctness first, then speed.

Run it from a checkout (no install, no network)::

    PYTHONPATH=. python scripts/device_check.py            # or: bash scripts/device_check.sh
    PYTHONPATH=. python scripts/device_check.py --quick    # fewer sizes, shorter timing

Needs only numpy and CuPy (plus the accel_toolkit sources). pandas, duckdb, scipy and pytest
are optional: without pandas/duckdb the package's ``__init__`` (notebook API, results
store) is bypassed and only the kernels, harness and backends are imported; without scipy the
reference's erf falls back to ``math.erf``.

1. Environment: GPU name, SM count, memory, clocks, L2, driver / runtime / NVRTC versions.
2. Correctness: every kernel x {ours, cupy} x {float32, float16} on the tiny preset, its
   edge cases (``KernelSpec.edge_cases``, ours) and one medium size, against the float64
   numpy reference with the kernel's stated tolerance.
3. Speed: our kernels next to cuBLAS / CuPy on the same device (CUDA events), as TFLOP/s or
   TB/s and as a fraction of the device's peak (a small table of known GPUs) and of the
   measured device-to-device copy bandwidth; the targets are marked PASS/FAIL:
   tiled f32 matmul >= 50% of cuBLAS SGEMM at 4096; softmax and layernorm >= 70% of the
   memory bandwidth.

Exit status: 0 when every check of our kernels passed (targets are reported, not enforced),
1 when a correctness check of our kernels failed, 2 when CUDA is unavailable.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
import types
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
T_START = time.perf_counter()


def _import_toolkit() -> str:
    """Import accel_toolkit; without its notebook/store dependencies, bypass its __init__."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    try:
        importlib.import_module("accel_toolkit")
        return "full package"
    except ModuleNotFoundError as exc:
        missing = exc.name
        for name in [
            m for m in sys.modules if m == "accel_toolkit" or m.startswith("accel_toolkit.")
        ]:
            del sys.modules[name]
        pkg = types.ModuleType("accel_toolkit")
        pkg.__path__ = [str(ROOT / "accel_toolkit")]  # submodules import, __init__ does not run
        sys.modules["accel_toolkit"] = pkg
        return f"kernels/harness/backends only ({missing} is not installed)"


MODE = _import_toolkit()

import numpy as np  # noqa: E402

from accel_toolkit.backends._cuda import CudaBackend  # noqa: E402
from accel_toolkit.harness import TimingSettings  # noqa: E402
from accel_toolkit.kernels import get_kernel, kernel_names  # noqa: E402

# Spec-sheet peaks: (name substring, FP32 TFLOP/s without tensor cores, FP16 tensor TFLOP/s
# dense, memory TB/s). First match wins, so more specific names come first.
PEAKS = [
    ("H200 NVL", 60.0, 835.0, 4.8),
    ("H200", 66.9, 989.4, 4.8),
    ("H100 NVL", 60.0, 835.0, 3.9),
    ("H100 PCIe", 51.2, 756.0, 2.0),
    ("H100", 66.9, 989.4, 3.35),  # SXM5: "NVIDIA H100 80GB HBM3"
    ("A100-SXM4-80GB", 19.5, 312.0, 2.039),
    ("A100 80GB PCIe", 19.5, 312.0, 1.935),
    ("A100", 19.5, 312.0, 1.555),
    ("L4", 30.3, 121.0, 0.3),
]

# (kernel, params, dtype, what to report, target) for the speed table
BENCH = [
    ("matmul", {"M": 4096, "N": 4096, "K": 4096}, "float32", "flops", ("cupy", 0.50)),
    ("softmax", {"rows": 16384, "cols": 4096}, "float32", "bytes", ("bandwidth", 0.70)),
    ("layernorm", {"rows": 16384, "cols": 4096}, "float32", "bytes", ("bandwidth", 0.70)),
    ("softmax", {"rows": 65536, "cols": 512}, "float32", "bytes", None),
    ("layernorm", {"rows": 65536, "cols": 1024}, "float32", "bytes", None),
    ("matmul", {"M": 4096, "N": 4096, "K": 4096}, "float16", "flops", None),
    ("batched_matmul", {"B": 32, "M": 512, "N": 512, "K": 512}, "float32", "flops", None),
    ("linear_gelu", {"M": 4096, "N": 4096, "K": 1024}, "float32", "flops", None),
    (
        "conv2d",
        {"N": 8, "C": 64, "H": 56, "W": 56, "F": 64, "kernel": 3, "stride": 1, "padding": 1},
        "float32",
        "flops",
        None,
    ),
    (
        "attention",
        {"batch": 4, "heads": 12, "seq": 1024, "head_dim": 64, "causal": True},
        "float32",
        "flops",
        None,
    ),
    ("matmul_int8", {"M": 4096, "N": 4096, "K": 4096}, "float32", "flops", None),
    ("gelu", {"n": 1 << 26}, "float32", "bytes", None),
    ("add_mul_relu", {"n": 1 << 26}, "float32", "bytes", None),
    ("reduce", {"rows": 16384, "cols": 8192, "op": "sum", "axis": 1}, "float32", "bytes", None),
    ("quantize_int8", {"rows": 16384, "cols": 4096}, "float32", "bytes", None),
    ("dequantize_int8", {"rows": 16384, "cols": 4096}, "float32", "bytes", None),
]


def say(*parts: Any) -> None:
    print(*parts, flush=True)


def peaks_for(name: str) -> tuple[str, float, float, float] | None:
    for row in PEAKS:
        if row[0].lower() in name.lower():
            return row
    return None


def copy_bandwidth(cp: Any, nbytes: int = 1 << 30, reps: int = 10) -> float:
    """Measured device-to-device copy bandwidth in bytes/s (read + write counted)."""
    src = cp.ones(nbytes // 4, dtype=cp.float32)
    dst = cp.empty_like(src)
    times = []
    for _ in range(reps + 2):
        a, b = cp.cuda.Event(), cp.cuda.Event()
        a.record()
        dst.data.copy_from_device_async(src.data, src.nbytes)
        b.record()
        b.synchronize()
        times.append(cp.cuda.get_elapsed_time(a, b) / 1e3)
    del src, dst
    cp.get_default_memory_pool().free_all_blocks()
    return 2.0 * nbytes / float(np.median(times[2:]))


def correctness(backends: dict[str, CudaBackend], quick: bool) -> tuple[int, int, int, list[dict]]:
    """Returns (ours_passed, ours_failed, library_failed, rows)."""
    ok = bad = lib_bad = 0
    rows = []
    say("\n== correctness: every kernel vs the float64 numpy reference (stated tolerances) ==")
    for kernel in kernel_names():
        spec = get_kernel(kernel)
        base = spec.preset("tiny")
        edge = spec.edge_configs()
        medium = [] if quick else spec.preset("medium")[:1]
        for variant, be in backends.items():
            cfgs = base + medium + (edge if variant == "ours" else [])
            for dtype in ("float32", "float16"):
                n_ok, worst, fails = 0, 0.0, []
                for p in cfgs:
                    try:
                        inputs = spec.make_inputs(p, dtype, seed=1)
                        out = be.run(spec, p, dtype, inputs)
                        chk = spec.check(out, spec.reference(inputs, p), p, dtype)
                        passed, text = chk.passed, chk.describe()
                        worst = max(worst, chk.max_abs_err)
                    except Exception as exc:  # report and go on
                        passed, text = False, f"{type(exc).__name__}: {exc}"
                    rows.append(
                        {
                            "kernel": kernel,
                            "variant": variant,
                            "dtype": dtype,
                            "params": p,
                            "passed": passed,
                            "check": text,
                        }
                    )
                    if passed:
                        n_ok += 1
                    else:
                        fails.append(f"      {p}: {text[:400]}")
                if variant == "ours":
                    ok += n_ok
                    bad += len(fails)
                else:
                    lib_bad += len(fails)
                mark = "ok  " if not fails else "FAIL" if variant == "ours" else "lib-mismatch"
                say(
                    f"  {mark} {kernel:16s} {variant:5s} {dtype:8s} {n_ok}/{len(cfgs)} "
                    f"(max abs err {worst:.2e})"
                )
                for f in fails:
                    say(f)
    return ok, bad, lib_bad, rows


def speed(
    backends: dict[str, CudaBackend], info: dict[str, Any], quick: bool, deadline: float
) -> list[dict]:
    import cupy as cp

    settings = TimingSettings(
        warmup_time=0.05,
        target_sample_time=0.005,
        min_time=0.1,
        max_time=0.3 if quick else 0.6,
        min_samples=8,
    )
    peak = peaks_for(info["name"])
    copy_bw = copy_bandwidth(cp)
    say("\n== speed: CUDA events, warm (L2 not flushed) unless marked cold ==")
    if peak:
        say(
            f"  peak (spec sheet, {peak[0]}): FP32 {peak[1]} TFLOP/s, "
            f"FP16 tensor {peak[2]} TFLOP/s, memory {peak[3]} TB/s"
        )
    else:
        say(
            f"  no spec-sheet peak for {info['name']!r}; "
            "bandwidth targets use the measured copy bandwidth"
        )
    if info.get("peak_bandwidth_Bps"):
        say(
            "  memory bandwidth from clocks x bus width: "
            f"{info['peak_bandwidth_Bps'] / 1e12:.2f} TB/s"
        )
    say(f"  measured device-to-device copy: {copy_bw / 1e12:.2f} TB/s")
    bw_ref = peak[3] * 1e12 if peak else copy_bw
    rows = []
    cold_be = CudaBackend(variant="ours", cold=True)
    for kernel, params, dtype, unit, target in BENCH:
        if quick and kernel not in ("matmul", "softmax", "layernorm"):
            continue
        if time.perf_counter() > deadline:
            say(f"  SKIPPED {kernel} {params}: time budget of the check is spent")
            continue
        spec = get_kernel(kernel)
        p = spec.resolve(params)
        cost = spec.cost(p, np.dtype(dtype).itemsize)
        inputs = spec.make_inputs(p, dtype, seed=0)
        res: dict[str, Any] = {}
        outs = {}
        runs = [("ours", backends["ours"]), ("cupy", backends["cupy"])]
        if target and target[0] == "bandwidth":
            runs.append(("ours-cold", cold_be))
        for label, be in runs:
            try:
                m = be.measure(spec, p, dtype, inputs, settings)
                med = float(np.median(m.timing.samples))
                res[label] = {
                    "median_s": med,
                    "tflops": cost.flops / med / 1e12,
                    "tbps": cost.bytes / med / 1e12,
                    "compile_s": m.timing.extra.get("compile_s"),
                    "first_run_s": m.timing.first_run_s,
                    "n": int(m.timing.samples.size),
                    "kernels": m.timing.extra.get("registers"),
                }
                outs[label] = m.outputs
            except Exception as exc:
                res[label] = {"error": f"{type(exc).__name__}: {exc}"}
        # our output against the library's, on the same inputs (no float64 reference at this size)
        agree = ""
        if "ours" in outs and "cupy" in outs:
            errs = [
                float(
                    np.max(
                        np.abs(
                            outs["ours"][k].astype(np.float64) - outs["cupy"][k].astype(np.float64)
                        )
                    )
                )
                for k in outs["ours"]
                if k in outs["cupy"] and outs["ours"][k].size
            ]
            agree = f"max |ours - cupy| {max(errs):.2e}" if errs else ""
        line = f"  {kernel:15s} {dtype:8s} {json.dumps(params, separators=(',', ':')):58s}"
        for label in [r[0] for r in runs]:
            r = res.get(label, {})
            if "error" in r:
                line += f" | {label}: ERROR {r['error'][:120]}"
            elif unit == "flops":
                line += f" | {label} {r['tflops']:7.2f} TFLOP/s"
            else:
                frac = r["tbps"] * 1e12 / bw_ref
                line += (
                    f" | {label} {r['tbps']:5.2f} TB/s ({frac:4.0%} of peak, "
                    f"{r['tbps'] * 1e12 / copy_bw:4.0%} of copy)"
                )
        if unit == "flops" and "ours" in res and "tflops" in res["ours"] and peak:
            pk = peak[1] if dtype == "float32" or kernel == "matmul_int8" else peak[2]
            line += (
                f" | ours {res['ours']['tflops'] / pk:4.0%} of "
                f"{'FP32' if pk == peak[1] else 'FP16 tensor'} peak"
            )
        verdict = None
        if target and "tflops" in res.get("ours", {}):
            if target[0] == "cupy" and "tflops" in res.get("cupy", {}):
                ratio = res["ours"]["tflops"] / res["cupy"]["tflops"]
                verdict = ratio >= target[1]
                line += (
                    f"\n      TARGET ours/cuBLAS = {ratio:.0%} (>= {target[1]:.0%}): "
                    f"{'PASS' if verdict else 'FAIL'}"
                )
            elif target[0] == "bandwidth":
                frac = res["ours"]["tbps"] * 1e12 / bw_ref
                verdict = frac >= target[1]
                ref_name = "spec-sheet" if peak else "measured copy"
                line += (
                    f"\n      TARGET ours = {frac:.0%} of {ref_name} bandwidth "
                    f"(>= {target[1]:.0%}): {'PASS' if verdict else 'FAIL'}"
                )
        if agree:
            line += f" | {agree}"
        say(line)
        rows.append(
            {
                "kernel": kernel,
                "params": params,
                "dtype": dtype,
                "results": res,
                "target": target,
                "verdict": verdict,
            }
        )
        cp.get_default_memory_pool().free_all_blocks()
    cold_be.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--quick", action="store_true", help="tiny/edge sizes only and the three target benchmarks"
    )
    ap.add_argument("--json", help="write every result to this JSON file")
    ap.add_argument(
        "--budget", type=float, default=240.0, help="seconds after which benchmarks are skipped"
    )
    args = ap.parse_args(argv)

    say(f"accel_toolkit device check (import mode: {MODE})")
    a = CudaBackend.probe()
    if not a.available:
        say(f"CUDA is not available: {a.reason}")
        return 2
    info = a.device
    say("== environment ==")
    for k in (
        "name",
        "compute_capability",
        "sm_count",
        "memory_bytes",
        "l2_bytes",
        "clock_khz",
        "memory_clock_khz",
        "memory_bus_bits",
        "driver_version",
        "runtime_version",
        "nvrtc_version",
        "cupy",
        "tf32",
    ):
        say(f"  {k:18s} {info.get(k)}")
    say(f"  {'CUPY_TF32':18s} {os.environ.get('CUPY_TF32', '(unset: cuBLAS SGEMM in plain FP32)')}")

    backends = {"ours": CudaBackend(variant="ours"), "cupy": CudaBackend(variant="cupy")}
    t0 = time.perf_counter()
    ok, bad, lib_bad, crow = correctness(backends, args.quick)
    say(
        f"  -> ours: {ok} passed, {bad} failed; cupy library path: {lib_bad} mismatches "
        f"({time.perf_counter() - t0:.0f} s)"
    )
    srow = speed(backends, info, args.quick, T_START + args.budget)
    targets = [r for r in srow if r["target"]]
    say("\n== summary ==")
    say(f"  correctness of our kernels: {ok} passed, {bad} failed")
    for r in targets:
        v = r["verdict"]
        what = "ours / cuBLAS" if r["target"][0] == "cupy" else "ours / memory bandwidth"
        say(
            f"  target {r['kernel']} {r['dtype']} "
            f"{json.dumps(r['params'], separators=(',', ':'))}: "
            f"{what} >= {r['target'][1]:.0%}: "
            f"{'PASS' if v else 'FAIL' if v is not None else 'NOT MEASURED'}"
        )
    say(f"  total time {time.perf_counter() - T_START:.0f} s")
    if args.json:
        Path(args.json).write_text(
            json.dumps({"device": info, "correctness": crow, "speed": srow}, indent=1, default=str)
        )
        say(f"  results written to {args.json}")
    for be in backends.values():
        be.close()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
