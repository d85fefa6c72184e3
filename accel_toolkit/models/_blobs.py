"""Weight blobs for the browser's IndexedDB cache: one file and one SHA-256 per tensor.

:func:`write_blobs` writes each array's float32 bytes to ``folder`` and returns the manifest
that ``widgets/runtime/model_weights.js`` (``loadWeights``) reads: ``name, url, sha256,
bytes`` per blob. The page uses fetched bytes only if they hash to the manifest's SHA-256,
and a cached tensor only if it was stored under that SHA-256 and its bytes still give the
content check stored with them, so a corrupted entry is fetched again, never used. The
page's executor keeps uploaded tensors on the GPU for later requests, keyed by model and
SHA-256 (docs/models.md); Python keeps no record of what is resident, so a relaunched
browser simply loads and uploads them again.
"""

from __future__ import annotations

import functools
import hashlib
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["cached_weights", "write_blobs"]


def write_blobs(
    arrays: Mapping[str, np.ndarray], folder: str | Path, *, url_prefix: str = "/weights/"
) -> list[dict[str, object]]:
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
        manifest.append(
            {
                "name": name,
                "url": url_prefix + file,
                "sha256": hashlib.sha256(data).hexdigest(),
                "bytes": len(data),
            }
        )
    return manifest


@functools.cache
def _model_blobs(model: str) -> tuple[str, tuple[dict[str, object], ...]]:
    """Write a model's weight blobs once per process; return (folder, manifest)."""
    from ._plan import model_plan, weight_inputs
    from ._spec import get_model_spec

    spec = get_model_spec(model)
    seq = 5 if spec.front == "patch" else 2  # any shape: the weights are the same
    arrays = {
        k: v for k, v in weight_inputs(spec, model_plan(spec, 1, seq)).items() if k != "zeros"
    }
    folder = Path(tempfile.mkdtemp(prefix=f"accel-weights-{model}-"))
    return str(folder), tuple(write_blobs(arrays, folder, url_prefix=f"/weights/{model}/"))


def cached_weights(backend: Any, model: str, plan_inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The ``weights=`` of :meth:`WebGPUBackend.run_plan` for a model's plan.

    Writes the model's blobs once per process, serves them from the backend's page server
    (mounted again on every call, so a relaunched session has them too) and lists those the
    plan takes (``plan_inputs``: the plan's ``inputs``).
    """
    folder, manifest = _model_blobs(model)
    backend.session.server.mount(f"/weights/{model}/", folder)
    return {"model": model, "blobs": [dict(m) for m in manifest if m["name"] in plan_inputs]}
