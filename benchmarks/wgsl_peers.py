"""The toolkit's WGSL matmul next to TF.js 4.22 and ORT Web (WebGPU) in the same Chromium.

Both run in the Chromium the toolkit discovers (``@sparticuz/chromium`` here), on its
WebGPU adapter (SwiftShader on a machine without a GPU), each in its own page served from
127.0.0.1. Passes alternate the order of the sides (A B | B A); every pass is printed, then
the median of the passes. What each number includes:

- ``toolkit``: the ``webgpu`` backend's own figure: median seconds per call of the plan it
  runs for this adapter (tuned knobs if ``accel-toolkit tune --backends webgpu`` stored some,
  else the default knobs), n calls per sample in one command encoder, timed by
  ``timestamp-query`` where the adapter has it, else wall time around
  ``onSubmittedWorkDone()``; no upload, no readback (``reply.timer`` says which).
- ``toolkit+readback``: the same plan run once (``mode: "once"``), the executor's
  ``wall_s`` in the page: buffers created and inputs uploaded, one dispatch, the output
  copied to a mappable buffer and mapped (so it also includes the upload TF.js's
  readback figure does not).
- ``tfjs``: ``tf.time(() => tf.matMul(a, b)).kernelMs``, TF.js's own report, where
  TF.js returns one (it needs ``timestamp-query``); else ``n/a``.
- ``tfjs+readback``: wall time of ``tf.matMul(a, b)`` then ``await c.data()`` (the usual
  way a TF.js user gets a result), median of ``--samples`` calls after one warm call.
- ``ort+io``: ORT Web (``onnxruntime-web``, the devDependency; WebGPU execution provider)
  running a one-node ``MatMul`` ONNX graph: wall time of ``await session.run(feeds)`` with
  CPU tensors in and out, as an ORT Web user measures it (upload of A and B, the kernel,
  readback of C), median of ``--samples`` runs after one warm run. ``--no-ort`` leaves it out.

The toolkit's outputs are checked against numpy; the peers' are not (their inputs stay in
the page).

    .venv/bin/python benchmarks/wgsl_peers.py --sizes 256,512,1024 --passes 2 [--samples 5]
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import statistics
import threading
from pathlib import Path
from typing import Any

import numpy as np

from accel_toolkit.backends import get_backend
from accel_toolkit.backends._wgsl import build_plan
from accel_toolkit.harness import TimingSettings, summarize
from accel_toolkit.kernels import get_kernel

ROOT = Path(__file__).resolve().parent.parent
SIDES = ("toolkit", "toolkit+readback", "tfjs", "tfjs+readback", "ort+io")
PAGE = """<!doctype html><meta charset="utf-8"><title>tfjs peer</title>
<script src="/node_modules/@tensorflow/tfjs-core/dist/tf-core.min.js"></script>
<script src="/node_modules/@tensorflow/tfjs-backend-webgpu/dist/tf-backend-webgpu.min.js"></script>
<script src="/node_modules/onnxruntime-web/dist/ort.all.min.js"></script>
<script>
window.peer = {
  async ort(n, samples) {
    ort.env.wasm.wasmPaths = "/node_modules/onnxruntime-web/dist/";
    ort.env.wasm.numThreads = 1;
    const bytes = await (await fetch(`/matmul_${n}.onnx`)).arrayBuffer();
    const session = await ort.InferenceSession.create(bytes, {executionProviders: ["webgpu"]});
    const rnd = () => Float32Array.from({length: n * n}, () => Math.random());
    const feeds = {A: new ort.Tensor("float32", rnd(), [n, n]),
                   B: new ort.Tensor("float32", rnd(), [n, n])};
    await session.run(feeds);                                        // warm: compile + run
    const wall = [];
    for (let i = 0; i < samples; i++) {
      const t0 = performance.now();
      const out = await session.run(feeds);
      await out.C.getData();
      wall.push((performance.now() - t0) / 1e3);
    }
    await session.release();
    return {wall, version: ort.env.versions?.web || ""};
  },
  async init() { await tf.setBackend("webgpu"); await tf.ready(); return tf.getBackend(); },
  async matmul(n, samples) {
    const a = tf.randomUniform([n, n]), b = tf.randomUniform([n, n]);
    let c = tf.matMul(a, b); await c.data(); c.dispose();           // warm: compile + run
    const wall = [];
    for (let i = 0; i < samples; i++) {
      const t0 = performance.now();
      c = tf.matMul(a, b); await c.data(); c.dispose();
      wall.push((performance.now() - t0) / 1e3);
    }
    let kernel = null;
    try {
      const info = await tf.time(() => tf.matMul(a, b));
      kernel = typeof info.kernelMs === "number" ? info.kernelMs / 1e3 : null;
    } catch (e) { kernel = null; }
    a.dispose(); b.dispose();
    return {wall, kernel};
  },
};
window.__ready = true;
</script>"""


def _matmul_onnx(n: int) -> bytes:
    """A one-node ONNX graph: C = MatMul(A, B), A and B float32 [n, n]."""
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node("MatMul", ["A", "B"], ["C"])
    graph = helper.make_graph(
        [node],
        "matmul",
        [
            helper.make_tensor_value_info("A", TensorProto.FLOAT, [n, n]),
            helper.make_tensor_value_info("B", TensorProto.FLOAT, [n, n]),
        ],
        [helper.make_tensor_value_info("C", TensorProto.FLOAT, [n, n])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


class _Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body, kind = None, "text/html"
        if self.path.startswith("/peer.html"):
            body = PAGE.encode()
        elif self.path.startswith("/matmul_") and self.path.endswith(".onnx"):
            body, kind = (
                _matmul_onnx(int(self.path[len("/matmul_") : -5])),
                "application/octet-stream",
            )
        if body is not None:
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if not self.path.startswith(
            ("/node_modules/@tensorflow/", "/node_modules/onnxruntime-web/dist/")
        ):
            self.send_error(404)
            return
        super().do_GET()

    def log_message(self, *args: Any) -> None:
        pass


def _serve() -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(_Handler, directory=str(ROOT))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}"


def _tfjs_page(url: str, be: Any) -> tuple[Any, Any, Any]:
    from playwright.sync_api import sync_playwright

    spec = be.browser_spec
    pw = sync_playwright().start()
    browser = pw.chromium.launch(
        executable_path=spec.executable,
        args=list(spec.flags),
        env={**os.environ, **spec.env},
        headless=True,
    )
    page = browser.new_page()
    page.goto(f"{url}/peer.html")
    page.wait_for_function("window.__ready === true")
    backend = page.evaluate("peer.init()")
    if backend != "webgpu":
        raise RuntimeError(f"TF.js chose backend {backend!r}, not webgpu")
    return pw, browser, page


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="256,512,1024")
    ap.add_argument("--passes", type=int, default=2)
    ap.add_argument("--samples", type=int, default=5)
    ap.add_argument(
        "--time-budget", type=float, default=2.0, help="seconds of sampling per toolkit figure"
    )
    ap.add_argument("--no-ort", action="store_true", help="leave ORT Web out")
    args = ap.parse_args()
    spec = get_kernel("matmul")
    be = get_backend("webgpu")
    srv, url = _serve()
    pw, browser, page = _tfjs_page(url, be)
    dev = be.device_info()
    print(
        f"# {dev['name']}; TF.js 4.22 webgpu backend and ORT Web (WebGPU EP) in the same "
        f"binary, another page"
    )
    sizes = [int(s) for s in args.sizes.split(",")]
    rows: dict[tuple[int, str], list[float]] = {}
    try:
        for k in range(args.passes):
            for n in sizes:
                p = spec.resolve(M=n, N=n, K=n)
                inputs = spec.make_inputs(p, "float32")
                choice = be.tuning_choice(spec, p, "float32")
                plan = (
                    build_plan(spec, p, "float32", choice.variant, choice.knobs)
                    if choice is not None
                    else build_plan(spec, p, "float32")
                )

                def toolkit(n: int = n, plan: Any = plan, inputs: Any = inputs) -> None:
                    out, timing = be.run_plan(
                        plan, inputs, settings=TimingSettings.from_budget(args.time_budget)
                    )
                    ref = spec.reference(inputs, spec.resolve(M=n, N=n, K=n))
                    assert spec.check(out, ref, spec.resolve(M=n, N=n, K=n), "float32").passed
                    rows.setdefault((n, "toolkit"), []).append(summarize(timing.samples).median)
                    xs = []
                    for _ in range(args.samples):
                        _, once = be.run_plan(plan, inputs)
                        xs.append(float(once.extra.get("wall_s") or np.nan))
                    rows.setdefault((n, "toolkit+readback"), []).append(statistics.median(xs))

                def tfjs(n: int = n) -> None:
                    r = page.evaluate("([n, s]) => peer.matmul(n, s)", [n, args.samples])
                    rows.setdefault((n, "tfjs+readback"), []).append(statistics.median(r["wall"]))
                    rows.setdefault((n, "tfjs"), []).append(
                        r["kernel"] if r["kernel"] is not None else np.nan
                    )

                def ortweb(n: int = n) -> None:
                    r = page.evaluate("([n, s]) => peer.ort(n, s)", [n, args.samples])
                    rows.setdefault((n, "ort+io"), []).append(statistics.median(r["wall"]))

                order = [toolkit, tfjs] + ([] if args.no_ort else [ortweb])
                for side in order if k % 2 == 0 else order[::-1]:
                    side()
                knobs = choice.as_dict() if choice is not None else {"variant": plan.variant}
                print(
                    f"pass {k} {n:5d} "
                    + "  ".join(
                        f"{name} {rows[(n, name)][-1] * 1e3:.2f} ms"
                        for name in SIDES
                        if (n, name) in rows
                    )
                    + f"   [{knobs.get('source', '')} {knobs.get('knobs', '')}]",
                    flush=True,
                )
    finally:
        browser.close()
        pw.stop()
        be.close()
        srv.shutdown()
    print("\nsize  side               median of passes   GFLOP/s   per pass (ms)")
    for n in sizes:
        for name in SIDES:
            if (n, name) not in rows:
                continue
            xs = rows[(n, name)]
            m = float(np.nanmedian(xs)) if not all(np.isnan(xs)) else float("nan")
            print(
                f"{n:5d} {name:18s} {m * 1e3:12.2f} ms {2 * n**3 / m / 1e9:9.3f}   "
                f"{', '.join(f'{x * 1e3:.1f}' for x in xs)}"
            )


if __name__ == "__main__":
    main()
