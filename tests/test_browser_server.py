"""The local page server: static files from widgets/ and the per-request byte exchange."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from accel_toolkit._assets import asset_dir
from accel_toolkit.backends.browser._server import PageServer


@pytest.fixture
def server(tmp_path):
    (tmp_path / "lib.js").write_text("export const x = 1;")
    s = PageServer(asset_dir("widgets"), {"/extra/": tmp_path})
    yield s
    s.close()


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read()


def test_serves_the_runtime_on_loopback(server):
    assert server.url.startswith("http://127.0.0.1:")
    assert b"createRuntime" in _get(server.url + "/runtime/index.js")
    assert b"__accel" in _get(server.url + "/runtime/page.html")
    assert _get(server.url + "/extra/lib.js") == b"export const x = 1;"


def test_no_escape_from_the_served_folders(server):
    with pytest.raises(urllib.error.HTTPError):
        _get(server.url + "/extra/../../etc/passwd")
    with pytest.raises(urllib.error.HTTPError):
        _get(server.url + "/runtime/%2e%2e/%2e%2e/pyproject.toml")


def test_buffers_travel_once_each_way(server):
    in_url, out_url, sizes = server.stage([b"abc", b"", b"\x00\x01"])
    assert sizes == [3, 0, 2]
    assert _get(in_url) == b"abc\x00\x01"
    with pytest.raises(urllib.error.HTTPError):  # tokens are used once
        _get(in_url)
    req = urllib.request.Request(out_url, data=b"0123456789", method="POST")
    urllib.request.urlopen(req, timeout=10).close()
    assert server.collect(out_url, [4, 6]) == [b"0123", b"456789"]
    _, out2, _ = server.stage([])
    urllib.request.urlopen(
        urllib.request.Request(out2, data=b"xy", method="POST"), timeout=10
    ).close()
    with pytest.raises(RuntimeError, match="posted 2 bytes, expected 3"):
        server.collect(out2, [3])
