"""The search space of a tunable WGSL kernel, and the shape buckets it is tuned per.

A :class:`KnobSpace` names the knobs of a kernel's tunable variant (``WgslKernel.tunable``
in ``backends/_wgsl_plans.py``), the values each may take, which combinations are
well-formed, and which ones an adapter's limits rule out. :data:`SPACES` holds one per
tunable kernel; ``accel_toolkit.tune`` searches it.

>>> space = SPACES["matmul"]
>>> len(space.points()) > 100, space.default["tm"]
(True, 4)
>>> bucket("matmul", {"M": 1024, "N": 1024, "K": 1024})
'large'
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..backends._wgsl_plans import GEMM_KNOBS, gemm_knob_problem

__all__ = ["BUCKETS", "SPACES", "KnobSpace", "bucket", "bucket_shape", "knobs_key"]

#: shape buckets of a GEMM: (name, largest cube root of M*N*K it holds, the size tuned)
BUCKETS: tuple[tuple[str, float, int], ...] = (
    ("small", 192.0, 128),
    ("medium", 640.0, 512),
    ("large", math.inf, 1024),
)


def knobs_key(knobs: Mapping[str, Any]) -> str:
    """A short stable text of a point, e.g. ``wg_x=8,wg_y=8,tm=4,...``."""
    return ",".join(f"{k}={int(v) if isinstance(v, bool) else v}" for k, v in knobs.items())


def bucket(kernel: str, params: Mapping[str, Any]) -> str:
    """The shape bucket of ``params``: ``small``, ``medium`` or ``large`` (by the cube root
    of M*N*K, the side of the cube of the same work)."""
    side = float(params["M"] * params["N"] * params["K"]) ** (1 / 3)
    return next(name for name, top, _ in BUCKETS if side <= top)


def bucket_shape(kernel: str, name: str) -> dict[str, int]:
    """The parameters a bucket is tuned at (a square GEMM of the bucket's tuned size)."""
    for b, _, size in BUCKETS:
        if b == name:
            shape = {"M": size, "N": size, "K": size}
            return {"B": 1, **shape} if kernel == "batched_matmul" else shape
    raise KeyError(name)


@dataclass(frozen=True)
class KnobSpace:
    """The knobs of one tunable variant.

    Attributes
    ----------
    kernel, variant : str
        The kernel and its tunable variant.
    axes : dict
        ``{knob: values}``; the space is their product, less ill-formed points.
    default : dict
        The point used where nothing is tuned.
    problem : callable
        ``problem(knobs) -> reason or None``: why a point is ill-formed.
    storage : callable
        ``storage(knobs) -> bytes`` of workgroup memory the point declares.
    """

    kernel: str
    variant: str
    axes: Mapping[str, tuple[Any, ...]]
    default: Mapping[str, Any]
    problem: Callable[[Mapping[str, Any]], str | None]
    storage: Callable[[Mapping[str, Any]], int]

    def points(self) -> list[dict[str, Any]]:
        """Every well-formed point, in a fixed order."""
        names = list(self.axes)
        out = []
        for values in itertools.product(*(self.axes[n] for n in names)):
            k = dict(zip(names, values, strict=True))
            if self.problem(k) is None:
                out.append(k)
        return out

    def limit_problem(self, knobs: Mapping[str, Any], limits: Mapping[str, Any]) -> str | None:
        """Why ``knobs`` exceeds an adapter's ``limits`` (WebGPU names, either spelling)."""
        lim = {k.replace("-", "").replace("_", "").lower(): v for k, v in limits.items()}

        def cap(name: str, default: int) -> int:
            return int(lim.get(name.lower(), default))

        inv = knobs["wg_x"] * knobs["wg_y"]
        if inv > cap("maxComputeInvocationsPerWorkgroup", 256):
            return f"{inv} invocations per workgroup exceed maxComputeInvocationsPerWorkgroup"
        if knobs["wg_x"] > cap("maxComputeWorkgroupSizeX", 256):
            return "wg_x exceeds maxComputeWorkgroupSizeX"
        if knobs["wg_y"] > cap("maxComputeWorkgroupSizeY", 256):
            return "wg_y exceeds maxComputeWorkgroupSizeY"
        need = self.storage(knobs)
        if need > cap("maxComputeWorkgroupStorageSize", 16384):
            return f"{need} bytes of workgroup memory exceed maxComputeWorkgroupStorageSize"
        return None


def _gemm_problem(k: Mapping[str, Any]) -> str | None:
    why = gemm_knob_problem(k)
    if why:
        return why
    inv = k["wg_x"] * k["wg_y"]
    if not 16 <= inv <= 256:
        return "16 to 256 invocations per workgroup"
    if k["tm"] * k["tn"] > 64:
        return "at most 64 outputs per invocation"
    return None


def _gemm_storage(k: Mapping[str, Any]) -> int:
    bm, bn = k["wg_y"] * k["tm"], k["wg_x"] * k["tn"]
    return 4 * k["tk"] * (bm + bn)


_GEMM_AXES: dict[str, tuple[Any, ...]] = {
    "wg_x": (4, 8, 16, 32),
    "wg_y": (4, 8, 16),
    "tm": (1, 2, 4, 8),
    "tn": (1, 2, 4, 8),
    "tk": (4, 8, 16, 32),
    "shared": (True, False),
    "vec4": (True, False),
}

_GEMM = KnobSpace("matmul", "gemm", _GEMM_AXES, GEMM_KNOBS, _gemm_problem, _gemm_storage)

#: kernel -> its :class:`KnobSpace`
SPACES: dict[str, KnobSpace] = {
    "matmul": _GEMM,
    "batched_matmul": KnobSpace("batched_matmul", "gemm", _GEMM_AXES, GEMM_KNOBS, _gemm_problem,
                                _gemm_storage),
}
