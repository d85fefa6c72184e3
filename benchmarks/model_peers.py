"""MiniLM's forward on accel_toolkit's backends next to ONNX Runtime and ORT Web.

Same model, weights, batch, sequence and inputs on every side; the time of one forward is
what each tool normally reports. In-process: the numpy forward and onnxruntime CPU (inputs in,
embeddings out as numpy), in interleaved rounds (A B | B A ...) so drift on a shared machine
hits every side alike; every round's median is printed, then the median of the rounds and the
ratio to onnxruntime. Both sides get the same threads (``--threads``, default 1): OpenBLAS's
pool is limited with threadpoolctl and ONNX Runtime's intra-op pool is set to it (its
inter-op pool is unused: the session runs sequentially); the header prints what each got and
the load average.

With ``--browser``, also in one headless Chromium binary (the toolkit's): ORT Web 1.30 (npm
``onnxruntime-web``, a devDependency) with the WebGPU and the WASM execution providers, timed
around ``session.run`` plus ``getData`` on the page, next to the toolkit's webgpu chain
(page timer: timestamp queries around the chained passes, no upload or readback) and its WebNN
graph (page timer), in two passes in reversed order.

    .venv/bin/python benchmarks/model_peers.py --batch 1,8 --seq 128 --rounds 6
    .venv/bin/python benchmarks/model_peers.py --threads 2
    .venv/bin/python benchmarks/model_peers.py --seq 32 --rounds 2 --browser
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from accel_toolkit.harness import TimingSettings
from accel_toolkit.models import ModelInputs, get_model_spec, load_weights, synthetic_inputs
from accel_toolkit.models._cpu import cpu_forward
from accel_toolkit.models._onnx import build_onnx, ort_feeds, ort_session

ROOT = Path(__file__).resolve().parent.parent
PAGE = """<!doctype html><meta charset="utf-8"><title>ORT Web peer</title>
<script src="/node_modules/onnxruntime-web/dist/ort.all.min.js"></script>
<script type="module" src="/widgets/runtime/model_ortweb.js"></script>"""
SERVED = ("/node_modules/onnxruntime-web/dist/", "/widgets/runtime/model_ortweb.js")


def _serve(model: bytes) -> tuple[http.server.ThreadingHTTPServer, str]:
    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body = {
                "/peer.html": (PAGE.encode(), "text/html"),
                "/model.onnx": (model, "application/octet-stream"),
            }.get(self.path)
            if body is not None:
                self.send_response(200)
                self.send_header("Content-Type", body[1])
                self.send_header("Content-Length", str(len(body[0])))
                self.end_headers()
                self.wfile.write(body[0])
                return
            if not self.path.startswith(SERVED):
                self.send_error(404)
                return
            super().do_GET()

        def log_message(self, *args: Any) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(ROOT))
    )
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}"


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64).reshape(b.shape), np.asarray(b, np.float64)
    return float(((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)).min())


def browser_peers(x: ModelInputs, ref: np.ndarray, passes: int, calls: int) -> None:
    """ORT Web (webgpu, wasm) and the toolkit's webgpu and webnn in one Chromium binary."""
    from playwright.sync_api import sync_playwright

    from accel_toolkit.models._embed import webgpu_backend, webnn_backend
    from accel_toolkit.models._plan import model_gemm, model_plan, plan_inputs
    from accel_toolkit.models._webnn import webnn_run

    spec = get_model_spec("minilm-l6")
    be, nn = webgpu_backend(), webnn_backend()
    model = build_onnx(spec, load_weights(spec)).SerializeToString()
    srv, url = _serve(model)
    bspec = be.browser_spec
    pw = sync_playwright().start()
    browser = pw.chromium.launch(
        executable_path=bspec.executable,
        args=list(bspec.flags),
        env={**os.environ, **bspec.env},
        headless=True,
    )
    page = browser.new_page()
    page.goto(f"{url}/peer.html")
    page.wait_for_function("window.__ortReady === true", timeout=120_000)
    feeds = {
        "ids": x.data.ravel().tolist(),
        "types": x.type_ids.ravel().tolist(),  # type: ignore[union-attr]
        "mask": x.mask().astype(int).ravel().tolist(),
        "batch": x.batch,
        "seq": x.seq,
    }
    plan = model_plan(spec, x.batch, x.seq, tuple(model_gemm(be, spec, x.batch, x.seq).items()))
    pin = plan_inputs(plan, x)
    settings = TimingSettings(min_samples=calls, max_time=60.0, min_time=0.0)

    def ort_web(ep: str) -> tuple[float, float, float]:
        info = page.evaluate("(ep) => ortPeer.load(ep)", ep)
        r = page.evaluate("([f, n]) => ortPeer.run(f, n)", [feeds, calls])
        return (
            statistics.median(r["times_s"]),
            info["create_s"] + r["first_s"],
            _cos(np.array(r["embeddings"], np.float32), ref),
        )

    def toolkit_webgpu() -> tuple[float, float, float]:
        out, t = be.run_plan(plan, pin, settings=settings)
        return float(np.median(t.samples)), t.first_run_s, _cos(out["out"], ref)

    def toolkit_webnn() -> tuple[float, float, float]:
        out, t = webnn_run(nn, spec, x, settings)
        return float(np.median(t.samples)), t.first_run_s, _cos(out, ref)

    sides: dict[str, Callable[[], tuple[float, float, float]]] = {
        "ORT Web webgpu EP": lambda: ort_web("webgpu"),
        "ORT Web wasm EP": lambda: ort_web("wasm"),
        "toolkit webgpu": toolkit_webgpu,
        "toolkit webnn": toolkit_webnn,
    }
    print(f"\n# browser: {be.device_info().get('name')}; batch {x.batch}, seq {x.seq}")
    try:
        for k in range(passes):
            for name in list(sides) if k % 2 == 0 else list(sides)[::-1]:
                try:
                    med, first, cos = sides[name]()
                    print(
                        f"pass {k}: {name:18s} {med * 1e3:10.1f} ms  first {first:7.2f} s  "
                        f"cosine {cos:.7f}",
                        flush=True,
                    )
                except Exception as exc:  # a peer that cannot run here is reported, not fatal
                    print(
                        f"pass {k}: {name:18s} failed: {str(exc).splitlines()[0][:200]}", flush=True
                    )
    finally:
        browser.close()
        pw.stop()
        srv.shutdown()


