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

The toolkit's matmul outputs are checked against numpy; the peers' matmul outputs are not
(their inputs stay in the page).

``--kernels conv2d,softmax,layernorm`` (with or without ``matmul``) also runs those kernels at
the toolkit's ``--preset`` shapes (``medium`` by default: conv2d 1x64x56x56 -> 64, 4x64x56x56
-> 64 and 1x128x28x28 -> 128, 3x3, stride 1, padding 1; softmax and layernorm 4096 rows of
512, 1024 and 4096). Every side gets the same inputs (the toolkit's seeded ones, served to the
peers' page as binary files) and every side's output is checked against the float64 numpy
reference at the kernel's tolerance (a peer's output is posted back to this script once per
pass, outside the timed calls). The same five figures, per kernel:

- ``toolkit``, ``toolkit+readback``: as for matmul (the plan the ``webgpu`` backend runs
  for this adapter and shape: tuned knobs for softmax and layernorm where the database has
  some, else the defaults; conv2d is not tunable yet).
- ``tfjs``: ``tf.time(...).kernelMs``: the GPU time of every kernel the op launches (one for
  ``tf.conv2d`` and ``tf.softmax``; the layernorm, written with ``tf.moments`` as TF.js has
  no layer-norm op, launches several: moments, subtract, add, rsqrt, mul, mul, add).
  conv2d runs in TF.js's layout, NHWC input and ``[k, k, C, F]`` filter (the same numbers
  transposed; ``pad`` 1 given explicitly); output transposed back to check it.
- ``tfjs+readback``: wall time of the op then ``await y.data()``; inputs are tensors already
  on the GPU (created once, like a model's weights and activations).
- ``ort+io``: ORT Web's WebGPU EP on a one-node graph (``Conv`` with the filter as an
  initializer, ``Softmax`` axis -1, ``LayerNormalization`` axis -1 eps 1e-5 with scale and
  bias initializers; opset 17, built with the ``onnx`` helper API): wall time of ``await
  session.run(feeds)`` plus ``getData()`` with a CPU tensor in and out (upload of X, the
  kernel, readback of Y).

    .venv/bin/python benchmarks/wgsl_peers.py --sizes 256,512,1024 --passes 2 [--samples 5]
    .venv/bin/python benchmarks/wgsl_peers.py --kernels conv2d,softmax,layernorm --passes 2 \
        --samples 2 --time-budget 1
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
OTHER_KERNELS = ("conv2d", "softmax", "layernorm")
LAYERNORM_EPS = 1e-5  # accel_toolkit.kernels._normalization.EPS
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
  async inputs(key, names) {
    const out = {};
    for (const [name, shape] of names) {
      const buf = await (await fetch(`/in/${key}/${name}`)).arrayBuffer();
      out[name] = {data: new Float32Array(buf), shape};
    }
    return out;
  },
  async post(key, side, data) {
    await fetch(`/out/${key}/${side}`, {method: "POST", body: data});
  },
  async op(kind, key, meta, samples) {
    const I = await this.inputs(key, meta.inputs);
    const t = {};
    for (const [name, v] of Object.entries(I)) t[name] = tf.tensor(v.data, v.shape);
    const eps = meta.eps || 1e-5;
    const fns = {
      conv2d: () => tf.conv2d(t.x, t.w, meta.stride,
                              [[0, 0], [meta.pad, meta.pad], [meta.pad, meta.pad], [0, 0]]),
      softmax: () => tf.softmax(t.x),
      layernorm: () => tf.tidy(() => {
        const {mean, variance} = tf.moments(t.x, -1, true);
        const inv = tf.rsqrt(tf.add(variance, eps));
        return tf.add(tf.mul(tf.mul(tf.sub(t.x, mean), inv), t.gamma), t.beta);
      }),
    };
    const fn = fns[kind];
    let y = fn(); const first = await y.data(); y.dispose();      // warm: compile + run
    await this.post(key, "tfjs", first);
    const wall = [];
    for (let i = 0; i < samples; i++) {
      const t0 = performance.now();
      y = fn(); await y.data(); y.dispose();
      wall.push((performance.now() - t0) / 1e3);
    }
    let kernel = null;
    try {
      const info = await tf.time(() => { tf.tidy(() => { fn(); }); });
      kernel = typeof info.kernelMs === "number" ? info.kernelMs / 1e3 : null;
    } catch (e) { kernel = null; }
    for (const v of Object.values(t)) v.dispose();
    return {wall, kernel};
  },
  async ortop(key, meta, samples) {
    ort.env.wasm.wasmPaths = "/node_modules/onnxruntime-web/dist/";
    ort.env.wasm.numThreads = 1;
    const bytes = await (await fetch(`/model/${key}.onnx`)).arrayBuffer();
    const session = await ort.InferenceSession.create(bytes, {executionProviders: ["webgpu"]});
    const I = await this.inputs(key, meta.inputs);
    const feeds = {X: new ort.Tensor("float32", I.X.data, I.X.shape)};
    let out = await session.run(feeds);                              // warm: compile + run
    await this.post(key, "ort", await out.Y.getData());
    const wall = [];
    for (let i = 0; i < samples; i++) {
      const t0 = performance.now();
      out = await session.run(feeds);
      await out.Y.getData();
      wall.push((performance.now() - t0) / 1e3);
    }
    await session.release();
    return {wall};
  },
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


