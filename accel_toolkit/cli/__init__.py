"""The ``accel-toolkit`` command line.

Each subcommand lives in a module of this package with a ``register(subparsers)``
function; :data:`COMMAND_MODULES` lists them explicitly (no import side effects).
Errors from the toolkit print their message (which says what to do) and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .._version import __version__
from ..exceptions import AccelToolkitError

__all__ = ["main"]

COMMAND_MODULES = ("_core", "_predict", "_check", "_report", "_notebook")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="accel-toolkit",
        description="Measure, explore and predict the speed of ML kernels on CPU, CUDA, "
        "WebGPU and WebNN.",
    )
    parser.add_argument("--version", action="version", version=f"accel-toolkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``accel-toolkit``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except AccelToolkitError as exc:
        print(f"accel-toolkit: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("accel-toolkit: interrupted; results measured so far are stored.", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