def _median_time(fn: Callable[[], object], calls: int) -> float:
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _limit_blas(threads: int) -> str:
    """Limit the BLAS pool to ``threads`` and say what numpy's BLAS now uses."""
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        env = os.environ.get("OPENBLAS_NUM_THREADS", "unset")
        return f"BLAS threads not set (no threadpoolctl; OPENBLAS_NUM_THREADS={env})"
    threadpool_limits(threads, user_api="blas")
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    return ", ".join(
        f"{p.get('internal_api')} {p.get('version')} ({p.get('architecture')}): "
        f"{p.get('num_threads')} thread(s)"
        for p in pools
    )


def _steal() -> float:
    """CPU time stolen by other tenants so far (``/proc/stat``, seconds; 0 if unknown)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def in_process_peers(a: argparse.Namespace, batch: int) -> tuple[ModelInputs, np.ndarray]:
    """Our numpy forward against onnxruntime CPU in interleaved rounds, every round printed.

    Returns the inputs and onnxruntime's embeddings (the browser peers' reference).
    """
    spec = get_model_spec("minilm-l6")
    x = synthetic_inputs(spec, batch, a.seq)
    w = load_weights(spec)
    ort_threads = a.ort_threads or a.threads
    sess = ort_session("minilm-l6", ort_threads)
    feeds = ort_feeds(x)
    sides: dict[str, Callable[[], np.ndarray]] = {
        "accel_toolkit cpu": lambda: cpu_forward(spec, w, x)[0],
        "onnxruntime cpu": lambda: np.asarray(sess.run(["embeddings"], feeds)[0]),
    }
    if a.wgpu:
        from accel_toolkit.models._wgpu import WgpuModel

        m = WgpuModel.shared("minilm-l6")
        sides["accel_toolkit wgpu"] = lambda: m.forward(x)
    print(
        f"\n# batch {batch}, seq {a.seq}; onnxruntime intra-op threads {ort_threads}; "
        f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
    )
    outs = {k: f() for k, f in sides.items()}  # first runs (compile, allocate), untimed
    ref = outs["onnxruntime cpu"]
    for k, o in outs.items():
        cos = (o * ref).sum(1) / np.linalg.norm(o, axis=1) / np.linalg.norm(ref, axis=1)
        print(f"{k:20s} cosine to onnxruntime: min {cos.min():.7f}")
    per: dict[str, list[float]] = {k: [] for k in sides}
    names = list(sides)
    steal0 = _steal()
    for r in range(a.rounds):
        order = names if r % 2 == 0 else names[::-1]
        for k in order:
            per[k].append(_median_time(sides[k], 1 if "wgpu" in k else a.calls))
        ratio = per["accel_toolkit cpu"][-1] / per["onnxruntime cpu"][-1]
        print(
            f"round {r}: "
            + ", ".join(f"{k} {per[k][-1] * 1e3:.1f} ms" for k in names)
            + f"  (cpu/ort x{ratio:.2f}; load {os.getloadavg()[0]:.2f})",
            flush=True,
        )
    base = statistics.median(per["onnxruntime cpu"])
    print(
        f"batch {batch}, seq {a.seq}: median of {a.rounds} rounds "
        f"(CPU time stolen during them: {_steal() - steal0:.2f} s)"
    )
    for k in names:
        med = statistics.median(per[k])
        ratios = [p / q for p, q in zip(per[k], per["onnxruntime cpu"], strict=True)]
        print(
            f"  {k:20s} {med * 1e3:8.1f} ms   x{med / base:5.2f} of onnxruntime "
            f"(per-round ratios {min(ratios):.2f}-{max(ratios):.2f}, "
            f"median {statistics.median(ratios):.2f})"
        )
    return x, ref


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", default="1", help="batch sizes, comma-separated (e.g. 1,8)")
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=6, help="interleaved rounds (even)")
    ap.add_argument("--calls", type=int, default=10, help="timed forwards per side and round")
    ap.add_argument("--threads", type=int, default=1, help="BLAS and ORT intra-op threads")
    ap.add_argument("--ort-threads", type=int, default=0, help="ORT's alone (0: --threads)")
    ap.add_argument("--wgpu", action="store_true", help="also time the wgpu backend")
    ap.add_argument(
        "--browser",
        action="store_true",
        help="also ORT Web (webgpu, wasm) and the toolkit's webgpu and webnn",
    )
    ap.add_argument("--passes", type=int, default=2, help="browser passes (reversed order)")
    a = ap.parse_args()
    print(f"numpy BLAS: {_limit_blas(a.threads)}")
    for batch in (int(b) for b in str(a.batch).split(",")):
        x, ref = in_process_peers(a, batch)
        if a.browser:
            browser_peers(x, ref, a.passes, a.calls)


if __name__ == "__main__":
    main()