def _onnx_model(kernel: str, p: dict[str, Any], inputs: dict[str, np.ndarray]) -> bytes:
    """A one-node ONNX graph of ``kernel`` (input ``X``, output ``Y``; the other arrays as
    initializers), opset 17."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    x = inputs["x"]
    inits = []
    if kernel == "conv2d":
        k, pad, stride = p["kernel"], p["padding"], p["stride"]
        inits = [numpy_helper.from_array(inputs["w"], "W")]
        node = helper.make_node(
            "Conv",
            ["X", "W"],
            ["Y"],
            kernel_shape=[k, k],
            pads=[pad, pad, pad, pad],
            strides=[stride, stride],
        )
        oh = (p["H"] + 2 * pad - k) // stride + 1
        ow = (p["W"] + 2 * pad - k) // stride + 1
        y_shape = [p["N"], p["F"], oh, ow]
    elif kernel == "softmax":
        node = helper.make_node("Softmax", ["X"], ["Y"], axis=-1)
        y_shape = list(x.shape)
    elif kernel == "layernorm":
        inits = [
            numpy_helper.from_array(inputs["gamma"], "S"),
            numpy_helper.from_array(inputs["beta"], "B"),
        ]
        node = helper.make_node(
            "LayerNormalization", ["X", "S", "B"], ["Y"], axis=-1, epsilon=LAYERNORM_EPS
        )
        y_shape = list(x.shape)
    else:
        raise ValueError(f"no one-node ONNX graph for {kernel!r}")
    graph = helper.make_graph(
        [node],
        kernel,
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, list(x.shape))],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, y_shape)],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


#: what the page fetches and posts back: inputs by (key, name), ONNX graphs by key, and the
#: peers' outputs by (key, side)
INPUTS: dict[tuple[str, str], bytes] = {}
MODELS: dict[str, bytes] = {}
OUTPUTS: dict[tuple[str, str], bytes] = {}


class _Handler(http.server.SimpleHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        parts = self.path.strip("/").split("/")
        if len(parts) != 3 or parts[0] != "out":
            self.send_error(404)
            return
        n = int(self.headers.get("Content-Length", "0"))
        OUTPUTS[(parts[1], parts[2])] = self.rfile.read(n)
        self.send_response(204)
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body, kind = None, "text/html"
        parts = self.path.strip("/").split("/")
        if self.path.startswith("/peer.html"):
            body = PAGE.encode()
        elif len(parts) == 3 and parts[0] == "in" and (parts[1], parts[2]) in INPUTS:
            body, kind = INPUTS[(parts[1], parts[2])], "application/octet-stream"
        elif len(parts) == 2 and parts[0] == "model" and parts[1][:-5] in MODELS:
            body, kind = MODELS[parts[1][:-5]], "application/octet-stream"
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


def run_matmul(args: argparse.Namespace, be: Any, page: Any) -> None:
    """matmul at ``--sizes``: the toolkit, TF.js and ORT Web, every pass, then the medians."""
    spec = get_kernel("matmul")
    sizes = [int(s) for s in args.sizes.split(",")]
    rows: dict[tuple[int, str], list[float]] = {}
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


def _label(kernel: str, p: dict[str, Any]) -> str:
    if kernel == "conv2d":
        return (
            f"conv2d {p['N']}x{p['C']}x{p['H']}x{p['W']}->{p['F']} k{p['kernel']}"
            f" s{p['stride']} p{p['padding']}"
        )
    return f"{kernel} {p['rows']}x{p['cols']}"


def _stage(kernel: str, key: str, p: dict[str, Any], x: dict[str, np.ndarray]) -> tuple[Any, Any]:
    """Serve the peers' inputs (TF.js's layout) and the one-node ONNX graph of ``key``;
    returns the page's metadata for TF.js and for ORT Web."""
    f32 = {k: np.ascontiguousarray(v, np.float32) for k, v in x.items()}
    if kernel == "conv2d":
        tf_in = {
            "x": np.ascontiguousarray(f32["x"].transpose(0, 2, 3, 1)),  # NHWC
            "w": np.ascontiguousarray(f32["w"].transpose(2, 3, 1, 0)),  # [k, k, C, F]
        }
    else:
        tf_in = dict(f32)
    for name, arr in tf_in.items():
        INPUTS[(key, name)] = arr.tobytes()
    INPUTS[(key, "X")] = f32["x"].tobytes()
    MODELS[key] = _onnx_model(kernel, p, f32)
    tf_meta = {
        "inputs": [[name, list(arr.shape)] for name, arr in tf_in.items()],
        "stride": p.get("stride", 1),
        "pad": p.get("padding", 0),
        "eps": LAYERNORM_EPS,
    }
    return tf_meta, {"inputs": [["X", list(f32["x"].shape)]]}


