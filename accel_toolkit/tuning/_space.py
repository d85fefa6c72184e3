"""The search space of a tunable WGSL kernel, and the shape buckets it is tuned per.

A :class:`KnobSpace` names the knobs of a kernel's tunable variant (``WgslKernel.tunable``
in ``backends/_wgsl_plans.py``), the values each may take, which combinations are
well-formed, which ones an adapter's limits rule out, the shape buckets it is tuned per
(small shapes and large ones want different tiles) and the shapes every point is checked
on. :data:`SPACES` holds one per tunable kernel; ``accel_toolkit.tuning`` searches it.

>>> space = SPACES["matmul"]
>>> len(space.points()) > 100, space.default["tm"]
(True, 4)
>>> bucket("matmul", {"M": 1024, "N": 1024, "K": 1024})
'large'
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..backends._wgsl_plans import (
    ATTENTION_KNOBS,
    CONV_KNOBS,
    GEMM_KNOBS,
    INT8_KNOBS,
    REDUCE_KNOBS,
    ROW_KNOBS,
    SWIFTSHADER_GEMM_KNOBS,
    attention_knob_problem,
    conv_knob_problem,
    gemm_knob_problem,
    int8_knob_problem,
    row_knob_problem,
)

__all__ = ["SPACES", "KnobSpace", "bucket", "bucket_shape", "knobs_key"]


def knobs_key(knobs: Mapping[str, Any]) -> str:
    """A short stable text of a point, e.g. ``wg_x=8,wg_y=8,tm=4,...``."""
    return ",".join(f"{k}={int(v) if isinstance(v, bool) else v}" for k, v in knobs.items())


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
    workgroup : callable
        ``workgroup(knobs) -> (x, y)``: the workgroup size of the point.
    storage : callable
        ``storage(knobs) -> bytes`` of workgroup memory the point declares.
    buckets : tuple
        ``(name, shape)`` per shape bucket, smallest first: the shape is where it is tuned.
    bucket_of : callable
        ``bucket_of(params) -> name``.
    verify : tuple of dict
        The shapes every point is checked on before it is timed (partial tiles, odd sizes).
    adapter_defaults : tuple
        ``(needle, knobs)``: the default point of an adapter class, measured on it; an
        adapter whose fingerprint (vendor, architecture, device, driver) contains ``needle``
        (lower case) gets ``knobs`` instead of ``default`` (see :meth:`default_for`).
    legacy : dict
        Values of knobs added after points were first stored: a stored point without such a
        knob had this value.
    """

    kernel: str
    variant: str
    axes: Mapping[str, tuple[Any, ...]]
    default: Mapping[str, Any]
    problem: Callable[[Mapping[str, Any]], str | None]
    workgroup: Callable[[Mapping[str, Any]], tuple[int, int]]
    storage: Callable[[Mapping[str, Any]], int]
    buckets: tuple[tuple[str, Mapping[str, int]], ...]
    bucket_of: Callable[[Mapping[str, Any]], str]
    verify: tuple[Mapping[str, int], ...]
    adapter_defaults: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    legacy: Mapping[str, Any] = field(default_factory=dict)

    def default_for(self, fp: Mapping[str, Any] | None) -> Mapping[str, Any]:
        """The default point for the adapter of fingerprint ``fp`` (``fingerprint(...)``)."""
        text = " ".join(
            str((fp or {}).get(k, "")) for k in ("vendor", "architecture", "device", "driver")
        ).lower()
        for needle, knobs in self.adapter_defaults:
            if needle in text:
                return knobs
        return self.default

    @property
    def bucket_names(self) -> list[str]:
        return [name for name, _ in self.buckets]

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
        """Why ``knobs`` exceeds an adapter's ``limits`` (WebGPU names, either spelling;
        WebGPU's defaults where a limit is not given)."""
        lim = {k.replace("-", "").replace("_", "").lower(): v for k, v in limits.items()}

        def cap(name: str, default: int) -> int:
            return int(lim.get(name.lower(), default))

        x, y = self.workgroup(knobs)
        if x * y > cap("maxComputeInvocationsPerWorkgroup", 256):
            return f"{x * y} invocations per workgroup exceed maxComputeInvocationsPerWorkgroup"
        if x > cap("maxComputeWorkgroupSizeX", 256):
            return f"workgroup size x {x} exceeds maxComputeWorkgroupSizeX"
        if y > cap("maxComputeWorkgroupSizeY", 256):
            return f"workgroup size y {y} exceeds maxComputeWorkgroupSizeY"
        need = self.storage(knobs)
        if need > cap("maxComputeWorkgroupStorageSize", 16384):
            return f"{need} bytes of workgroup memory exceed maxComputeWorkgroupStorageSize"
        return None


