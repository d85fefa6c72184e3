"""Silence what graphics drivers print on stderr while the toolkit probes them.

Mesa's Vulkan driver (lavapipe) writes ``error: XDG_RUNTIME_DIR is invalid ...`` to file
descriptor 2 whenever wgpu enumerates adapters without a Wayland session: nothing to act on, and
the toolkit must not change the user's environment to avoid it. :func:`quiet_driver_noise` drops
exactly those lines and passes everything else written to stderr on when its block ends.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator

__all__ = ["DRIVER_NOISE", "quiet_driver_noise"]

#: what graphics drivers print on stderr while the toolkit probes them, with nothing to act on
#: (Mesa's Vulkan driver looks for a Wayland display while wgpu enumerates adapters)
DRIVER_NOISE = re.compile(rb"^error: XDG_RUNTIME_DIR is invalid or not set in the environment\.$")


@contextlib.contextmanager
def quiet_driver_noise() -> Iterator[None]:
    """Drop :data:`DRIVER_NOISE` lines that C libraries write to file descriptor 2 in the
    block; everything else written to stderr is passed on when the block ends. The
    environment is left as it is."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            kept = [
                line
                for line in tmp.read().splitlines(keepends=True)
                if not DRIVER_NOISE.match(line.rstrip(b"\r\n"))
            ]
            if kept:
                os.write(2, b"".join(kept))
