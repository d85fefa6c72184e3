"""A local page server on 127.0.0.1: serves ``widgets/`` and carries request bytes.

The page must come from ``http://127.0.0.1`` (a secure context, which WebGPU and WebNN need;
``about:blank`` is not). Every response carries the cross-origin-isolation headers, so the
page's ``performance.now()`` has 5 us resolution rather than 100 us. Besides static files
the server holds the binary buffers of each request: the page fetches all inputs with one
``GET /__accel/in/<token>`` and posts all outputs with one ``POST /__accel/out/<token>``.
Tokens are random and used once.
"""

from __future__ import annotations

import http.server
import os
import posixpath
import secrets
import threading
import urllib.parse
from collections.abc import Mapping
from pathlib import Path

__all__ = ["PageServer"]

_PREFIX = "/__accel/"


class _Handler(http.server.SimpleHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        # Cross-origin isolation: performance.now() then ticks in 5 us steps instead of 100 us.
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        super().end_headers()

    def translate_path(self, path: str) -> str:
        path = urllib.parse.unquote(urllib.parse.urlsplit(path).path)
        for prefix, folder in self.server.mounts:
            if path.startswith(prefix):
                rest = posixpath.normpath(path[len(prefix) :]).lstrip("/")
                if rest.startswith(".."):
                    return str(folder / "__forbidden__")
                return str(folder / rest)
        return str(self.server.root / "__missing__")

    def do_GET(self) -> None:
        if self.path.startswith(_PREFIX + "in/"):
            data = self.server.take(self.path[len(_PREFIX + "in/") :], "in")
            if data is None:
                self.send_error(404, "unknown or used token")
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        super().do_GET()

    def do_POST(self) -> None:
        if not self.path.startswith(_PREFIX + "out/"):
            self.send_error(404)
            return
        token = self.path[len(_PREFIX + "out/") :]
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if not self.server.put_output(token, body):
            self.send_error(404, "unknown token")
            return
        self.send_response(204)
        self.end_headers()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, mounts: list[tuple[str, Path]]):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.mounts = mounts
        self.root = mounts[-1][1]
        self._lock = threading.Lock()
        self._inputs: dict[str, bytes] = {}
        self._outputs: dict[str, bytes | None] = {}

    def take(self, token: str, kind: str) -> bytes | None:
        with self._lock:
            return self._inputs.pop(token, None)

    def put_output(self, token: str, body: bytes) -> bool:
        with self._lock:
            if token not in self._outputs:
                return False
            self._outputs[token] = body
            return True


class PageServer:
    """Serve ``widgets/`` (and optional extra folders) on ``http://127.0.0.1:<port>/``.

    Parameters
    ----------
    root : Path
        The folder served at ``/`` (``widgets/``).
    mounts : mapping, optional
        ``{"/node_modules/": Path(...)}``: more folders under URL prefixes (the benchmark
        serves TensorFlow.js this way).
    """

    def __init__(self, root: Path, mounts: Mapping[str, Path] | None = None):
        ms = [(p if p.endswith("/") else p + "/", Path(f)) for p, f in (mounts or {}).items()]
        ms.sort(key=lambda m: -len(m[0]))
        ms.append(("/", Path(root)))
        self._server = _Server(ms)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="accel-page-server", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def mount(self, prefix: str, folder: str | os.PathLike[str]) -> None:
        """Serve ``folder`` under the URL ``prefix`` from now on (again: the same folder)."""
        p = prefix if prefix.endswith("/") else prefix + "/"
        ms = [m for m in self._server.mounts if m[0] != p]
        ms.insert(0, (p, Path(folder)))
        ms[:-1] = sorted(ms[:-1], key=lambda m: -len(m[0]))
        self._server.mounts = ms  # one assignment: request threads see the old or new list

    def stage(self, buffers: list[bytes]) -> tuple[str, str, list[int]]:
        """Hold ``buffers`` for one request: returns (inputs URL, outputs URL, sizes)."""
        token = secrets.token_hex(12)
        with self._server._lock:
            self._server._inputs[token] = b"".join(buffers)
            self._server._outputs[token] = None
        return (
            f"{self.url}{_PREFIX}in/{token}",
            f"{self.url}{_PREFIX}out/{token}",
            [len(b) for b in buffers],
        )

    def collect(self, out_url: str, sizes: list[int]) -> list[bytes]:
        """The output buffers the page posted for a request, split by ``sizes``."""
        token = out_url.rsplit("/", 1)[-1]
        with self._server._lock:
            self._server._inputs.pop(token, None)
            body = self._server._outputs.pop(token, None)
        if not sizes:
            return []
        if body is None:
            raise RuntimeError("the page did not post its output buffers")
        if len(body) != sum(sizes):
            raise RuntimeError(f"the page posted {len(body)} bytes, expected {sum(sizes)}")
        out, o = [], 0
        for n in sizes:
            out.append(body[o : o + n])
            o += n
        return out

    def discard(self, out_url: str) -> None:
        token = out_url.rsplit("/", 1)[-1]
        with self._server._lock:
            self._server._inputs.pop(token, None)
            self._server._outputs.pop(token, None)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __repr__(self) -> str:
        return f"<PageServer {self.url} pid={os.getpid()}>"
