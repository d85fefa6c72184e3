"""The browser runtime (``widgets/runtime/*.js``) packed for a widget that loads ONE module.

anywidget loads a widget's ``_esm`` as a single module from a blob URL, so the runtime's
relative imports (``import { timeLoop } from "./timing.js"``) cannot resolve from inside it.
Python reads the runtime's module graph from ``widgets/`` (checkout or wheel), splits every
module's source at its relative import specifiers, and hands the widget the modules in
dependency order::

    [{"name": "runtime/timing.js", "parts": ["// @ts-check ..."]},
     {"name": "runtime/index.js",
      "parts": ["import { timeLoop } from \\"", {"dep": "runtime/timing.js"}, "\\"; ..."]}]

The widget turns each module into a blob URL, substituting its dependencies' blob URLs for
the ``{"dep": ...}`` parts, and ``import()``s the last one (the entry). The browser then runs
exactly the files the headless venue serves, byte for byte apart from the specifiers.
"""

from __future__ import annotations

import functools
import posixpath
import re
from pathlib import Path
from typing import Any

from .._assets import asset_dir

__all__ = ["ENTRY", "runtime_modules"]

#: the runtime's entry module, relative to ``widgets/``
ENTRY = "runtime/index.js"

# import x from "./a.js" | import "./a.js" | export {x} from "./a.js" | import("./a.js")
_SPECIFIER = re.compile(
    r"""(?P<pre>\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(?P<q>["'])(?P<spec>\.{1,2}/[^"'\n]+)(?P=q)"""
)


# comments, and the string literals a comment marker may hide in
_TOKENS = re.compile(
    r"""//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'|`(?:\\.|[^`\\])*`""", re.S
)


def _comment_spans(source: str) -> list[tuple[int, int]]:
    return [m.span() for m in _TOKENS.finditer(source) if m.group().startswith(("//", "/*"))]


def _split(source: str, name: str, root: Path) -> tuple[list[Any], list[str]]:
    parts: list[Any] = []
    deps: list[str] = []
    pos = 0
    comments = _comment_spans(source)
    for m in _SPECIFIER.finditer(source):
        if any(a <= m.start() < b for a, b in comments):
            continue  # e.g. a JSDoc type: {import("./timing.js").TimingSettings}
        dep = posixpath.normpath(posixpath.join(posixpath.dirname(name), m.group("spec")))
        if m.group("pre").rstrip().endswith("(") and not (root / dep).is_file():
            # A dynamic import of a module that is not there: leave it; the runtime
            # catches the failed import() and reports the backend as unavailable.
            continue
        parts.append(source[pos : m.start("spec")])
        parts.append({"dep": dep})
        deps.append(dep)
        pos = m.end("spec")
    parts.append(source[pos:])
    return [p for p in parts if p != ""], deps


def _signature(root: Path) -> tuple[tuple[str, float, int], ...]:
    return tuple(
        sorted(
            (str(p.relative_to(root)), p.stat().st_mtime, p.stat().st_size)
            for p in root.rglob("*.js")
        )
    )


def runtime_modules(entry: str = ENTRY) -> list[dict[str, Any]]:
    """The runtime's modules in dependency order (entry last), split at relative imports.

    Cached until a file under ``widgets/`` changes. Raises FileNotFoundError when the
    runtime is missing and ValueError on an import cycle or an import that leaves
    ``widgets/``.
    """
    root = asset_dir("widgets")
    return _modules(root, entry, _signature(root))


@functools.lru_cache(maxsize=8)
def _modules(root: Path, entry: str, _sig: tuple[Any, ...]) -> list[dict[str, Any]]:
    order: list[dict[str, Any]] = []
    state: dict[str, str] = {}

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            raise ValueError(f"Import cycle in the browser runtime: {' -> '.join(chain + (name,))}")
        if name.startswith("../") or name.startswith("/"):
            raise ValueError(f"{chain[-1]} imports {name!r}, outside widgets/.")
        path = root / name
        if not path.is_file():
            raise FileNotFoundError(
                f"The browser runtime module {name!r} is missing from {root}"
                + (f" (imported by {chain[-1]})" if chain else "")
                + ". Reinstall accel_toolkit or set ACCEL_TOOLKIT_ASSETS."
            )
        state[name] = "visiting"
        parts, deps = _split(path.read_text(encoding="utf-8"), name, root)
        for dep in deps:
            visit(dep, chain + (name,))
        state[name] = "done"
        order.append({"name": name, "parts": parts})

    visit(entry, ())
    return order
