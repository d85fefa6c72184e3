"""Browser-side weight cache (``widgets/runtime/model_weights.js``): a model's tensors kept in
one IndexedDB record across page loads and browser restarts of one user-data-dir, each checked
by SHA-256 on every load; a corrupted or truncated tensor is fetched again, never used."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from accel_toolkit._assets import asset_dir
from accel_toolkit.exceptions import BackendUnavailableError
from accel_toolkit.models._blobs import write_blobs

pytestmark = [pytest.mark.slow, pytest.mark.browser]

LOAD = """async ([model, manifest]) => {
  const m = await import("/runtime/model_weights.js");
  const { buffers, stats } = await m.loadWeights(model, manifest);
  const sums = [];
  for (const b of buffers) {
    const d = new Uint8Array(await crypto.subtle.digest("SHA-256", b));
    sums.push(Array.from(d, (x) => x.toString(16).padStart(2, "0")).join(""));
  }
  return { stats, sums };
}"""

#: damage one tensor in a model's IndexedDB record (the test's fault, with the raw API):
#: flip a byte inside it, or cut the record's data short inside it
CORRUPT = """async ([model, name, flip]) => {
  const db = await new Promise((res, rej) => {
    const r = indexedDB.open("accel-toolkit-weights", 2);
    r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error);
  });
  const rec = await new Promise((res) => {
    const r = db.transaction("models").objectStore("models").get(model);
    r.onsuccess = () => res(r.result);
  });
  const e = rec.blobs.find((x) => x.name === name);
  const bytes = new Uint8Array(await rec.data.arrayBuffer());
  if (flip) bytes[e.offset + 7] ^= 0xff;
  const data = new Blob([flip ? bytes : bytes.subarray(0, e.offset + 8)]);
  const tx = db.transaction("models", "readwrite");
  tx.objectStore("models").put({ ...rec, data }, model);
  await new Promise((res) => { tx.oncomplete = res; });
  db.close();
  return e.bytes;
}"""


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    from accel_toolkit.backends.browser._server import PageServer

    rng = np.random.default_rng(0)
    arrays = {
        "a.weight": rng.standard_normal((64, 32)),
        "b.bias": rng.standard_normal(32),
        "c": rng.standard_normal((3, 5, 7)),
    }
    manifest = write_blobs(arrays, tmp_path / "w")
    server = PageServer(asset_dir("widgets"), {"/weights/": tmp_path / "w"})
    try:
        yield server.url, manifest
    finally:
        server.close()


def _launch(pw: Any, profile: Path, url: str) -> tuple[Any, Any]:
    from accel_toolkit.backends.browser._discover import find_browser

    try:
        b = find_browser()
    except BackendUnavailableError as exc:
        pytest.skip(str(exc))
    ctx = pw.chromium.launch_persistent_context(
        str(profile),
        executable_path=b.executable,
        args=list(b.flags),
        env={**os.environ, **b.env},
        headless=True,
    )
    page = ctx.new_page()
    page.goto(f"{url}/runtime/page.html?webnn=")
    page.wait_for_function("window.__accelReady === true", timeout=120_000)
    return ctx, page


def test_cache_survives_reload_and_restart_and_refetches_corrupted(
    served: tuple[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    url, manifest = served
    want = [m["sha256"] for m in manifest]
    profile = tmp_path / "profile"
    with playwright.sync_playwright() as pw:
        ctx, page = _launch(pw, profile, url)
        r = page.evaluate(LOAD, ["toy", manifest])
        assert (r["stats"]["fetched"], r["stats"]["cached"]) == (3, 0) and r["sums"] == want
        page.reload()
        page.wait_for_function("window.__accelReady === true", timeout=120_000)
        r = page.evaluate(LOAD, ["toy", manifest])
        assert (r["stats"]["fetched"], r["stats"]["cached"]) == (0, 3) and r["sums"] == want

        # a part of the manifest: read from the same record, the rest of it kept
        r = page.evaluate(LOAD, ["toy", manifest[1:2]])
        assert (r["stats"]["fetched"], r["stats"]["cached"]) == (0, 1) and r["sums"] == want[1:2]

        # a flipped byte and a truncated entry: both fail the checksum and are fetched again
        assert page.evaluate(CORRUPT, ["toy", "a.weight", True]) == 64 * 32 * 4
        page.evaluate(CORRUPT, ["toy", "c", False])
        ctx.close()

        ctx, page = _launch(pw, profile, url)  # a new browser on the same user-data-dir
        r = page.evaluate(LOAD, ["toy", manifest])
        assert sorted(r["stats"]["corrupted"]) == ["a.weight", "c"]
        assert (r["stats"]["fetched"], r["stats"]["cached"]) == (2, 1)
        assert r["sums"] == want  # the bytes handed out are the good ones
        r = page.evaluate(LOAD, ["toy", manifest])
        assert (r["stats"]["fetched"], r["stats"]["cached"], r["stats"]["corrupted"]) == (0, 3, [])

        # a server whose blob does not match the manifest is an error, not silently used
        bad = [dict(m) for m in manifest]
        bad[1]["sha256"] = hashlib.sha256(b"other").hexdigest()
        page.evaluate("() => import('/runtime/model_weights.js').then((m) => m.clearWeights())")
        with pytest.raises(Exception, match="fails its checksum"):
            page.evaluate(LOAD, ["toy", bad])
        ctx.close()


#: contentCheck in WebAssembly and in JavaScript, of random bytes and of damaged copies
CHECKS = """async (lengths) => {
  const m = await import("/runtime/model_weights.js");
  const out = [];
  let seed = 7;
  for (const n of lengths) {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) | 0;
      b[i] = seed >>> 24;
    }
    const flipTop = b.slice(); flipTop[3] ^= 0x80; flipTop[19] ^= 0x80;  // words 0 and 4
    const swap = b.slice(); swap.set(b.subarray(4, 8), 0); swap.set(b.subarray(0, 4), 4);
    const zero = new Uint8Array(n);
    const both = (x) => [m.contentCheck(x), m.contentCheck(x, { js: true })];
    out.push([b, flipTop, swap, zero].map(both));
  }
  return [m.contentCheckKind(), out];
}"""


def test_content_check_agrees_in_wasm_and_js_and_tells_damage_apart(
    served: tuple[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    url, _ = served
    lengths = [8, 20, 64, 2**20 + 12, 3 * 2**20]
    with playwright.sync_playwright() as pw:
        ctx, page = _launch(pw, tmp_path / "profile", url)
        kind, rows = page.evaluate(CHECKS, lengths)
        ctx.close()
    assert kind == "wasm-simd"  # Chromium has WebAssembly SIMD: the fast path is the one tested
    for n, row in zip(lengths, rows, strict=True):
        assert all(wasm == js and len(wasm) == 32 for wasm, js in row), (n, row)
        checks = [wasm for wasm, _ in row]
        # two top-bit flips in one lane, two swapped words, all zeros: all different
        assert len(set(checks)) == 4, (n, checks)


#: the executor's resident weights under a budget that holds one toy model at a time
RESIDENT = """async (manifest) => {
  const { WebGPUExecutor } = await import("/runtime/webgpu.js");
  const ex = await WebGPUExecutor.create({ weightBudgetBytes: 10000 });
  const sizes = new Map(manifest.map((b, i) => [i, Math.max(16, b.bytes)]));
  const log = [];
  for (const model of ["m1", "m1", "m2", "m1"]) {
    const blobs = manifest.map((b, i) => ({ ...b, index: i }));
    const { bound, stats } = await ex.residentWeights({ model, blobs }, sizes);
    log.push([model, stats.resident, stats.uploaded, stats.evicted, ex.residentBytes(),
      bound.size]);
  }
  ex.dispose();
  return [log, ex.residentBytes()];
}"""


def test_resident_weights_evict_the_least_recently_used_model(
    served: tuple[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    url, manifest = served
    size = sum(max(16, int(m["bytes"])) for m in manifest)  # 8740 bytes: one model fits
    with playwright.sync_playwright() as pw:
        ctx, page = _launch(pw, tmp_path / "profile", url)
        if not page.evaluate("() => Boolean(navigator.gpu)"):
            ctx.close()
            pytest.skip("no WebGPU in this browser")
        log, left = page.evaluate(RESIDENT, manifest)
        ctx.close()
    assert log == [
        ["m1", 0, 3, [], size, 3],  # uploaded
        ["m1", 3, 0, [], size, 3],  # bound as it is
        ["m2", 0, 3, ["m1"], size, 3],  # m1 freed to make room
        ["m1", 0, 3, ["m2"], size, 3],
    ]
    assert left == 0  # dispose frees them


#: a one-pass plan that copies the first four floats of a named weight to its output, run on
#: one executor three times: the device destroyed before the third
COPY = """async (manifest) => {
  const { WebGPUExecutor } = await import("/runtime/webgpu.js");
  const ex = await WebGPUExecutor.create();
  const plan = {
    kernel: "copy", variant: "toy", key: "copy", features: [],
    shaders: { "copy.wgsl": `@group(0) @binding(0) var<storage, read> w: array<f32>;
@group(0) @binding(1) var<storage, read_write> o: array<f32>;
@compute @workgroup_size(1) fn main() { for (var i = 0u; i < 4u; i++) { o[i] = w[i]; } }` },
    buffers: [{ name: "w", size: manifest[1].bytes, usage: "input", init: 0 },
              { name: "o", size: 16, usage: "output", init: null }],
    passes: [{ shader: "copy.wgsl", entry: "main", constants: {}, bindings: ["w", "o"],
               workgroups: [1, 1, 1] }],
    outputs: [{ name: "o", buffer: "o", dtype: "float32", shape: [4] }],
  };
  const weights = { model: "toy", blobs: [{ ...manifest[1], index: 0 }] };
  const log = [];
  for (let k = 0; k < 3; k++) {
    if (k === 2) { const d = ex.device; d.destroy(); await d.lost; }
    const { reply, buffers } = await ex.execute(plan, [new ArrayBuffer(0)], { weights });
    const w = reply.weights;
    log.push([w.resident, w.uploaded, reply.upload_bytes, reply.readbacks,
      Array.from(new Float32Array(buffers[0]))]);
  }
  ex.dispose();
  return log;
}"""


def test_a_plan_binds_resident_weights_and_a_lost_device_uploads_them_again(
    served: tuple[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    url, manifest = served
    with playwright.sync_playwright() as pw:
        ctx, page = _launch(pw, tmp_path / "profile", url)
        if not page.evaluate("() => Boolean(navigator.gpu)"):
            ctx.close()
            pytest.skip("no WebGPU in this browser")
        log = page.evaluate(COPY, manifest)
        ctx.close()
    want = np.random.default_rng(0)  # the fixture's arrays, in its order
    want.standard_normal((64, 32))
    first4 = np.asarray(want.standard_normal(32), np.float32)[:4].tolist()
    n = int(manifest[1]["bytes"])
    assert log == [
        [0, 1, n, 1, first4],  # loaded (IndexedDB or fetch) and uploaded
        [1, 0, 0, 1, first4],  # bound as it was: nothing written to the device
        [0, 1, n, 1, first4],  # a new device after the loss: uploaded again
    ]