def bucket(kernel: str, params: Mapping[str, Any]) -> str:
    """The shape bucket of ``params`` for ``kernel`` (``small``, ``medium`` or ``large``)."""
    return SPACES[kernel].bucket_of(params)


def bucket_shape(kernel: str, name: str) -> dict[str, int]:
    """The parameters bucket ``name`` of ``kernel`` is tuned at."""
    for b, shape in SPACES[kernel].buckets:
        if b == name:
            return dict(shape)
    raise KeyError(name)


# -- GEMM: matmul.wgsl's gemm ------------------------------------------------------------------
def _gemm_problem(k: Mapping[str, Any]) -> str | None:
    why = gemm_knob_problem(k)
    if why:
        return why
    inv = k["wg_x"] * k["wg_y"]
    if not 16 <= inv <= 256:
        return "16 to 256 invocations per workgroup"
    if k["tm"] * k["tn"] > 64:
        return "at most 64 outputs per invocation"
    if not k["unroll"] and (k["wg_x"] > 32 or k["wg_y"] < 4):
        return "workgroups of 64 columns or under 4 rows are searched for unrolled points only"
    return None


def _gemm_storage(k: Mapping[str, Any]) -> int:
    bm, bn = k["wg_y"] * k["tm"], k["wg_x"] * k["tn"]
    return int(4 * k["tk"] * (bm + bn))


def _gemm_bucket(p: Mapping[str, Any]) -> str:
    """By the cube root of M*N*K (the side of the cube of the same work)."""
    side = float(p["M"] * p["N"] * p["K"]) ** (1 / 3)
    return "small" if side <= 192 else "medium" if side <= 640 else "large"


_GEMM_AXES: dict[str, tuple[Any, ...]] = {
    "wg_x": (4, 8, 16, 32, 64),
    "wg_y": (1, 2, 4, 8, 16),
    "tm": (1, 2, 4, 8),
    "tn": (1, 2, 4, 8),
    "tk": (4, 8, 16, 32),
    "shared": (True, False),
    "vec4": (True, False),
    "unroll": (False, True),
}


def _batched_bucket(p: Mapping[str, Any]) -> str:
    """By the cube root of B*M*N*K (the work of all the batch's products)."""
    return _gemm_bucket({"M": p["B"] * p["M"], "N": p["N"], "K": p["K"]})


def _linear_gelu_problem(k: Mapping[str, Any]) -> str | None:
    if not k["unroll"]:
        return "linear_gelu's GELU block is in the unrolled entry points only"
    return _gemm_problem(k)


#: the shapes each GEMM-like kernel is tuned at, per bucket: square for matmul; for
#: batched_matmul 8 products of the side that puts B*M*N*K in the bucket; for linear_gelu
#: a transformer's FFN up-projection (N = 4K; medium is MiniLM's at 128 tokens)
_GEMM_SHAPES: dict[str, dict[str, dict[str, int]]] = {
    "matmul": {
        name: {"M": n, "N": n, "K": n}
        for name, n in (("small", 128), ("medium", 512), ("large", 1024))
    },
    "batched_matmul": {
        name: {"B": 8, "M": n, "N": n, "K": n}
        for name, n in (("small", 64), ("medium", 256), ("large", 512))
    },
    "linear_gelu": {
        "small": {"M": 128, "N": 256, "K": 128},
        "medium": {"M": 128, "N": 1536, "K": 384},
        "large": {"M": 512, "N": 2048, "K": 512},
    },
}


def _gemm_space(kernel: str) -> KnobSpace:
    lead = {"B": 1} if kernel == "batched_matmul" else {}
    sq = _GEMM_SHAPES[kernel]
    gelu = kernel == "linear_gelu"
    # partial tiles on every axis; the last shape has N and K multiples of 4 (entry gemm4)
    verify: tuple[dict[str, int], ...] = (
        {"M": 67, "N": 45, "K": 35},
        {"M": 133, "N": 150, "K": 37},
        {"M": 70, "N": 132, "K": 36},
    )
    if lead:
        verify = ({"B": 2, **verify[0]}, {"B": 1, **verify[1]}, {"B": 2, **verify[2]})
    if gelu:  # one shape for the tiled fallback, two for the fused gemmu/gemmus
        verify = (verify[0], verify[2], {"M": 133, "N": 260, "K": 68})
    return KnobSpace(
        kernel,
        "gemm",
        {**_GEMM_AXES, "vec4": (True,), "unroll": (True,)} if gelu else _GEMM_AXES,
        GEMM_KNOBS,
        _linear_gelu_problem if gelu else _gemm_problem,
        lambda k: (k["wg_x"], k["wg_y"]),
        _gemm_storage,
        tuple(sq.items()),
        _batched_bucket if lead else _gemm_bucket,
        verify,
        (("swiftshader", SWIFTSHADER_GEMM_KNOBS),),
        {} if gelu else {"unroll": False},
    )


