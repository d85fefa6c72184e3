"""Finding the ``shaders/`` and ``widgets/`` folders from a checkout or an installed wheel.

In a checkout they sit beside the package (``<repo>/shaders``); in a wheel they are mapped
into ``accel_toolkit/_assets/`` (see ``pyproject.toml``). ``ACCEL_TOOLKIT_ASSETS`` overrides
both (a folder holding ``shaders/`` and ``widgets/``).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

__all__ = ["asset_dir", "load_shader", "shader_path", "widget_path"]

_PKG = Path(__file__).resolve().parent


@functools.cache
def asset_dir(kind: str) -> Path:
    """The folder of ``kind`` (``"shaders"`` or ``"widgets"``)."""
    candidates = []
    if os.environ.get("ACCEL_TOOLKIT_ASSETS"):
        candidates.append(Path(os.environ["ACCEL_TOOLKIT_ASSETS"]) / kind)
    candidates += [_PKG / "_assets" / kind, _PKG.parent / kind]
    for c in candidates:
        if c.is_dir():
            return c
    raise FileNotFoundError(
        f"accel_toolkit cannot find its {kind}/ folder (looked in "
        f"{', '.join(str(c) for c in candidates)}). Reinstall the package, or set "
        f"ACCEL_TOOLKIT_ASSETS to a folder that holds {kind}/."
    )


def shader_path(name: str) -> Path:
    """Path of a shader file, e.g. ``shader_path("matmul.wgsl")``."""
    p = asset_dir("shaders") / name
    if not p.is_file():
        raise FileNotFoundError(f"No shader {name!r} in {asset_dir('shaders')}.")
    return p


@functools.cache
def load_shader(name: str) -> str:
    """The text of a shader file (cached)."""
    return shader_path(name).read_text(encoding="utf-8")


def widget_path(name: str) -> Path:
    """Path of a file under ``widgets/``, e.g. ``widget_path("runtime/index.js")``."""
    p = asset_dir("widgets") / name
    if not p.is_file():
        raise FileNotFoundError(f"No widget file {name!r} in {asset_dir('widgets')}.")
    return p
