"""Weight blobs for the browser's IndexedDB cache: one file and one SHA-256 per tensor.

:func:`write_blobs` writes each array's float32 bytes to ``folder`` and returns the manifest
that ``widgets/runtime/model_weights.js`` (``loadWeights``) reads: ``name, url, sha256,
bytes`` per blob. The page keeps a blob from IndexedDB only while its bytes hash to the
manifest's SHA-256, so a corrupted entry is fetched again, never used.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

__all__ = ["write_blobs"]


def write_blobs(arrays: Mapping[str, np.ndarray], folder: str | Path, *,
                url_prefix: str = "/weights/") -> list[dict[str, object]]:
    """Write one ``<name>.bin`` per array (float32, C order); return the page's manifest.

    Parameters
    ----------
    arrays : mapping of str to ndarray
        Tensors by name (for a model: :func:`accel_toolkit.models._plan.weight_inputs`).
    folder : path
        Where the files go; the page fetches them at ``url_prefix + file name``.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    manifest: list[dict[str, object]] = []
    for name, a in arrays.items():
        data = np.ascontiguousarray(a, np.float32).tobytes()
        file = re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".bin"
        (out / file).write_bytes(data)
        manifest.append({"name": name, "url": url_prefix + file,
                         "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)})
    return manifest