def _peer_output(kernel: str, key: str, side: str, ref: np.ndarray) -> np.ndarray:
    raw = np.frombuffer(OUTPUTS.pop((key, side)), np.float32)
    if kernel == "conv2d" and side == "tfjs":  # NHWC back to NCHW
        n, f, oh, ow = ref.shape
        return raw.reshape(n, oh, ow, f).transpose(0, 3, 1, 2)
    return raw.reshape(ref.shape)


def run_others(args: argparse.Namespace, be: Any, page: Any, kernels: list[str]) -> None:
    """conv2d, softmax and layernorm at the ``--preset`` shapes: every side verified."""
    rows: dict[tuple[str, str], list[float]] = {}
    verdicts: dict[tuple[str, str], str] = {}
    work: dict[str, tuple[str, float]] = {}
    picks = [int(i) for i in args.shapes.split(",")] if args.shapes else None
    for kernel in kernels:
        spec = get_kernel(kernel)
        shapes = spec.preset(args.preset)
        for i, p in enumerate(shapes):
            if picks is not None and i not in picks:
                continue
            key, label = f"{kernel}{i}", _label(kernel, p)
            inputs = spec.make_inputs(p, "float32")
            ref = spec.reference(inputs, p)
            tf_meta, ort_meta = _stage(kernel, key, p, inputs)
            cost = spec.cost(p, 4)
            work[label] = ("GFLOP/s", cost.flops) if kernel == "conv2d" else ("GB/s", cost.bytes)
            choice = be.tuning_choice(spec, p, "float32")
            plan = (
                build_plan(spec, p, "float32", choice.variant, choice.knobs)
                if choice is not None
                else build_plan(spec, p, "float32")
            )

            def check(
                side: str,
                out: Any,
                label: str = label,
                spec: Any = spec,
                p: Any = p,
                ref: Any = ref,
            ) -> None:
                res = spec.check(out, ref, p, "float32")
                verdicts[(label, side)] = (
                    f"ok (max abs err {res.max_abs_err:.2g})" if res.passed else res.describe()
                )

            def toolkit(label: str = label, plan: Any = plan, inputs: Any = inputs) -> None:
                out, timing = be.run_plan(
                    plan, inputs, settings=TimingSettings.from_budget(args.time_budget)
                )
                check("toolkit", out)
                rows.setdefault((label, "toolkit"), []).append(summarize(timing.samples).median)
                xs = []
                for _ in range(args.samples):
                    _, once = be.run_plan(plan, inputs)
                    xs.append(float(once.extra.get("wall_s") or np.nan))
                rows.setdefault((label, "toolkit+readback"), []).append(statistics.median(xs))

            def tfjs(
                label: str = label,
                kernel: str = kernel,
                key: str = key,
                tf_meta: Any = tf_meta,
                ref: Any = ref,
            ) -> None:
                r = page.evaluate(
                    "([k, key, m, s]) => peer.op(k, key, m, s)",
                    [kernel, key, tf_meta, args.samples],
                )
                check("tfjs", {"y": _peer_output(kernel, key, "tfjs", ref["y"])})
                rows.setdefault((label, "tfjs+readback"), []).append(statistics.median(r["wall"]))
                rows.setdefault((label, "tfjs"), []).append(
                    r["kernel"] if r["kernel"] is not None else np.nan
                )

            def ortweb(
                label: str = label,
                kernel: str = kernel,
                key: str = key,
                ort_meta: Any = ort_meta,
                ref: Any = ref,
            ) -> None:
                r = page.evaluate(
                    "([key, m, s]) => peer.ortop(key, m, s)", [key, ort_meta, args.samples]
                )
                check("ort+io", {"y": _peer_output(kernel, key, "ort", ref["y"])})
                rows.setdefault((label, "ort+io"), []).append(statistics.median(r["wall"]))

            order = [toolkit, tfjs] + ([] if args.no_ort else [ortweb])
            knobs = choice.as_dict() if choice is not None else {"variant": plan.variant}
            for k in range(args.passes):
                for side in order if k % 2 == 0 else order[::-1]:
                    try:
                        side()
                    except Exception as exc:  # a side that cannot run here is reported
                        name = {"ortweb": "ort+io"}.get(side.__name__, side.__name__)
                        verdicts[(label, name)] = f"failed: {str(exc).splitlines()[0][:160]}"
                print(
                    f"pass {k} {label}: "
                    + "  ".join(
                        f"{name} {rows[(label, name)][-1] * 1e3:.2f} ms"
                        for name in SIDES
                        if (label, name) in rows and len(rows[(label, name)]) > k
                    )
                    + f"   [{knobs.get('source', '')} {knobs.get('knobs', knobs.get('variant'))}]",
                    flush=True,
                )
            for (lab, side), v in sorted(verdicts.items()):
                if lab == label:
                    print(f"  check {side:8s} against numpy: {v}")
    print(f"\n{'shape':36s} {'side':16s} {'median':>12s}    rate   per pass (ms)")
    for label, (unit, amount) in work.items():
        for name in SIDES:
            if (label, name) not in rows:
                continue
            xs = rows[(label, name)]
            m = float(np.nanmedian(xs)) if not all(np.isnan(xs)) else float("nan")
            print(
                f"{label:36s} {name:16s} {m * 1e3:9.2f} ms {amount / m / 1e9:7.3f} {unit}   "
                f"{', '.join(f'{x * 1e3:.1f}' for x in xs)}"
            )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="256,512,1024", help="matmul sizes")
    ap.add_argument(
        "--kernels",
        default="matmul",
        help=f"comma-separated: matmul and/or {', '.join(OTHER_KERNELS)}",
    )
    ap.add_argument("--preset", default="medium", help="shapes of the kernels other than matmul")
    ap.add_argument("--shapes", default="", help="indices into the preset's shapes (default all)")
    ap.add_argument("--passes", type=int, default=2)
    ap.add_argument("--samples", type=int, default=5)
    ap.add_argument(
        "--time-budget", type=float, default=2.0, help="seconds of sampling per toolkit figure"
    )
    ap.add_argument("--no-ort", action="store_true", help="leave ORT Web out")
    args = ap.parse_args()
    kernels = [k.strip() for k in args.kernels.split(",") if k.strip()]
    unknown = [k for k in kernels if k != "matmul" and k not in OTHER_KERNELS]
    if unknown:
        ap.error(f"unknown kernel(s) {unknown}; choose from matmul, {', '.join(OTHER_KERNELS)}")
    be = get_backend("webgpu")
    srv, url = _serve()
    pw, browser, page = _tfjs_page(url, be)
    dev = be.device_info()
    print(
        f"# {dev['name']}; TF.js 4.22 webgpu backend and ORT Web (WebGPU EP) in the same "
        f"binary, another page"
    )
    try:
        if "matmul" in kernels:
            run_matmul(args, be, page)
        others = [k for k in kernels if k != "matmul"]
        if others:
            run_others(args, be, page, others)
    finally:
        browser.close()
        pw.stop()
        be.close()
        srv.shutdown()


if __name__ == "__main__":
    main()
