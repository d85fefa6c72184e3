"""The ``accel-toolkit`` command line.

Each subcommand lives in a module of this package with a ``register(subparsers)``
function; :data:`COMMAND_MODULES` lists them explicitly (no import side effects).
Errors from the toolkit and usage errors print one line (what went wrong and what to do)
and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from .._version import __version__
from ..exceptions import AccelToolkitError

__all__ = ["main"]

COMMAND_MODULES = (
    "_core",
    "_bench",
    "_predict",
    "_check",
    "_ab",
    "_report",
    "_notebook",
    "_worker",
    "_cluster",
    "_tune",
)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
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
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv
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
