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
