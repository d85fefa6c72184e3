"""An explicit registry of what implements each kernel on one backend, found by kernel name.

Each backend module that turns a :class:`~accel_toolkit.kernels.KernelSpec` into work keeps
one :class:`Registry` and fills it with explicit :meth:`Registry.register` calls in that same
module (as papermill's ``papermill_engines.register(...)``), never as a side effect of
importing some other module::

    >>> from accel_toolkit.kernels import Registry
    >>> graphs = Registry[str]("WebNN graph builder", "backends/browser/_webnn_graphs.py")
    >>> graphs.register("softmax", "softmax(x, 1)")
    'softmax(x, 1)'
    >>> graphs["no_such_kernel"]
    Traceback (most recent call last):
    ...
    accel_toolkit.exceptions.UnsupportedKernelError: kernel 'no_such_kernel' has no WebNN ...

The message of a missing entry names the piece and the file to add it in, so a coverage
test that walks :data:`~accel_toolkit.kernels.KERNELS` tells a contributor what is left.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

from ..exceptions import UnsupportedKernelError

__all__ = ["Registry"]

T = TypeVar("T")

#: the page that says how to add a kernel, named by every "missing" message
GUIDE = "docs/adding-a-kernel.md"


class Registry(Generic[T]):
    """What implements each kernel on one backend, by kernel name.

    Parameters
    ----------
    what : str
        The piece one entry is, e.g. ``"WGSL plan builder"``.
    where : str
        The file (from the repository root) where entries are registered.
    """

    def __init__(self, what: str, where: str) -> None:
        self.what = what
        self.where = where
        self._entries: dict[str, T] = {}

    def register(self, kernel: str, entry: T) -> T:
        """Add ``entry`` for ``kernel`` and return it; a second entry for a kernel is an error."""
        if kernel in self._entries:
            raise ValueError(
                f"kernel {kernel!r} already has a {self.what} in {self.where}; "
                f"register each kernel once."
            )
        self._entries[kernel] = entry
        return entry

    def missing(self, kernel: str) -> str:
        """The sentence that says ``kernel`` has no entry here and where to add one."""
        return f"kernel {kernel!r} has no {self.what}: add one in {self.where} (see {GUIDE})"

    def __getitem__(self, kernel: str) -> T:
        try:
            return self._entries[kernel]
        except KeyError:
            raise UnsupportedKernelError(self.missing(kernel)) from None

    def get(self, kernel: str) -> T | None:
        """The entry of ``kernel``, or ``None``."""
        return self._entries.get(kernel)

    def __contains__(self, kernel: object) -> bool:
        return kernel in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.what!r}, {self.where!r}: {', '.join(self._entries)})"