# -- rows: softmax.wgsl and layernorm.wgsl's rows ---------------------------------------------
def _row_problem(k: Mapping[str, Any]) -> str | None:
    why = row_knob_problem(k)
    if why:
        return why
    if not 16 <= k["tx"] * k["rpw"] <= 256:
        return "16 to 256 invocations per workgroup"
    return None


def _row_bucket(p: Mapping[str, Any]) -> str:
    """By the row length (how many invocations a row can keep busy)."""
    return "small" if p["cols"] <= 256 else "medium" if p["cols"] <= 1536 else "large"


#: reduce's check shapes: sum and max along rows (the tunable entry point) and one along
#: columns (axis 0 runs ``cols`` whatever the knobs)
_REDUCE_VERIFY: tuple[dict[str, Any], ...] = (
    {"rows": 37, "cols": 300, "op": "sum", "axis": 1},
    {"rows": 5, "cols": 77, "op": "max", "axis": 1},
    {"rows": 3, "cols": 1, "op": "sum", "axis": 1},
    {"rows": 9, "cols": 33, "op": "max", "axis": 0},
)


def _row_space(kernel: str) -> KnobSpace:
    default_verify = ({"rows": 37, "cols": 300}, {"rows": 5, "cols": 77}, {"rows": 3, "cols": 1})
    return KnobSpace(
        kernel,
        "rows",
        {"tx": (16, 32, 64, 128, 256), "rpw": (1, 2, 4, 8, 16)},
        REDUCE_KNOBS if kernel == "reduce" else ROW_KNOBS,
        _row_problem,
        lambda k: (k["tx"], k["rpw"]),
        lambda k: 4 * k["tx"] * k["rpw"],
        (
            ("small", {"rows": 1024, "cols": 128}),
            ("medium", {"rows": 1024, "cols": 1024}),
            ("large", {"rows": 1024, "cols": 4096}),
        ),
        _row_bucket,
        _REDUCE_VERIFY if kernel == "reduce" else default_verify,
    )


# -- conv2d: conv2d.wgsl's gemm (the implicit GEMM) ---------------------------------------------
def _conv_problem(k: Mapping[str, Any]) -> str | None:
    why = conv_knob_problem(k)
    if why:
        return why
    if not 16 <= k["wg_x"] * k["wg_y"] <= 256:
        return "16 to 256 invocations per workgroup"
    if k["tm"] * k["tn"] > 64:
        return "at most 64 outputs per invocation"
    return None


def _conv_bucket(p: Mapping[str, Any]) -> str:
    """By the cube root of its GEMM's work, F * (N*OH*OW) * (C*k*k)."""
    oh = (p["H"] + 2 * p["padding"] - p["kernel"]) // p["stride"] + 1
    ow = (p["W"] + 2 * p["padding"] - p["kernel"]) // p["stride"] + 1
    work = p["F"] * p["N"] * oh * ow * p["C"] * p["kernel"] ** 2
    side = float(work) ** (1 / 3)
    return "small" if side <= 128 else "medium" if side <= 512 else "large"


def _conv_shape(n: int, c: int, hw: int, f: int) -> dict[str, int]:
    return {"N": n, "C": c, "H": hw, "W": hw, "F": f, "kernel": 3, "stride": 1, "padding": 1}


def _conv_space() -> KnobSpace:
    return KnobSpace(
        "conv2d",
        "gemm",
        {"wg_x": (4, 8, 16, 32, 64), "wg_y": (1, 2, 4, 8), "tm": (1, 2, 4, 8), "tn": (4, 8)},
        CONV_KNOBS,
        _conv_problem,
        lambda k: (k["wg_x"], k["wg_y"]),
        lambda k: 0,
        (
            ("small", _conv_shape(1, 16, 16, 16)),
            ("medium", _conv_shape(1, 64, 28, 64)),
            ("large", _conv_shape(2, 64, 56, 64)),
        ),
        _conv_bucket,
        (  # partial tiles on both axes, stride 2, 1x1 and 5x5, and C = 3 (the direct fallback)
            {"N": 2, "C": 4, "H": 9, "W": 7, "F": 5, "kernel": 3, "stride": 1, "padding": 1},
            {"N": 1, "C": 8, "H": 11, "W": 13, "F": 7, "kernel": 3, "stride": 2, "padding": 1},
            {"N": 1, "C": 12, "H": 6, "W": 6, "F": 9, "kernel": 1, "stride": 1, "padding": 0},
            {"N": 1, "C": 8, "H": 10, "W": 9, "F": 6, "kernel": 5, "stride": 2, "padding": 0},
            {"N": 1, "C": 3, "H": 10, "W": 10, "F": 6, "kernel": 5, "stride": 1, "padding": 2},
        ),
    )


