"""The headless venue: one Chromium, driven by Playwright, serving one runtime page.

Playwright's sync API must stay on the thread that started it and refuses to run inside a
running asyncio loop (a Jupyter kernel), so every Playwright call runs on a dedicated worker
thread; callers wait on a future with a deadline. A request that outlives its deadline gets
the browser killed (SIGKILL by pid) and raises :class:`BrowserCrashedError`, as does a
browser that dies mid-request; :meth:`HeadlessSession.relaunch` starts a fresh one.
"""

from __future__ import annotations

import base64
import concurrent.futures
import itertools
import os
import queue
import secrets
import signal
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar, cast

from ..._assets import asset_dir
from ...exceptions import BackendUnavailableError, BrowserCrashedError, KernelExecutionError
from ._discover import BrowserSpec
from ._protocol import RuntimeReply, RuntimeRequest
from ._server import PageServer

__all__ = ["HeadlessSession", "INLINE_MAX", "TRANSPORTS"]

T = TypeVar("T")
#: how request bytes travel: ``auto`` (inline base64 up to :data:`INLINE_MAX` bytes each way,
#: else the local page server), ``http`` (always the server) or ``base64`` (always inline)
TRANSPORTS = ("auto", "http", "base64")
#: measured crossover (benchmarks/browser_overhead.py): below ~16 KiB inline base64 is faster
#: than a GET/POST to the page server, above it base64 costs ~0.35 ms per KiB
INLINE_MAX = 16 * 1024
_ids = itertools.count(1)


class _Worker:
    """A thread that runs submitted functions one at a time (Playwright's home)."""

    def __init__(self) -> None:
        self._q: queue.Queue[tuple[Callable[[], Any], concurrent.futures.Future[Any]] | None] = (
            queue.Queue()
        )
        self._t = threading.Thread(target=self._loop, name="accel-playwright", daemon=True)
        self._t.start()

    def _loop(self) -> None:
        while True:
            item = self._q.get()
            if item is None:
                return
            fn, fut = item
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn())
            except BaseException as exc:  # handed to the caller
                fut.set_exception(exc)

    def submit(self, fn: Callable[[], T]) -> concurrent.futures.Future[T]:
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._q.put((fn, fut))
        return fut

    def stop(self) -> None:
        self._q.put(None)


