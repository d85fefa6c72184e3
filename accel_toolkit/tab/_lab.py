"""Drive a real JupyterLab from Python: the harness of the live-tab e2e test and benchmark.

:class:`LabServer` starts ``jupyter lab`` on 127.0.0.1 (a free port, token auth, no port
retries, no browser) with its root, config, data, runtime, settings and workspace folders in
a temporary directory, so it touches no user settings; it stops the whole process group.
:func:`open_lab` opens a notebook in headless Chromium (Playwright, WebGPU flags; the
WebNN-capable build when there is one) and :func:`run_all` runs its cells and waits.

Not part of the notebook API; used by ``tests/test_lab_e2e.py`` and
``benchmarks/tab_roundtrip.py``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["LabServer", "launch_browser", "open_lab", "run_all", "wait_for_text"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LabServer:
    """A JupyterLab in its own process group, rooted at ``root`` (a temporary folder if None).

    Use as a context manager; ``url(path)`` gives an address with the token.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        *,
        timeout: float = 90.0,
        env: dict[str, str] | None = None,
    ):
        self._tmp = tempfile.TemporaryDirectory(prefix="accel-lab-")
        base = Path(self._tmp.name)
        self.root = Path(root) if root is not None else base / "root"
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        self.token = secrets.token_hex(16)
        self.timeout = timeout
        self.log_path = base / "lab.log"
        self.proc: subprocess.Popen[bytes] | None = None
        dirs = {
            k: base / k.lower()
            for k in (
                "JUPYTER_CONFIG_DIR",
                "JUPYTER_DATA_DIR",
                "JUPYTER_RUNTIME_DIR",
                "JUPYTERLAB_SETTINGS_DIR",
                "JUPYTERLAB_WORKSPACES_DIR",
                "IPYTHONDIR",
            )
        }
        for d in dirs.values():
            d.mkdir(parents=True, exist_ok=True)
        # No "get notified about Jupyter news?" toast over the notebook.
        notif = dirs["JUPYTERLAB_SETTINGS_DIR"] / "@jupyterlab" / "apputils-extension"
        notif.mkdir(parents=True, exist_ok=True)
        (notif / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
        bindir = str(Path(sys.executable).parent)
        self.env = {
            **os.environ,
            **{k: str(v) for k, v in dirs.items()},
            "PATH": bindir + os.pathsep + os.environ.get("PATH", ""),
            "JUPYTER_PLATFORM_DIRS": "1",
            **(env or {}),
        }

    def url(self, path: str = "lab") -> str:
        sep = "&" if "?" in path else "?"
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}{sep}token={self.token}"

    def start(self) -> LabServer:
        jupyter = Path(sys.executable).parent / "jupyter"
        cmd = [
            str(jupyter) if jupyter.exists() else "jupyter",
            "lab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            "--LabApp.expose_app_in_browser=True",
            "--ServerApp.disable_check_xsrf=False",
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            f"--LabApp.user_settings_dir={self.env['JUPYTERLAB_SETTINGS_DIR']}",
            f"--LabApp.workspaces_dir={self.env['JUPYTERLAB_WORKSPACES_DIR']}",
            "--ServerApp.terminals_enabled=False",
            "--LabApp.extension_manager=readonly",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")  # containers and CI often run as root
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            cmd,
            cwd=self.root,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url("api/status"), timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise TimeoutError(f"jupyter lab did not answer within {self.timeout:.0f} s:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop the server, its kernels and any other child: the whole process group."""
        if self.proc is not None and self.proc.poll() is None:
            pgid = os.getpgid(self.proc.pid)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
        self.proc = None

    def __enter__(self) -> LabServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self._tmp.cleanup()


@contextlib.contextmanager
def launch_browser(browser: str | None = None) -> Iterator[tuple[Any, Any]]:
    """``(playwright browser, BrowserSpec)``: headless Chromium with WebGPU (and WebNN when
    the build has it), found like the headless venue finds it."""
    from playwright.sync_api import sync_playwright

    from ..backends.browser._discover import find_browser

    spec = find_browser(browser)
    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=spec.executable,
            args=list(spec.flags),
            env={**os.environ, **spec.env},
            headless=True,
        )
        try:
            yield b, spec
        finally:
            b.close()


def open_lab(
    browser: Any,
    lab: LabServer,
    notebook: str,
    *,
    width: int = 1280,
    height: int = 1600,
    timeout_s: float = 120.0,
) -> Any:
    """A page with ``notebook`` open in JupyterLab and its kernel idle."""
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(timeout_s * 1000)
    page.goto(lab.url(f"lab/tree/{notebook}"))
    page.wait_for_function(
        "() => window.jupyterapp && window.jupyterapp.shell", timeout=timeout_s * 1000
    )
    page.wait_for_function(
        """() => { const w = window.jupyterapp.shell.currentWidget;
                   const k = w && w.sessionContext && w.sessionContext.session
                             && w.sessionContext.session.kernel;
                   return Boolean(k && k.status === 'idle'); }""",
        timeout=timeout_s * 1000,
    )
    return page


def run_all(page: Any) -> None:
    """Run every cell of the current notebook (JupyterLab's Run All)."""
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")


def wait_for_text(page: Any, text: str, *, timeout_s: float = 300.0) -> None:
    """Wait until ``text`` appears in a cell output, or raise with the first error shown."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = page.evaluate(
            """(text) => {
                 const outs = [...document.querySelectorAll('.jp-OutputArea-output')];
                 const err = outs.find(
                   o => o.getAttribute('data-mime-type') === 'application/vnd.jupyter.stderr'
                        && /Traceback/.test(o.textContent));
                 if (outs.some(o => o.textContent.includes(text))) return 'found';
                 return err ? 'error: ' + err.textContent.slice(-3000) : '';
               }""",
            text,
        )
        if found == "found":
            return
        if found.startswith("error"):
            raise AssertionError(f"a cell failed before {text!r} appeared:\n{found}")
        time.sleep(1.0)
    raise TimeoutError(f"{text!r} did not appear in the notebook within {timeout_s:.0f} s")