# -- attention: attention.wgsl's flash (register-blocked, no barrier) ----------------------------
def _attention_problem(k: Mapping[str, Any]) -> str | None:
    why = attention_knob_problem(k)
    if why:
        return why
    if k["tq"] * k["tk"] > 32:
        return "at most 32 scores per step (tq * tk)"
    return None


def _attention_bucket(p: Mapping[str, Any]) -> str:
    """By the sequence length (keys per query row)."""
    return "small" if p["seq"] <= 160 else "medium" if p["seq"] <= 640 else "large"


def _attention_shape(heads: int, seq: int, dim: int) -> dict[str, Any]:
    return {"batch": 1, "heads": heads, "seq": seq, "head_dim": dim, "causal": False}


def _attention_space() -> KnobSpace:
    return KnobSpace(
        "attention",
        "flash",
        {"wg": (4, 8, 16, 32, 64), "tq": (1, 2, 4, 8), "tk": (1, 2, 4, 8)},
        ATTENTION_KNOBS,
        _attention_problem,
        lambda k: (k["wg"], 1),
        lambda k: 0,
        (  # small: MiniLM's heads (12 x 128 x 32)
            ("small", _attention_shape(12, 128, 32)),
            ("medium", _attention_shape(8, 256, 64)),
            ("large", _attention_shape(8, 1024, 64)),
        ),
        _attention_bucket,
        (  # partial query and key tiles, causal, several heads, head_dim 4 and 128, and
            # head_dim 20 / 3 (not a multiple of 4: the fallback `main`)
            {"batch": 1, "heads": 1, "seq": 37, "head_dim": 40, "causal": True},
            {"batch": 2, "heads": 3, "seq": 19, "head_dim": 8, "causal": False},
            {"batch": 1, "heads": 2, "seq": 35, "head_dim": 20, "causal": False},
            {"batch": 2, "heads": 1, "seq": 70, "head_dim": 128, "causal": True},
            {"batch": 1, "heads": 1, "seq": 1, "head_dim": 4, "causal": True},
            {"batch": 1, "heads": 1, "seq": 5, "head_dim": 3, "causal": True},
        ),
    )


# -- matmul_int8: matmul_int8.wgsl's gemm ------------------------------------------------------
def _int8_problem(k: Mapping[str, Any]) -> str | None:
    why = int8_knob_problem(k)
    if why:
        return why
    if not 16 <= k["wg_x"] * k["wg_y"] <= 256:
        return "16 to 256 invocations per workgroup"
    if k["tm"] * k["tn"] > 64:
        return "at most 64 outputs per invocation"
    return None


def _int8_space() -> KnobSpace:
    return KnobSpace(
        "matmul_int8",
        "gemm",
        {
            "wg_x": (4, 8, 16, 32, 64),
            "wg_y": (1, 2, 4, 8, 16),
            "tm": (1, 2, 4, 8),
            "tn": (1, 2, 4, 8),
        },
        INT8_KNOBS,
        _int8_problem,
        lambda k: (k["wg_x"], k["wg_y"]),
        lambda k: 0,
        tuple(
            (name, {"M": n, "N": n, "K": n})
            for name, n in (("small", 128), ("medium", 512), ("large", 768))
        ),
        _gemm_bucket,
        (  # partial tiles on both axes, K not a multiple of 4 (zero-padded words)
            {"M": 67, "N": 45, "K": 35},
            {"M": 133, "N": 150, "K": 37},
            {"M": 5, "N": 264, "K": 100},
        ),
    )


#: kernel -> its :class:`KnobSpace`
SPACES: dict[str, KnobSpace] = {
    "matmul": _gemm_space("matmul"),
    "batched_matmul": _gemm_space("batched_matmul"),
    "linear_gelu": _gemm_space("linear_gelu"),
    "softmax": _row_space("softmax"),
    "layernorm": _row_space("layernorm"),
    "reduce": _row_space("reduce"),
    "conv2d": _conv_space(),
    "matmul_int8": _int8_space(),
    "attention": _attention_space(),
}
