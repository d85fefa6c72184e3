"""Finding a Chromium to drive, in a documented order.

1. ``browser=`` given to the backend: a path, an executable name on ``PATH``, or one of the
   words ``"sparticuz"`` / ``"system"``;
2. the environment variable ``ACCEL_TOOLKIT_BROWSER`` naming an executable;
3. the ``@sparticuz/chromium`` package that ``make install`` puts in ``<repo>/node_modules``
   (unpacked once to ``$TMPDIR/chromium``; it has WebGPU *and* WebNN);
4. a system Chrome/Chromium (``/usr/bin/chromium``, ``chromium-browser``, ``google-chrome``, ...),
   which has WebGPU (SwiftShader when there is no GPU) but usually no WebNN.

Every launch adds :data:`BASE_FLAGS`; the sparticuz build also gets :data:`SPARTICUZ_FLAGS`
and ``LD_LIBRARY_PATH`` pointing at its unpacked libraries.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ...exceptions import BackendUnavailableError

__all__ = [
    "BASE_FLAGS",
    "BrowserSpec",
    "SPARTICUZ_FLAGS",
    "find_browser",
    "find_browsers",
    "sparticuz_package",
]

#: added to every launch
BASE_FLAGS: tuple[str, ...] = (
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--enable-unsafe-webgpu",
)
#: the WebNN-capable @sparticuz/chromium build
SPARTICUZ_FLAGS: tuple[str, ...] = (
    "--no-zygote",
    "--headless=new",
    "--enable-unsafe-webgpu",
    "--enable-features=WebMachineLearningNeuralNetwork",
)
SYSTEM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
SYSTEM_PATHS = (
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
    "/opt/google/chrome/chrome",
    "/snap/bin/chromium",
)

INSTALL_HINT = (
    "Run `make install` (it installs Debian's chromium and the WebNN-capable "
    "@sparticuz/chromium from npm), install Chrome/Chromium yourself, or set "
    "ACCEL_TOOLKIT_BROWSER=/path/to/chrome."
)


@dataclass(frozen=True)
class BrowserSpec:
    """One Chromium executable and how to launch it.

    Attributes
    ----------
    executable : str
        Absolute path.
    source : str
        How it was found: ``option``, ``env``, ``sparticuz`` or ``system``.
    flags : tuple of str
        Command-line flags for the launch.
    env : dict
        Extra environment variables (``LD_LIBRARY_PATH`` for the sparticuz build).
    label : str
        A short human name, e.g. ``"@sparticuz/chromium 153.0.0"`` or ``"chromium"``.
    """

    executable: str
    source: str
    flags: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    label: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "executable": self.executable,
            "source": self.source,
            "flags": list(self.flags),
            "label": self.label,
        }


def _flags(extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    out: list[str] = []
    for f in (*BASE_FLAGS, *extra):
        if f not in out:
            out.append(f)
    return tuple(out)


def _repo_roots() -> list[Path]:
    here = Path(__file__).resolve()
    roots = [here.parents[3], Path.cwd()]
    out = []
    for r in roots:
        if r not in out:
            out.append(r)
    return out


def sparticuz_package() -> Path | None:
    """The ``node_modules/@sparticuz/chromium`` folder of the checkout (or cwd), if any."""
    for root in _repo_roots():
        p = root / "node_modules" / "@sparticuz" / "chromium"
        if (p / "bin" / "chromium.br").is_file():
            return p
    return None


def _sparticuz_version(pkg: Path) -> str:
    try:
        import json

        return str(json.loads((pkg / "package.json").read_text())["version"])
    except Exception:
        return "?"


def _unpack_sparticuz(pkg: Path) -> Path:
    """Unpack the brotli'd Chromium with the package's own code (needs node), once, under a lock."""
    target_dir = Path(tempfile.gettempdir())
    exe = target_dir / "chromium"
    ready = (
        exe.is_file()
        and os.access(exe, os.X_OK)
        and (target_dir / "libvk_swiftshader.so").is_file()
    )
    if ready:
        return exe
    node = shutil.which("node")
    if node is None:
        raise BackendUnavailableError(
            f"@sparticuz/chromium is installed in {pkg} but node is missing, so it cannot be "
            "unpacked. Install Node.js (apt-get install nodejs) or set ACCEL_TOOLKIT_BROWSER."
        )
    import fcntl  # POSIX only, like the sparticuz build itself

    lock_path = target_dir / ".accel_toolkit_chromium.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            script = (
                "import c from "
                + repr((pkg / "build" / "index.js").as_uri())
                + "; console.log(await c.executablePath());"
            )
            res = subprocess.run(
                [node, "--input-type=module", "-e", script],
                capture_output=True,
                text=True,
                timeout=180,
            )
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    if res.returncode != 0:
        raise BackendUnavailableError(
            f"Unpacking @sparticuz/chromium failed ({res.stderr.strip()[-400:]}). "
            "Re-run `make install`, or set ACCEL_TOOLKIT_BROWSER."
        )
    path = Path(res.stdout.strip().splitlines()[-1])
    if not path.is_file():
        raise BackendUnavailableError(f"@sparticuz/chromium reported {path}, which does not exist.")
    return path


def _sparticuz_spec(pkg: Path) -> BrowserSpec:
    exe = _unpack_sparticuz(pkg)
    libdir = str(exe.parent)
    old = os.environ.get("LD_LIBRARY_PATH", "")
    ld = libdir if not old else f"{libdir}:{old}"
    return BrowserSpec(
        str(exe),
        "sparticuz",
        _flags(SPARTICUZ_FLAGS),
        {"LD_LIBRARY_PATH": ld},
        f"@sparticuz/chromium {_sparticuz_version(pkg)}",
    )


def _executable(path_or_name: str) -> str | None:
    p = Path(path_or_name).expanduser()
    if p.is_file() and os.access(p, os.X_OK):
        return str(p.resolve())
    found = shutil.which(path_or_name)
    return found


def _generic_spec(exe: str, source: str) -> BrowserSpec:
    # A browser we know nothing about: ask for WebGPU and WebNN; unknown features are ignored.
    extra = ("--enable-features=WebMachineLearningNeuralNetwork",)
    if Path(exe).name == "chromium" and Path(exe).parent == Path(tempfile.gettempdir()):
        return BrowserSpec(
            exe,
            source,
            _flags(SPARTICUZ_FLAGS),
            {"LD_LIBRARY_PATH": str(Path(exe).parent)},
            "@sparticuz/chromium",
        )
    return BrowserSpec(exe, source, _flags(extra), {}, Path(exe).name)


def _system_specs() -> list[BrowserSpec]:
    out: list[BrowserSpec] = []
    seen: set[str] = set()
    for cand in (*SYSTEM_PATHS, *SYSTEM_NAMES):
        exe = _executable(cand)
        if exe and exe not in seen:
            seen.add(exe)
            out.append(BrowserSpec(exe, "system", _flags(), {}, Path(exe).name))
    return out


def find_browsers() -> list[BrowserSpec]:
    """Every browser found, in the order of the module docstring (``env``, sparticuz, system)."""
    out: list[BrowserSpec] = []
    env = os.environ.get("ACCEL_TOOLKIT_BROWSER")
    if env:
        exe = _executable(env)
        if exe is None:
            raise BackendUnavailableError(
                f"ACCEL_TOOLKIT_BROWSER={env!r} is not an executable file. Point it at a "
                "Chrome/Chromium binary or unset it."
            )
        out.append(_generic_spec(exe, "env"))
    pkg = sparticuz_package()
    if pkg is not None:
        try:
            out.append(_sparticuz_spec(pkg))
        except BackendUnavailableError:
            if not out and not _system_specs():
                raise
    for s in _system_specs():
        if all(s.executable != o.executable for o in out):
            out.append(s)
    return out


def find_browser(browser: str | None = None) -> BrowserSpec:
    """The browser to launch: ``browser`` if given, else the first of :func:`find_browsers`.

    Parameters
    ----------
    browser : str, optional
        A path or executable name, or ``"sparticuz"`` / ``"system"`` to pick by kind.

    Raises
    ------
    BackendUnavailableError
        Nothing usable was found; the message says what to install.
    """
    if browser:
        if browser == "sparticuz":
            pkg = sparticuz_package()
            if pkg is None:
                raise BackendUnavailableError(
                    "browser='sparticuz' but @sparticuz/chromium is not in node_modules. "
                    "Run `make install` (npm install) in the accel_toolkit checkout."
                )
            return _sparticuz_spec(pkg)
        if browser == "system":
            found = _system_specs()
            if not found:
                raise BackendUnavailableError(
                    f"browser='system' but no system Chrome/Chromium is installed. {INSTALL_HINT}"
                )
            return found[0]
        exe = _executable(browser)
        if exe is None:
            raise BackendUnavailableError(
                f"browser={browser!r} is not an executable file or a command on PATH. "
                f"{INSTALL_HINT}"
            )
        return _generic_spec(exe, "option")
    found = find_browsers()
    if not found:
        raise BackendUnavailableError(f"No Chrome/Chromium found. {INSTALL_HINT}")
    return found[0]
