"""Browser venue figures: per-call round-trip overhead, and matmul GFLOP/s next to TensorFlow.js.

Prints, in one run on one adapter:

1. **Round trip** (Python -> headless Chromium -> Python) of a tiny kernel (``add_mul_relu``,
   n=64) through ``Backend.run`` for ``webgpu`` and ``webnn``, with each byte transport
   (``http``: one GET/POST to the local page server; ``base64``: inline in ``page.evaluate``),
   and the same with a 4 MiB payload (n=2**18: 3 MiB in, 1 MiB out). ``in page`` is the part
   spent inside ``runtime.handle``; the rest is Playwright, transport and Python.
2. **Matmul GFLOP/s** at 256, 512 and 1024 for every WGSL variant of ``shaders/matmul.wgsl``
   (through ``widgets/runtime/webgpu.js``) and for TensorFlow.js's WebGPU backend
   (``@tensorflow/tfjs-core`` + ``@tensorflow/tfjs-backend-webgpu`` from ``node_modules``,
   loaded in the same page, so the same browser and adapter). Both are timed the same way,
   *with readback*: one call = upload A and B, multiply, read C back into JavaScript; the
   first call (shader compilation) is reported apart; the figure is the median of the
   following calls.

    .venv/bin/python benchmarks/browser_overhead.py [--sizes 256,512,1024] [--reps 3]
        [--budget 60] [--browser /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from accel_toolkit.backends import _wgsl
from accel_toolkit.backends.browser import WebGPUBackend, WebNNBackend
from accel_toolkit.backends.browser._discover import find_browser
from accel_toolkit.backends.browser._headless import HeadlessSession
from accel_toolkit.harness import TimingSettings, summarize, time_callable
from accel_toolkit.kernels import get_kernel

REPO = Path(__file__).resolve().parent.parent

BENCH_JS = """
async ([kind, n, reps, budget, plan, variant]) => {
  const A = new Float32Array(n * n), B = new Float32Array(n * n);
  for (let i = 0; i < n * n; i++) { A[i] = Math.random() - 0.5; B[i] = Math.random() - 0.5; }
  let call;
  if (kind === "tfjs") {
    call = async () => {
      const a = tf.tensor2d(A, [n, n]), b = tf.tensor2d(B, [n, n]);
      const c = tf.matMul(a, b);
      const out = await c.data();
      tf.dispose([a, b, c]);
      return out;
    };
  } else {
    const m = await import("./webgpu.js");
    window.__benchExec = window.__benchExec || await m.WebGPUExecutor.create();
    const ex = window.__benchExec;
    call = async () => {
      // the same bytes Python's plan.encode_inputs would send, in init order
      const bufs = window.__layout.map((x) =>
        x === "a" ? A.buffer.slice(0) : x === "b" ? B.buffer.slice(0) : x
      );
      const { reply, buffers } = await ex.execute(plan, bufs, { mode: "once" });
      if (!reply.ok) throw new Error(JSON.stringify(reply.error));
      return buffers[0];
    };
  }
  let t = performance.now();
  const first = await call();
  const first_s = (performance.now() - t) / 1000;
  // spot-check one row against a float64 dot product
  const C = new Float32Array(first.buffer || first);
  let err = 0;
  for (let j = 0; j < n; j += Math.max(1, n >> 4)) {
    let s = 0;
    for (let k = 0; k < n; k++) s += A[k] * B[k * n + j];
    err = Math.max(err, Math.abs(C[j] - s));
  }
  const times = [];
  const start = performance.now();
  while (
    times.length < reps &&
    (times.length === 0 || (performance.now() - start) / 1000 < budget)
  ) {
    t = performance.now();
    await call();
    times.push((performance.now() - t) / 1000);
  }
  return { first_s, times, max_err: err };
}
"""


def _fmt_s(s: float) -> str:
    return f"{s * 1e6:.0f} us" if s < 1e-3 else (f"{s * 1e3:.2f} ms" if s < 1 else f"{s:.2f} s")


def overhead(browser: str | None) -> list[dict]:
    """Round-trip time of Backend.run for a tiny and a 4 MiB add_mul_relu."""
    rows = []
    spec = get_kernel("add_mul_relu")
    settings = TimingSettings(
        warmup_time=0.2,
        target_sample_time=0.0,
        min_time=1.0,
        max_time=3.0,
        min_samples=20,
        max_samples=200,
    )
    for cls in (WebGPUBackend, WebNNBackend):
        for transport in ("auto", "http", "base64"):
            be = cls(browser=browser, transport=transport)
            try:
                for n in (64, 1 << 18):
                    p = spec.resolve(n=n)
                    x = spec.make_inputs(p)
                    in_page: list[float] = []

                    def once(be=be, p=p, x=x, in_page=in_page) -> None:
                        _, reply, _ = be._go(spec, p, "float32", x, "once", None)
                        in_page.append(float(reply.get("handle_s", float("nan"))))

                    t = time_callable(once, settings)
                    s = summarize(t.samples)
                    rows.append(
                        {
                            "backend": be.name,
                            "transport": transport,
                            "payload": f"{n * 16 / 1024:.0f} KiB",
                            "round trip": s.median,
                            "ci": (s.ci_low, s.ci_high),
                            "in page": statistics.median(in_page),
                            "n": s.n,
                        }
                    )
            finally:
                be.close()
    return rows


def matmul(
    browser: str | None, sizes: list[int], reps: int, budget: float
) -> tuple[list[dict], dict]:
    """GFLOP/s with readback for every WGSL variant and TensorFlow.js WebGPU, same page."""
    spec = get_kernel("matmul")
    session = HeadlessSession(
        find_browser(browser),
        webnn_device_types=(),
        mounts={"/node_modules/": REPO / "node_modules"},
    )
    rows = []
    try:
        info = session.info()
        base = session.server.url + "/node_modules/@tensorflow/"
        session.add_script(base + "tfjs-core/dist/tf-core.min.js")
        session.add_script(base + "tfjs-backend-webgpu/dist/tf-backend-webgpu.min.js")
        tfv = session.evaluate(
            "async () => { await tf.setBackend('webgpu'); await tf.ready(); "
            "return tf.getBackend() + ' ' + tf.version_core; }"
        )
        impls = [("wgsl", v) for v in _wgsl.variants("matmul")] + [("tfjs", "tfjs-webgpu")]
        for n in sizes:
            p = spec.resolve(M=n, N=n, K=n)
            for kind, variant in impls:
                plan_json = None
                if kind == "wgsl":
                    plan = _wgsl.build_plan(spec, p, "float32", variant=variant)
                    plan_json = plan.to_json()
                    layout: list = []
                    for b in sorted(
                        (b for b in plan.buffers if b.init is not None), key=lambda b: b.init
                    ):
                        if b.usage == "uniform":
                            layout.append(
                                list(
                                    plan.uniforms[b.name]
                                    + bytes(b.size - len(plan.uniforms[b.name]))
                                )
                            )
                        elif b.name in ("a", "b") and b.size == 4 * n * n:
                            layout.append(b.name)
                        else:
                            raise SystemExit(f"matmul plan {variant}: unexpected buffer {b}")
                    session.evaluate(
                        "(l) => { window.__layout = l.map((x) => typeof x === 'string' ? x : "
                        "new Uint8Array(x).buffer); }",
                        layout,
                    )
                t0 = time.perf_counter()
                r = session.evaluate(
                    BENCH_JS, [kind, n, reps, budget, plan_json, variant], timeout=1800
                )
                med = statistics.median(r["times"])
                rows.append(
                    {
                        "n": n,
                        "impl": variant if kind == "wgsl" else "TF.js webgpu",
                        "gflops": 2.0 * n**3 / med / 1e9,
                        "median": med,
                        "first": r["first_s"],
                        "calls": len(r["times"]),
                        "max_err": r["max_err"],
                        "wall": time.perf_counter() - t0,
                    }
                )
                print(
                    f"  {n:5d} {rows[-1]['impl']:14s} {rows[-1]['gflops']:.3f} GFLOP/s "
                    f"(median {_fmt_s(med)} of {len(r['times'])}, first {_fmt_s(r['first_s'])}, "
                    f"max err {r['max_err']:.1e})",
                    file=sys.stderr,
                    flush=True,
                )
        g = info["webgpu"]
        meta = {
            "browser": f"{session.browser.label} {session.version}",
            "executable": session.browser.executable,
            "adapter": (
                f"{g.get('vendor')}/{g.get('architecture')} fallback={g.get('isFallbackAdapter')}"
            ),
            "tfjs": tfv,
        }
    finally:
        session.close()
    return rows, meta


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="256,512,1024")
    ap.add_argument("--reps", type=int, default=3, help="timed calls after the first (at most)")
    ap.add_argument(
        "--budget",
        type=float,
        default=60.0,
        help="seconds of timed calls per implementation and size (at least one call)",
    )
    ap.add_argument("--browser", default=None, help="Chromium to use (default: discovery order)")
    ap.add_argument("--skip-overhead", action="store_true")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    if not args.skip_overhead:
        print("## Round trip Python -> browser -> Python (Backend.run, add_mul_relu)\n")
        print(
            "| backend | transport | payload | round trip (median) | 99% CI | in page | samples |"
        )
        print("|---|---|---|---|---|---|---|")
        for r in overhead(args.browser):
            print(
                f"| {r['backend']} | {r['transport']} | {r['payload']} "
                f"| {_fmt_s(r['round trip'])} "
                f"| [{_fmt_s(r['ci'][0])}, {_fmt_s(r['ci'][1])}] "
                f"| {_fmt_s(r['in page'])} | {r['n']} |"
            )
        print()

    rows, meta = matmul(args.browser, sizes, args.reps, args.budget)
    print(
        f"## Matmul float32 with readback, GFLOP/s ({meta['browser']}, adapter {meta['adapter']}, "
        f"{meta['tfjs']})\n"
    )
    impls = list(dict.fromkeys(r["impl"] for r in rows))
    print("| implementation | " + " | ".join(f"{n}" for n in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    for impl in impls:
        cells = []
        for n in sizes:
            r = next((r for r in rows if r["impl"] == impl and r["n"] == n), None)
            cells.append(
                "-" if r is None else f"{r['gflops']:.3f} ({_fmt_s(r['median'])}, n={r['calls']})"
            )
        print(f"| {impl} | " + " | ".join(cells) + " |")
    bad = [r for r in rows if not np.isfinite(r["max_err"]) or r["max_err"] > 1e-3]
    if bad:
        print(f"\nWRONG RESULTS: {[(r['impl'], r['n'], r['max_err']) for r in bad]}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