def _pid_with(marker: str) -> int | None:
    """The pid of the browser process started with ``marker`` on its command line (Linux)."""
    procs: dict[int, int] = {}
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    for d in proc.iterdir():
        if not d.name.isdigit():
            continue
        try:
            if marker.encode() not in (d / "cmdline").read_bytes():
                continue
            stat = (d / "stat").read_text()
            procs[int(d.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    roots = [pid for pid, ppid in procs.items() if ppid not in procs]
    return min(roots) if roots else None


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except OSError:
        return True


class HeadlessSession:
    """A Chromium with the runtime page loaded, reused across requests.

    Parameters
    ----------
    browser : BrowserSpec
        What to launch (see :func:`~accel_toolkit.backends.browser._discover.find_browser`).
    transport : str
        ``"auto"`` (default), ``"http"`` or ``"base64"``: see :data:`TRANSPORTS`.
    webnn_device_types : sequence of str
        WebNN device types the page reports in :meth:`info`.
    mounts : mapping, optional
        More folders for the page server (``{"/node_modules/": path}``).
    launch_timeout : float
        Seconds to wait for the browser and the page to come up.
    """

    def __init__(
        self,
        browser: BrowserSpec,
        *,
        transport: str = "auto",
        webnn_device_types: tuple[str, ...] = ("cpu", "gpu", "npu"),
        mounts: Mapping[str, Path] | None = None,
        launch_timeout: float = 90.0,
    ):
        if transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {TRANSPORTS}, got {transport!r}")
        self.browser = browser
        self.transport = transport
        self.webnn_device_types = tuple(webnn_device_types)
        self.launch_timeout = launch_timeout
        self.server = PageServer(asset_dir("widgets"), mounts)
        self.pid: int | None = None
        self.version = ""
        self.launches = 0
        self._worker = _Worker()
        self._pw: Any = None
        self._browser: Any = None
        self._page: Any = None
        self._page_errors: list[str] = []
        self._closed = False
        #: the request being answered now (``{"id", "op", "backend", "kernel"}``), else None
        self.in_flight: dict[str, Any] | None = None
        #: requests answered since the session started (all launches)
        self.completed = 0
        try:
            self._call(self._launch, launch_timeout, "launching the browser")
        except BaseException:
            self.close()
            raise

    # -- the worker-thread side -----------------------------------------------------------
    def _launch(self) -> None:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError as exc:
            raise BackendUnavailableError(
                "Playwright is not installed: pip install 'accel-toolkit[browser]'"
            ) from exc
        if self._pw is None:
            self._pw = sync_playwright().start()
        marker = f"--accel-toolkit-session={secrets.token_hex(8)}"
        env = {**os.environ, **self.browser.env}
        if not env.get("XDG_RUNTIME_DIR") or not Path(env["XDG_RUNTIME_DIR"]).is_dir():
            # Chromium complains on stderr without one; a private folder keeps it quiet.
            env["XDG_RUNTIME_DIR"] = self._runtime_dir()
        try:
            self._browser = self._pw.chromium.launch(
                executable_path=self.browser.executable,
                args=[*self.browser.flags, marker],
                env=env,
                headless=True,
                timeout=self.launch_timeout * 1000,
            )
        except Exception as exc:
            raise BackendUnavailableError(
                f"Chromium at {self.browser.executable} did not start: {str(exc).strip()[:600]}. "
                "Check that it runs (`{exe} --headless=new --no-sandbox --version`), or choose "
                "another with browser=... / ACCEL_TOOLKIT_BROWSER.".replace(
                    "{exe}", self.browser.executable
                )
            ) from exc
        self.version = self._browser.version
        self.pid = _pid_with(marker)
        self._page_errors = []
        page = self._browser.new_page()
        page.on("pageerror", lambda e: self._page_errors.append(str(e)))
        page.on(
            "console", lambda m: self._page_errors.append(m.text) if m.type == "error" else None
        )
        url = f"{self.server.url}/runtime/page.html?webnn={','.join(self.webnn_device_types)}"
        page.goto(url, timeout=self.launch_timeout * 1000)
        try:
            page.wait_for_function(
                "window.__accelReady === true", timeout=self.launch_timeout * 1000
            )
        except Exception as exc:
            raise BackendUnavailableError(
                f"The runtime page did not load in {self.browser.executable}: "
                f"{'; '.join(self._page_errors[-3:]) or exc}"
            ) from exc
        self._page = page
        self._dead = False
        self.launches += 1

    def _runtime_dir(self) -> str:
        import tempfile

        if not getattr(self, "_xdg", None):
            self._xdg = tempfile.mkdtemp(prefix="accel-xdg-")
            os.chmod(self._xdg, 0o700)
        return self._xdg

    def _shutdown_browser(self) -> None:
        b, self._browser, self._page = self._browser, None, None
        if b is not None:
            try:
                b.close()
            except Exception:
                pass

    def _stop(self) -> None:
        self._shutdown_browser()
        if self._pw is not None:
            try:
                self._pw.stop()
            except Exception:
                pass
            self._pw = None

    def _evaluate(
        self, request: RuntimeRequest, buffers: list[bytes]
    ) -> tuple[RuntimeReply, list[bytes]]:
        if self._page is None or self._browser is None or not self._browser.is_connected():
            raise BrowserCrashedError(
                f"the browser ({self.browser.label}) is not running; it crashed or was closed "
                "earlier. Call recover() (bench() does) to relaunch it."
            )
        out_url = None
        inline_in = self.transport == "base64" or (
            self.transport == "auto" and sum(len(b) for b in buffers) <= INLINE_MAX
        )
        transport: dict[str, Any] = {}
        if self.transport != "base64":
            in_url, out_url, sizes = self.server.stage([] if inline_in else buffers)
            transport.update(
                out_url=out_url, inline_max=INLINE_MAX if self.transport == "auto" else 0
            )
            if not inline_in:
                transport.update(in_url=in_url, in_sizes=sizes)
        if inline_in:
            transport["data"] = [base64.b64encode(b).decode() for b in buffers]
        try:
            res = self._page.evaluate("([r, t]) => window.__accel.call(r, t)", [request, transport])
        except Exception as exc:
            if out_url:
                self.server.discard(out_url)
            crashed = (
                not self._browser.is_connected()
                or self._page.is_closed()
                or not _alive(self.pid)
                or "crash" in str(exc).lower()
                or "closed" in str(exc).lower()
            )
            if crashed:
                self._dead = True
                raise BrowserCrashedError(
                    f"the browser ({self.browser.label}, pid {self.pid}) died during request "
                    f"{request.get('id')}: {str(exc).strip().splitlines()[0][:300]}"
                ) from exc
            raise KernelExecutionError(f"page.evaluate failed: {str(exc)[:600]}") from exc
        reply, sizes = res["reply"], res.get("sizes") or []
        if res.get("posted"):
            out = self.server.collect(out_url or "", sizes)
        else:
            if out_url is not None:
                self.server.discard(out_url)
            out = [base64.b64decode(s) for s in res.get("data") or []]
        return reply, out

    # -- the caller side ------------------------------------------------------------------
    def _call(self, fn: Callable[[], T], timeout: float, what: str) -> T:
        if self._closed:
            raise BrowserCrashedError("this browser session is closed")
        fut = self._worker.submit(fn)
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            pass
        self.kill()
        self._dead = True
        try:
            fut.result(30)
        except BaseException:
            pass
        if not fut.done():  # Playwright is stuck: abandon its thread, start afresh on relaunch
            self._worker.stop()
            self._worker = _Worker()
            self._pw = self._browser = self._page = None
        raise BrowserCrashedError(
            f"the browser ({self.browser.label}) did not answer within {timeout:.0f} s while "
            f"{what}; it was killed (pid {self.pid}). Call recover() to relaunch it."
        )

    def request(
        self, request: RuntimeRequest, buffers: list[bytes] | None = None, *, timeout: float = 120.0
    ) -> tuple[RuntimeReply, list[bytes]]:
        """Send one request (see PROTOCOL.md); returns the reply and its output buffers.

        ``timeout`` is the hard limit in seconds: past it the browser is killed and
        :class:`BrowserCrashedError` is raised.
        """
        req = cast(RuntimeRequest, {**request, "id": request.get("id") or f"r{next(_ids)}"})
        fields: Mapping[str, Any] = req
        kernel = (fields.get("plan") or fields.get("graph") or {}).get("kernel")
        rid, op, backend = fields["id"], req["op"], fields.get("backend")
        self.in_flight = {"id": rid, "op": op, "backend": backend, "kernel": kernel}
        try:
            out = self._call(
                lambda: self._evaluate(req, list(buffers or [])),
                timeout,
                f"running request {rid} ({op} {backend or ''} {kernel or ''})",
            )
            self.completed += 1
            return out
        finally:
            self.in_flight = None

    def info(self, timeout: float = 60.0) -> dict[str, Any]:
        """The runtime's ``info()``: browser, WebGPU adapter, WebNN devices."""

        def go() -> dict[str, Any]:
            if self._page is None:
                raise BrowserCrashedError("the browser is not running; call recover()")
            return dict(self._page.evaluate("() => window.__accel.info()"))

        return self._call(go, timeout, "reading the runtime info")

    def evaluate(self, expression: str, arg: Any = None, *, timeout: float = 600.0) -> Any:
        """Evaluate JavaScript in the runtime page (benchmarks and experiments).

        Same deadline rule as :meth:`request`: past ``timeout`` the browser is killed.
        """

        def go() -> Any:
            if self._page is None:
                raise BrowserCrashedError("the browser is not running; call relaunch()")
            return self._page.evaluate(expression, arg)

        return self._call(go, timeout, "evaluating a script")

    def add_script(self, url: str, *, timeout: float = 120.0) -> None:
        """Load a classic script (e.g. a UMD bundle served through ``mounts``) into the page."""

        def go() -> None:
            if self._page is None:
                raise BrowserCrashedError("the browser is not running; call relaunch()")
            self._page.add_script_tag(url=url)

        self._call(go, timeout, f"loading {url}")

    def alive(self) -> bool:
        """Whether the browser process is still there."""
        if self._browser is None or getattr(self, "_dead", False):
            return False
        return _alive(self.pid) if self.pid else True

    def kill(self) -> None:
        """SIGKILL the browser process (used on hangs; the next request raises)."""
        if self.pid and _alive(self.pid):
            try:
                os.kill(self.pid, signal.SIGKILL)
            except OSError:
                pass
            deadline = time.monotonic() + 5
            while _alive(self.pid) and time.monotonic() < deadline:
                time.sleep(0.05)

    def relaunch(self) -> None:
        """Close whatever is left of the browser and start a fresh one with the page loaded."""
        if self._closed:
            raise BrowserCrashedError("this browser session is closed")
        self.kill()

        def go() -> None:
            self._shutdown_browser()
            self._launch()

        self._call(go, self.launch_timeout, "relaunching the browser")

    def close(self) -> None:
        """Close the browser, Playwright, the worker thread and the page server."""
        if self._closed:
            return
        fut = self._worker.submit(self._stop)
        try:
            fut.result(30)
        except BaseException:
            self.kill()
        self._worker.stop()
        self.server.close()
        if getattr(self, "_xdg", None):
            import shutil

            shutil.rmtree(self._xdg, ignore_errors=True)
        self._closed = True

    def __repr__(self) -> str:
        return f"<HeadlessSession {self.browser.label} {self.version} pid={self.pid}>"
