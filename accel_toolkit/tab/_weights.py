"""Model weights for the live tab, served over the widget's comm by SHA-256.

In the headless venue the page fetches a weight tensor it has not cached from the page server
on 127.0.0.1. A live tab may run on another machine than the kernel, so there the page asks
Python instead: a :class:`~accel_toolkit.tab._protocols.WeightsRequest` names the tensor by its
SHA-256 and a byte range (large tensors come in chunks), and :class:`WeightServer` answers with
those bytes as the message's one buffer. The page checks the whole tensor against the
manifest's SHA-256, caches it in IndexedDB and keeps it on the GPU exactly as it does fetched
bytes (``widgets/runtime/model_weights.js``).

Only tensors of a model request this runner sent are served: :meth:`WeightServer.register`
adds a model's manifest (the blob files of :mod:`accel_toolkit.models._blobs`).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ._protocols import WeightsReply, WeightsRequest

__all__ = ["MAX_CHUNK", "WeightServer"]

#: the most bytes one weights reply carries (the page asks for 8 MiB at a time)
MAX_CHUNK = 64 * 2**20


class WeightServer:
    """The bytes of registered weight tensors, by SHA-256 and byte range."""

    def __init__(self) -> None:
        self._files: dict[str, tuple[Path, int]] = {}
        self.served_bytes = 0
        self.served = 0

    def register(self, folder: str | Path, manifest: Iterable[Mapping[str, Any]]) -> None:
        """Serve the tensors of ``manifest`` (``name, url, sha256, bytes``) from ``folder``,
        where each is the file its ``url`` ends in."""
        for m in manifest:
            path = Path(folder) / posixpath.basename(str(m["url"]))
            self._files[str(m["sha256"])] = (path, int(m["bytes"]))

    def __contains__(self, sha256: object) -> bool:
        return sha256 in self._files

    def serve(self, msg: WeightsRequest) -> tuple[WeightsReply, list[bytes]]:
        """The reply to one weights request: the bytes, or ``ok: false`` with the reason."""
        rid = str(msg.get("id"))
        what = f"weight {msg.get('name')!r} of {msg.get('model')!r}"
        entry = self._files.get(str(msg.get("sha256")))
        if entry is None:
            return self._error(
                rid,
                f"the kernel has no {what} with sha256 {msg.get('sha256')}: it serves only "
                f"the weights of model requests it sent; run the model again from this kernel",
            )
        path, size = entry
        offset, length = msg.get("offset"), msg.get("length")
        if not (
            isinstance(offset, int)
            and isinstance(length, int)
            and 0 <= offset
            and 0 < length <= MAX_CHUNK
            and offset + length <= size
        ):
            return self._error(
                rid,
                f"{what}: bytes {offset}+{length} are not a range of its {size} bytes "
                f"(at most {MAX_CHUNK} a message)",
            )
        try:
            with path.open("rb") as f:
                f.seek(offset)
                data = f.read(length)
        except OSError as exc:
            return self._error(rid, f"{what}: reading {path}: {exc}")
        if len(data) != length:
            return self._error(rid, f"{what}: {path} has fewer than {offset + length} bytes")
        self.served += 1
        self.served_bytes += length
        return WeightsReply(kind="weights", id=rid, ok=True), [data]

    @staticmethod
    def _error(rid: str, message: str) -> tuple[WeightsReply, list[bytes]]:
        return WeightsReply(kind="weights", id=rid, ok=False, error=message), []
