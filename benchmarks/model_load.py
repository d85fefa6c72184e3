"""First load against cached load of MiniLM's weights in headless Chromium (IndexedDB).

A load is ``loadWeights`` of ``widgets/runtime/model_weights.js``: every weight blob of the
MiniLM ComputePlan (the ~90 MB the webgpu backend binds) made available to the page with
its SHA-256 checked. The first load fetches the blobs from the page's server on 127.0.0.1,
hashes them and stores them in IndexedDB; a cached load reads IndexedDB and hashes. Each
pass clears the cache, reloads the page and loads (first), then reloads and loads again
(cached); after the passes the browser is restarted on the same user-data-dir and loads once
more (cached across a restart). Figures go to docs/models.md.

    .venv/bin/python benchmarks/model_load.py --passes 5
    .venv/bin/python benchmarks/model_load.py --passes 3 --download-mbps 1000
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

from accel_toolkit._assets import asset_dir
from accel_toolkit.backends.browser._discover import find_browser
from accel_toolkit.backends.browser._server import PageServer
from accel_toolkit.models import get_model_spec
from accel_toolkit.models._blobs import write_blobs
from accel_toolkit.models._plan import model_plan, weight_inputs

LOAD = """async ([model, manifest]) => {
  const m = await import("/runtime/model_weights.js");
  const t0 = performance.now();
  const { stats } = await m.loadWeights(model, manifest);
  return { ...stats, page_s: (performance.now() - t0) / 1e3 };
}"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--passes", type=int, default=5)
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
    server = PageServer(asset_dir("widgets"), {"/weights/": tmp / "w"})
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

    def reload(page: Any) -> None:
        page.reload()
        page.wait_for_function("window.__accelReady === true", timeout=120_000)

    link = f"downloads at {a.download_mbps:g} Mbit/s" if a.download_mbps else "127.0.0.1"
    print(f"# MiniLM weights: {len(manifest)} blobs, {total / 2**20:.1f} MiB; {b.label}; {link}")
    first: list[float] = []
    cached: list[float] = []
    with sync_playwright() as pw:
        ctx, page = launch(pw)
        for k in range(a.passes):
            page.evaluate(
                "() => import('/runtime/model_weights.js').then((m) => m.clearWeights('minilm-l6'))"
            )
            reload(page)
            f = page.evaluate(LOAD, ["minilm-l6", manifest])
            assert f["fetched"] == len(manifest), f
            reload(page)
            c = page.evaluate(LOAD, ["minilm-l6", manifest])
            assert c["cached"] == len(manifest) and not c["corrupted"], c
            first.append(f["total_s"])
            cached.append(c["total_s"])
            print(
                f"pass {k}: first {f['total_s'] * 1e3:7.0f} ms (fetch {f['fetch_s'] * 1e3:.0f}, "
                f"sha256 {f['hash_s'] * 1e3:.0f}, idb write {f['write_s'] * 1e3:.0f})   "
                f"cached {c['total_s'] * 1e3:7.0f} ms (idb read {c['read_s'] * 1e3:.0f}, "
                f"sha256 {c['hash_s'] * 1e3:.0f})   x{f['total_s'] / c['total_s']:.2f}",
                flush=True,
            )
        ctx.close()
        ctx, page = launch(pw)
        r = page.evaluate(LOAD, ["minilm-l6", manifest])
        ctx.close()
    server.close()
    mf, mc = statistics.median(first), statistics.median(cached)
    print(
        f"median: first {mf * 1e3:.0f} ms, cached {mc * 1e3:.0f} ms, cached is x{mf / mc:.2f} "
        f"faster; after a browser restart: cached {r['cached']}/{len(manifest)} blobs in "
        f"{r['total_s'] * 1e3:.0f} ms"
    )


if __name__ == "__main__":
    main()
