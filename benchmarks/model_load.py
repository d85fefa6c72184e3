"""First load against cached load of MiniLM's weights in headless Chromium (IndexedDB).

A load is ``loadWeights`` of ``widgets/runtime/model_weights.js``: every weight tensor of the
MiniLM ComputePlan (the ~90 MB the webgpu backend binds) made available to the page with its
SHA-256 checked. The first load fetches the tensors from the page's server on 127.0.0.1,
hashes them and stores them in IndexedDB; a cached load reads IndexedDB and hashes. After
each load the page uploads the tensors to GPU buffers (``writeBuffer``, until
``onSubmittedWorkDone``), reported apart: ``load`` excludes it, ``ready`` includes it. The
page load (reload until the runtime is ready) is reported apart too; it is the same for both.

Each pass, for each implementation (``new``: the checkout's ``model_weights.js``; ``old``:
the one of ``--old`` git revision, under its own database name), in an order that alternates
between passes: clear the cache, reload, load (first); reload, load (cached). After the passes
the browser is restarted on the same user-data-dir and loads once more (cached across a
restart). Figures go to docs/models.md.

    .venv/bin/python benchmarks/model_load.py --passes 6
    .venv/bin/python benchmarks/model_load.py --passes 3 --download-mbps 1000
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from accel_toolkit._assets import asset_dir
from accel_toolkit.backends.browser._discover import find_browser
from accel_toolkit.backends.browser._server import PageServer
from accel_toolkit.models import get_model_spec
from accel_toolkit.models._blobs import write_blobs
from accel_toolkit.models._plan import model_plan, weight_inputs

#: one load and the upload of what it gave; the device is opened before the clock starts
LOAD = """async ([url, model, manifest]) => {
  const m = await import(url);
  if (!window.__dev) {
    const a = await navigator.gpu.requestAdapter();
    window.__dev = await a.requestDevice({ requiredLimits: {
      maxBufferSize: a.limits.maxBufferSize,
      maxStorageBufferBindingSize: a.limits.maxStorageBufferBindingSize } });
  }
  const dev = window.__dev;
  const t0 = performance.now();
  const { buffers, stats } = await m.loadWeights(model, manifest);
  const t1 = performance.now();
  const made = buffers.map((b) => {
    const g = dev.createBuffer({ size: Math.max(16, b.byteLength), usage: 0x80 | 0x08 });
    dev.queue.writeBuffer(g, 0, b);
    return g;
  });
  await dev.queue.onSubmittedWorkDone();
  const t2 = performance.now();
  for (const g of made) g.destroy();
  return { ...stats, load_s: (t1 - t0) / 1e3, upload_s: (t2 - t1) / 1e3,
    ready_s: (t2 - t0) / 1e3 };
}"""

CLEAR = "async ([url, model]) => (await import(url)).clearWeights(model)"


def _old_module(rev: str, folder: Path) -> None:
    """The ``model_weights.js`` of git revision ``rev``, on its own IndexedDB database."""
    src = subprocess.run(
        ["git", "show", f"{rev}:widgets/runtime/model_weights.js"],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    ).stdout
    src = src.replace('"accel-toolkit-weights"', '"accel-toolkit-weights-old"')
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model_weights.js").write_text(src)


def _ms(x: float) -> str:
    return f"{x * 1e3:5.0f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--passes", type=int, default=5)
    ap.add_argument(
        "--old",
        default="00f583f",
        help="git revision whose model_weights.js runs beside the checkout's ('' for none)",
    )
    ap.add_argument(
        "--download-mbps",
        type=float,
        default=None,
        help="throttle the page's downloads to this many Mbit/s (DevTools network "
        "emulation), as from a server that is not on this machine",
    )
    a = ap.parse_args()

    spec = get_model_spec("minilm-l6")
    arrays = weight_inputs(spec, model_plan(spec, 1, 8))
    tmp = Path(tempfile.mkdtemp(prefix="accel-model-load-"))
    manifest = write_blobs(arrays, tmp / "w")
    total = sum(int(m["bytes"]) for m in manifest)  # type: ignore[call-overload]
    mounts = {"/weights/": tmp / "w"}
    impls = {"new": "/runtime/model_weights.js"}
    if a.old:
        _old_module(a.old, tmp / "old")
        mounts["/old/"] = tmp / "old"
        impls["old"] = "/old/model_weights.js"
    server = PageServer(asset_dir("widgets"), mounts)
    b = find_browser()
    from playwright.sync_api import sync_playwright

    def launch(pw: Any) -> tuple[Any, Any]:
        ctx = pw.chromium.launch_persistent_context(
            str(tmp / "profile"),
            executable_path=b.executable,
            args=list(b.flags),
            env={**os.environ, **b.env},
            headless=True,
        )
        page = ctx.new_page()
        if a.download_mbps:
            cdp = ctx.new_cdp_session(page)
            cdp.send("Network.enable")
            cdp.send(
                "Network.emulateNetworkConditions",
                {
                    "offline": False,
                    "latency": 0,
                    "uploadThroughput": -1,
                    "downloadThroughput": a.download_mbps * 1e6 / 8,
                },
            )
        page.goto(f"{server.url}/runtime/page.html?webnn=")
        page.wait_for_function("window.__accelReady === true", timeout=120_000)
        return ctx, page

    def reload(page: Any) -> float:
        t0 = time.perf_counter()
        page.reload()
        page.wait_for_function("window.__accelReady === true", timeout=120_000)
        return time.perf_counter() - t0

    link = f"downloads at {a.download_mbps:g} Mbit/s" if a.download_mbps else "127.0.0.1"
    print(f"# MiniLM weights: {len(manifest)} tensors, {total / 2**20:.1f} MiB; {b.label}; {link}")
    print(
        "# ms. load: loadWeights (first: fetch + sha256 [+ check, new] + IndexedDB write; "
        "cached: IndexedDB read + sha256 (old, overlapped with the reads) or + check (new)); "
        "up: writeBuffer of every tensor until onSubmittedWorkDone; ready = load + up; "
        "page: reload until the runtime is ready (not in load or ready)"
    )
    got: dict[str, dict[str, list[float]]] = {
        k: {"first": [], "cached": [], "first_ready": [], "cached_ready": []} for k in impls
    }
    with sync_playwright() as pw:
        ctx, page = launch(pw)
        for k in range(a.passes):
            order = list(impls) if k % 2 == 0 else list(impls)[::-1]
            for name in order:
                url = impls[name]
                page.evaluate(CLEAR, [url, "minilm-l6"])
                p1 = reload(page)
                f = page.evaluate(LOAD, [url, "minilm-l6", manifest])
                assert f["fetched"] == len(manifest), f
                p2 = reload(page)
                c = page.evaluate(LOAD, [url, "minilm-l6", manifest])
                assert c["cached"] == len(manifest) and not c["corrupted"], c
                g = got[name]
                g["first"].append(f["load_s"])
                g["cached"].append(c["load_s"])
                g["first_ready"].append(f["ready_s"])
                g["cached_ready"].append(c["ready_s"])
                parts = (
                    f"open+get {_ms(c['open_s'] + c['get_s'])} read {_ms(c['read_s'])} "
                    f"check {_ms(c['check_s'])}"
                    if name == "new"
                    else f"read+sha {_ms(c['read_s'] + c['hash_s'])}"
                )
                print(
                    f"pass {k} {name}: first load {_ms(f['load_s'])} (fetch {_ms(f['fetch_s'])} "
                    f"sha {_ms(f['hash_s'])} write {_ms(f['write_s'])}) up {_ms(f['upload_s'])}"
                    f" page {_ms(p1)} | cached load {_ms(c['load_s'])} ({parts}) "
                    f"up {_ms(c['upload_s'])} page {_ms(p2)} | "
                    f"load x{f['load_s'] / c['load_s']:.2f} "
                    f"ready x{f['ready_s'] / c['ready_s']:.2f}",
                    flush=True,
                )
        ctx.close()
        ctx, page = launch(pw)
        r = page.evaluate(LOAD, [impls["new"], "minilm-l6", manifest])
        ctx.close()
    server.close()
    for name, g in got.items():
        mf, mc = statistics.median(g["first"]), statistics.median(g["cached"])
        rf, rc = statistics.median(g["first_ready"]), statistics.median(g["cached_ready"])
        ratios = [x / y for x, y in zip(g["first"], g["cached"], strict=True)]
        print(
            f"median {name}: load first {mf * 1e3:.0f} ms, cached {mc * 1e3:.0f} ms: x{mf / mc:.2f}"
            f" (per pass x{min(ratios):.2f}-{max(ratios):.2f}); ready (with the upload) first "
            f"{rf * 1e3:.0f} ms, cached {rc * 1e3:.0f} ms: x{rf / rc:.2f}"
        )
    print(
        f"after a browser restart (new): cached {r['cached']}/{len(manifest)} tensors, load "
        f"{r['load_s'] * 1e3:.0f} ms, ready {r['ready_s'] * 1e3:.0f} ms"
    )


if __name__ == "__main__":
    main()
