"""Run every WGSL plan through widgets/runtime/webgpu.js in headless Chromium and print figures.

A standalone check of the browser WebGPU executor, independent of the headless venue:
a throwaway page served from http://127.0.0.1 imports ``webgpu.js``; Python builds each
plan (``accel_toolkit.backends._wgsl.build_plan``), sends it with its input bytes, decodes
the outputs and checks them against the numpy reference. Prints one line per configuration
(check, timer, compile_s, median time) and exits non-zero on any mismatch or error.

    .venv/bin/python benchmarks/webgpu_executor.py [--preset tiny] [--kernels matmul,softmax]
        [--dtype float32] [--measure] [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import base64
import functools
import http.server
import shutil
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

from accel_toolkit._assets import asset_dir
from accel_toolkit.backends._wgsl import build_plan, supports, variants
from accel_toolkit.harness import TimingSettings, summarize
from accel_toolkit.kernels import KERNELS

PAGE = """<!doctype html><meta charset="utf-8"><script type="module">
import { WebGPUExecutor } from "./runtime/webgpu.js";
const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0)).buffer;
const enc = (b) => { let s = ""; const u = new Uint8Array(b);
  for (let i = 0; i < u.length; i += 0x8000) s += String.fromCharCode(...u.subarray(i, i + 0x8000));
  return btoa(s); };
let ex = null;
window.__run = async (plan, data, opts) => {
  try {
    ex = ex || await WebGPUExecutor.create();
    const { reply, buffers } = await ex.execute(plan, data.map(b64), opts);
    return { reply, data: buffers.map(enc) };
  } catch (e) {
    const error = { type: e.type || "Error", message: String(e.message || e), ...(e.extra || {}) };
    return { reply: { ok: false, error } };
  }
};
window.__lose = async () => {
  ex.device.destroy();
  await new Promise((r) => setTimeout(r, 100));
  return Boolean(ex.lost);
};
window.__info = async () => { ex = ex || await WebGPUExecutor.create(); return ex.info(); };
window.__ready = true;
</script>"""

FLAGS = [
    "--enable-unsafe-webgpu",
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def serve(root: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # noqa: D401 - keep stdout for figures
            pass

    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(root))
    )
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/page.html"


def error_paths(page) -> int:
    """A broken shader, a plan over the limits and a lost device, through the executor."""
    spec = KERNELS["gelu"]
    p = spec.resolve(n=10)
    plan = build_plan(spec, p, "float32")
    data = [base64.b64encode(b).decode() for b in plan.encode_inputs(spec.make_inputs(p))]
    src = plan.shaders["gelu.wgsl"].split("\n")
    line = next(i for i, s in enumerate(src) if "let v = f32(x[i]);" in s)
    src[line] = "  let v = f32(x[i]) +;"
    broken = plan.with_shader("gelu.wgsl", "\n".join(src)).to_json()
    run = "([p, d, o]) => window.__run(p, d, o)"
    err = page.evaluate(run, [broken, data, {"mode": "once"}])["reply"]["error"]
    ok_compile = (
        err["type"] == "ShaderCompileError"
        and err["shader"] == "gelu.wgsl"
        and err["line"] == line + 1
    )
    print(
        f"broken shader -> {err['type']} {err.get('shader')}:{err.get('line')}:{err.get('column')} "
        f"(expected line {line + 1}): {err['message'][:160]!r}"
    )
    big = plan.to_json()
    big["buffers"][0]["size"] = 1 << 40
    err = page.evaluate(run, [big, data, {"mode": "once"}])["reply"]["error"]
    ok_limit = err["type"] == "ResourceLimitError"
    print(f"oversized buffer -> {err['type']}: {err['message'][:160]!r}")
    lost = page.evaluate("window.__lose()")
    reply = page.evaluate(run, [plan.to_json(), data, {"mode": "once"}])["reply"]
    print(f"device destroyed (lost seen: {lost}) -> next request ok: {reply['ok']}")
    return (not ok_compile) + (not ok_limit) + (not reply["ok"])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--kernels", default=",".join(KERNELS))
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--measure", action="store_true")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp())
    shutil.copytree(asset_dir("widgets") / "runtime", tmp / "runtime")
    (tmp / "page.html").write_text(PAGE)
    httpd, url = serve(tmp)
    settings = TimingSettings.quick().as_dict()
    failures = 0
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, headless=True, args=FLAGS)
        page = browser.new_page()
        page.on("console", lambda m: print("console:", m.text) if m.type == "error" else None)
        page.goto(url)
        page.wait_for_function("window.__ready === true")
        info = page.evaluate("window.__info()")
        print(
            f"adapter: {info['name']} fallback={info['adapter']['isFallbackAdapter']} "
            f"timer={info['timer']} features={info['features']}"
        )
        feats = set(info["features"])
        for name in args.kernels.split(","):
            spec = KERNELS[name]
            for variant in variants(name):
                for p in spec.preset(args.preset):
                    why = supports(spec, p, args.dtype, feats, variant)
                    if why:
                        print(f"{name:16s} {variant:12s} unsupported: {why}")
                        continue
                    plan = build_plan(spec, p, args.dtype, variant)
                    inputs = spec.make_inputs(p, args.dtype, 0)
                    data = [base64.b64encode(b).decode() for b in plan.encode_inputs(inputs)]
                    opts = {"mode": "measure" if args.measure else "once", "timing": settings}
                    res = page.evaluate(
                        "([p, d, o]) => window.__run(p, d, o)", [plan.to_json(), data, opts]
                    )
                    reply = res["reply"]
                    if not reply["ok"]:
                        failures += 1
                        print(f"{name:16s} {variant:12s} {p} ERROR {reply['error']}")
                        continue
                    out = plan.decode_outputs([base64.b64decode(s) for s in res["data"]])
                    check = spec.check(out, spec.reference(inputs, p), p, args.dtype)
                    failures += not check.passed
                    med = (
                        summarize(np.asarray(reply["samples"])).median
                        if reply["samples"]
                        else float("nan")
                    )
                    print(
                        f"{name:16s} {variant:12s} {p} {check.describe()} timer={reply['timer']} "
                        f"compile_s={reply['compile_s']:.4f} "
                        f"first_run_s={reply['first_run_s']:.4f} median_s={med:.3g}"
                    )
        failures += error_paths(page)
        browser.close()
    httpd.shutdown()
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"{failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
