"""Backends opened once per sweep, reused across configurations, recovered after crashes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..exceptions import BackendUnavailableError
from . import Backend, get_backend

__all__ = ["BackendPool"]


class BackendPool:
    """Opens each backend on first use and keeps it (one browser for a whole sweep).

    A backend that cannot be opened is remembered as unavailable, so every configuration
    gets the same clear error without trying again.
    """

    def __init__(
        self,
        options: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        instances: Mapping[str, Backend] | None = None,
    ):
        self._options = {k: dict(v) for k, v in (options or {}).items()}
        self._open: dict[str, Backend] = dict(instances or {})
        self._failed: dict[str, BackendUnavailableError] = {}

    def get(self, name: str) -> Backend:
        if name in self._failed:
            raise self._failed[name]
        if name not in self._open:
            try:
                self._open[name] = get_backend(name, **self._options.get(name, {}))
            except BackendUnavailableError as exc:
                self._failed[name] = exc
                raise
        return self._open[name]

    def __contains__(self, name: object) -> bool:
        return name in self._open

    def venue_of(self, name: str) -> str:
        if name in self._open:
            return self._open[name].venue
        default = "headless" if name in ("webgpu", "webnn") else "process"
        return str(self._options.get(name, {}).get("venue") or default)

    def recover(self, name: str) -> None:
        """After a crash: let the backend relaunch itself, or reopen it."""
        be = self._open.get(name)
        if be is None:
            return
        try:
            be.recover()
        except Exception:
            try:
                be.close()
            finally:
                self._open.pop(name, None)

    def close(self) -> None:
        for be in self._open.values():
            try:
                be.close()
            except Exception:
                pass
        self._open.clear()

    def __enter__(self) -> BackendPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
