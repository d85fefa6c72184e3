"""The environment fingerprint recorded with every run."""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata as md
import json
import os
import platform
import socket
import subprocess
from pathlib import Path
from typing import Any

from .._version import __version__

__all__ = ["cpu_caches", "cpu_model", "environment", "environment_id", "git_commit"]

_LIBRARIES = (
    "numpy",
    "scipy",
    "pandas",
    "duckdb",
    "pyarrow",
    "altair",
    "wgpu",
    "playwright",
    "papermill",
    "anywidget",
    "scikit-learn",
    "cupy-cuda12x",
    "cupy",
)
_THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
)


def cpu_model() -> str:
    """The CPU's marketing name (``/proc/cpuinfo`` on Linux, ``platform`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


_UNITS = {"K": 1024, "M": 1024**2, "G": 1024**3}


def _parse_size(text: str) -> int | None:
    text = text.strip().upper()
    if not text:
        return None
    try:
        return int(float(text[:-1]) * _UNITS[text[-1]]) if text[-1] in _UNITS else int(text)
    except ValueError:
        return None


def cpu_caches(root: str = "/sys/devices/system/cpu/cpu0/cache") -> dict[str, int]:
    """The data/unified cache sizes in bytes that Linux sysfs reports, e.g. ``{"L1": 32768,
    "L2": 524288, "L3": 33554432}``; only levels actually read (empty elsewhere)."""
    out: dict[str, int] = {}
    try:
        entries = sorted(Path(root).glob("index*"))
    except OSError:
        return out
    for entry in entries:
        try:
            level = int((entry / "level").read_text())
            kind = (entry / "type").read_text().strip()
            size = _parse_size((entry / "size").read_text())
        except (OSError, ValueError):
            continue
        if kind != "Instruction" and size is not None and 1 <= level <= 3:
            out[f"L{level}"] = size
    return out


def _memory_bytes() -> int | None:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def _versions() -> dict[str, str]:
    out = {}
    for name in _LIBRARIES:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return out


def _blas() -> list[dict[str, Any]]:
    """The BLAS / OpenMP libraries loaded in this process (threadpoolctl); ``numpy`` marks
    the one numpy's own wheel ships (scipy, torch and others may load their own)."""
    try:
        import numpy as np
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keep = ("user_api", "internal_api", "num_threads", "version", "architecture", "threading_layer")
    home = str(Path(np.__file__).resolve().parent)
    found = [
        {
            **{k: i.get(k) for k in keep},
            "numpy": str(Path(i.get("filepath", "")).resolve()).startswith(
                (home + os.sep, home + ".libs")
            ),
        }
        for i in threadpool_info()
    ]
    # in a stable order: the load order differs between processes of one machine
    return sorted(found, key=lambda d: json.dumps(d, sort_keys=True, default=str))


@functools.lru_cache(maxsize=1)
def git_commit() -> str:
    """The toolkit's git commit (``+dirty`` when the checkout has changes), or ``unknown``.

    ``ACCEL_TOOLKIT_GIT_COMMIT`` overrides it (useful in CI images without ``.git``).
    """
    env = os.environ.get("ACCEL_TOOLKIT_GIT_COMMIT")
    if env:
        return env
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@functools.lru_cache(maxsize=1)
def _static_environment() -> dict[str, Any]:
    uname = platform.uname()
    return {
        "hostname": socket.gethostname(),
        "cpu_model": cpu_model(),
        "cpu_caches": cpu_caches(),
        "cores_logical": os.cpu_count(),
        "cores_available": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "memory_bytes": _memory_bytes(),
        "os": f"{uname.system} {uname.release}",
        "platform": platform.platform(),
        "machine": uname.machine,
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "libraries": _versions(),
        "blas": _blas(),
        "threads": {k: os.environ[k] for k in _THREAD_VARS if k in os.environ},
        "toolkit_version": __version__,
        "git_commit": git_commit(),
    }


def environment() -> dict[str, Any]:
    """The fingerprint of the machine and software stack measuring right now."""
    return dict(_static_environment())


def environment_id(env: dict[str, Any]) -> str:
    """A stable hash of a fingerprint: the same machine and stack gives the same id."""
    blob = json.dumps(env, sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]
