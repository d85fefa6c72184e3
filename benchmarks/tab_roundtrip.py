"""Round-trip overhead of a kernel request to the live JupyterLab tab.

Starts a real JupyterLab (temporary root and settings; see ``accel_toolkit.tab._lab``), opens a
notebook in headless Chromium (WebGPU on SwiftShader when there is no GPU), and runs a cell
that awaits N requests of each kind through ``TabRunner`` (anywidget custom messages with
binary buffers). Printed per kind: median and p10/p90/p99 of the round trip seen by Python,
and for kernel requests the part spent in the tab's runtime (``handle_s``) and the rest
(transport + scheduling = round trip - handle_s).

Kinds:
  ping           answered by the widget itself: comm transport only
  tiny kernel    add_mul_relu n=64 on WebGPU, mode "once" (plan upload, one dispatch,
                 readback of 256 bytes)
  1 MiB in/out   add_mul_relu n=262144 on WebGPU, mode "once" (3 MiB in, 1 MiB out)

    .venv/bin/python benchmarks/tab_roundtrip.py [--n 200]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

CELL = r"""
import json, time
import numpy as np
from accel_toolkit.kernels import get_kernel
from accel_toolkit.tab._requests import build_request

info = await runner.wait_ready()
N = __N__

def stats(x):
    x = np.asarray(x) * 1e3
    return {"median_ms": float(np.median(x)), "p10_ms": float(np.percentile(x, 10)),
            "p90_ms": float(np.percentile(x, 90)), "p99_ms": float(np.percentile(x, 99)),
            "n": len(x)}

out = {"adapter": info["webgpu"].get("vendor", "") + " " + info["webgpu"].get("architecture", ""),
       "browser": info["browser"].get("name", "") + " " + info["browser"].get("version", "")}
await runner.ping(10)  # warm
out["ping"] = stats(await runner.ping(N))
for label, n in (("tiny kernel", 64), ("1 MiB in/out", 262144)):
    spec = get_kernel("add_mul_relu")
    p = spec.resolve(n=n)
    req = build_request("webgpu", spec, p, "float32", spec.make_inputs(p, "float32", 0),
                        mode="once", info=info)
    rts, inside = [], []
    for i in range(10 + (N if n == 64 else max(20, N // 5))):
        t0 = time.perf_counter()
        r = await runner.request(req.request, req.buffers, time_limit_s=30)
        rt = time.perf_counter() - t0
        assert r.ok, r.reply
        if i >= 10:
            rts.append(rt)
            inside.append(float(r.reply.get("handle_s", 0.0)))
    out[label] = stats(rts)
    out[label]["in_tab_median_ms"] = float(np.median(inside) * 1e3)
    out[label]["overhead_median_ms"] = float(np.median(np.asarray(rts) - np.asarray(inside)) * 1e3)
print("ROUNDTRIP " + json.dumps(out))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="requests per kind (default 200)")
    args = ap.parse_args()

    import nbformat

    from accel_toolkit.tab._lab import LabServer, launch_browser, open_lab, run_all, wait_for_text

    with LabServer() as lab, launch_browser() as (browser, spec):
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3",
            "language": "python",
        }
        nb.cells = [
            nbformat.v4.new_code_cell(
                "from accel_toolkit.tab import TabRunner\nrunner = TabRunner()\nrunner"
            ),
            nbformat.v4.new_code_cell(CELL.replace("__N__", str(args.n))),
        ]
        nbformat.write(nb, lab.root / "roundtrip.ipynb")
        t0 = time.perf_counter()
        page = open_lab(browser, lab, "roundtrip.ipynb")
        run_all(page)
        wait_for_text(page, "ROUNDTRIP ", timeout_s=600)
        text = page.evaluate(
            "() => [...document.querySelectorAll('.jp-OutputArea-output')]"
            ".map(o => o.textContent).join('\\n')"
        )
        wall = time.perf_counter() - t0
    line = next(s for s in text.splitlines() if s.startswith("ROUNDTRIP "))
    res = json.loads(line[len("ROUNDTRIP ") :])
    print(
        f"JupyterLab tab round trip ({spec.label}; adapter {res['adapter']}; "
        f"browser {res['browser']})"
    )
    print(
        f"{'request':<14} {'n':>5} {'median':>9} {'p10':>9} {'p90':>9} {'p99':>9} "
        f"{'in tab':>9} {'overhead':>9}  (ms)"
    )
    for kind in ("ping", "tiny kernel", "1 MiB in/out"):
        s = res[kind]
        print(
            f"{kind:<14} {s['n']:>5} {s['median_ms']:>9.2f} {s['p10_ms']:>9.2f} "
            f"{s['p90_ms']:>9.2f} {s['p99_ms']:>9.2f} "
            f"{s.get('in_tab_median_ms', float('nan')):>9.2f} "
            f"{s.get('overhead_median_ms', s['median_ms']):>9.2f}"
        )
    print(f"(wall time including JupyterLab start: {wall:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
