"""One plan builder per kernel: which shader, buffers, uniforms, passes and workgroup counts.

Every builder takes ``(spec, params, dtype, variant)`` and returns a
:class:`~accel_toolkit.backends._compute_plan.ComputePlan`; the builder of a kernel with a
tunable variant also takes ``knobs=`` (the tuning parameters of that variant). The registry
:data:`WGSL_PLANS` holds, for each kernel name, its builder, its variants (the first is the
default), an optional parameter limit and its tunable variant with default knobs; the
registrations are the explicit calls at the end of this module. Sizes go in a uniform struct
of u32 (floats as their f32 bits), padded to 16 bytes.
"""

from __future__ import annotations

import itertools
import math
import re
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..exceptions import ParameterError
from ..kernels import KernelSpec, Registry
from ..kernels._conv import out_size
from ._compute_plan import (
    DOT4,
    MAX_WORKGROUPS,
    BufferSpec,
    ComputePlan,
    OutputSpec,
    PassSpec,
    render_shader,
)

__all__ = [
    "ATTENTION_KNOBS",
    "CONV_KNOBS",
    "FLASH_MAX_DIM",
    "GEMM_KNOBS",
    "INT8_KNOBS",
    "REDUCE_KNOBS",
    "ROW_KNOBS",
    "SWIFTSHADER_GEMM_KNOBS",
    "WGSL_PLANS",
    "WgslKernel",
    "attention_entry",
    "attention_knob_problem",
    "attention_source",
    "attention_tiles",
    "conv_entry",
    "conv_knob_problem",
    "conv_source",
    "gemm_entry",
    "gemm_grid",
    "gemm_knob_problem",
    "gemm_source",
    "int8_knob_problem",
    "int8_source",
    "row_knob_problem",
    "unroll_lines",
]


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def _pad4(n: int) -> int:
    return max(4, _ceil(n, 4) * 4)


def grid(groups: int) -> tuple[int, int, int]:
    """Workgroup counts for ``groups`` linear workgroups, tiled over y past 65535."""
    groups = max(1, groups)
    x = min(groups, MAX_WORKGROUPS)
    return (x, _ceil(groups, x), 1)


class _Plan:
    """Collects the parts of a plan in the order the protocol wants them."""

    def __init__(
        self, spec: KernelSpec, params: Mapping[str, Any], dtype: str, variant: str
    ) -> None:
        self.spec, self.params, self.dtype, self.variant = spec, dict(params), dtype, variant
        self.item = np.dtype(dtype).itemsize
        self.shaders: dict[str, str] = {}
        self.buffers: list[BufferSpec] = []
        self.passes: list[PassSpec] = []
        self.outputs: list[OutputSpec] = []
        self.inputs: dict[str, tuple[str, tuple[int, ...]]] = {}
        self.uniforms: dict[str, bytes] = {}
        self.encoders: dict[str, Callable[[np.ndarray], bytes]] = {}
        self.features: list[str] = ["shader-f16"] if dtype == "float16" else []
        self.knobs: dict[str, Any] = {}
        self._init = 0

    def shader(
        self, name: str, blocks: tuple[str, ...] = (), knobs: Mapping[str, int | bool] | None = None
    ) -> str:
        self.shaders[name] = render_shader(name, self.dtype, blocks, knobs)
        return name

    def input(
        self,
        name: str,
        shape: tuple[int, ...],
        dtype: str | None = None,
        nbytes: int | None = None,
        encoder: Callable[[np.ndarray], bytes] | None = None,
    ) -> str:
        dt = dtype or self.dtype
        size = nbytes if nbytes is not None else math.prod(shape) * np.dtype(dt).itemsize
        self.buffers.append(BufferSpec(name, _pad4(size), "input", self._init))
        self._init += 1
        self.inputs[name] = (dt, tuple(shape))
        if encoder is not None:
            self.encoders[name] = encoder
        return name

    def uniform(self, name: str, *values: int | float) -> str:
        words = [
            struct.pack("<f", v) if isinstance(v, float) else struct.pack("<I", int(v))
            for v in values
        ]
        words += [b"\0\0\0\0"] * (-len(words) % 4)
        blob = b"".join(words)
        self.buffers.append(BufferSpec(name, len(blob), "uniform", self._init))
        self._init += 1
        self.uniforms[name] = blob
        return name

    def output(self, name: str, shape: tuple[int, ...], dtype: str | None = None) -> str:
        dt = dtype or self.dtype
        self.buffers.append(
            BufferSpec(name, _pad4(math.prod(shape) * np.dtype(dt).itemsize), "output")
        )
        self.outputs.append(OutputSpec(name, name, dt, tuple(shape)))
        return name

    def dispatch(
        self,
        shader: str,
        entry: str,
        bindings: tuple[str, ...],
        workgroups: tuple[int, int, int],
        workgroup_size: tuple[int, int, int],
        **constants: float,
    ) -> None:
        x, y, z = (int(w) for w in workgroups)
        self.passes.append(
            PassSpec(shader, entry, tuple(bindings), (x, y, z), dict(constants), workgroup_size)
        )

    def build(self) -> ComputePlan:
        return ComputePlan(
            kernel=self.spec.name,
            variant=self.variant,
            dtype=self.dtype,
            params=self.params,
            features=tuple(self.features),
            shaders=self.shaders,
            buffers=tuple(self.buffers),
            passes=tuple(self.passes),
            outputs=tuple(self.outputs),
            inputs=self.inputs,
            uniforms=self.uniforms,
            encoders=self.encoders,
            knobs=self.knobs,
        )


# -- matmuls ---------------------------------------------------------------------------------
#: variant -> (entry point, override constants)
_GEMM = {
    "tiled": ("tiled", {"TILE": 16}),
    "naive": ("naive", {"WG_X": 8, "WG_Y": 8}),
    "tiled8": ("tiled", {"TILE": 8}),
    "blocked": ("blocked", {"TILE": 16}),  # matmul.wgsl only: 4 x 4 outputs per invocation
}
_RT = 4  # outputs per invocation and axis of matmul.wgsl's blocked entry point


def _gemm_pass(
    b: _Plan,
    shader: str,
    bindings: tuple[str, ...],
    m: int,
    n: int,
    batch: int,
    variant: str | None = None,
) -> None:
    entry, consts = _GEMM[variant or b.variant]
    if entry == "blocked":
        t = consts["TILE"]
        span = t * _RT
        b.dispatch(
            shader, entry, bindings, (_ceil(n, span), _ceil(m, span), batch), (t, t, 1), **consts
        )
    elif entry == "tiled":
        t = consts["TILE"]
        b.dispatch(shader, entry, bindings, (_ceil(n, t), _ceil(m, t), batch), (t, t, 1), **consts)
    else:
        wx, wy = consts["WG_X"], consts["WG_Y"]
        b.dispatch(
            shader, entry, bindings, (_ceil(n, wx), _ceil(m, wy), batch), (wx, wy, 1), **consts
        )


#: default knobs of matmul.wgsl's ``gemm`` variant: of the points within WebGPU's default
#: limits (16 KiB of workgroup memory, 256 invocations), the fastest measured on lavapipe at
#: 256, 512 and 1024 on the build machine (docs/tuning.md): the unrolled ``gemmu`` entry
#: point, an 8 x 8 workgroup, 4 x 8 outputs per invocation
GEMM_KNOBS: dict[str, Any] = {
    "wg_x": 8,
    "wg_y": 8,
    "tm": 4,
    "tn": 8,
    "tk": 4,
    "shared": False,
    "vec4": True,
    "unroll": True,
}
#: the default on SwiftShader (Chromium's WebGPU without a GPU), measured there the same way:
#: ``gemmu`` with 16 x 1 workgroups of 4 x 4 outputs per invocation
SWIFTSHADER_GEMM_KNOBS: dict[str, Any] = {
    **GEMM_KNOBS,
    "wg_x": 16,
    "wg_y": 1,
    "tn": 4,
}
_GEMM_SHADER_KNOBS = {
    "wg_x": "G_WX",
    "wg_y": "G_WY",
    "tm": "G_TM",
    "tn": "G_TN",
    "tk": "G_TK",
    "shared": "G_SHARED",
}


def gemm_knob_problem(knobs: Mapping[str, Any]) -> str | None:
    """Why ``knobs`` is not a point of the ``gemm`` space (``None`` if it is)."""
    if set(knobs) != set(GEMM_KNOBS):
        return (
            f"gemm knobs must be exactly {', '.join(GEMM_KNOBS)}; got "
            f"{', '.join(sorted(knobs)) or 'none'}"
        )
    ints = {k: v for k, v in knobs.items() if k not in ("shared", "vec4", "unroll")}
    if any(not isinstance(v, int) or isinstance(v, bool) or v < 1 for v in ints.values()):
        return f"gemm knobs {', '.join(ints)} must be positive integers; got {dict(knobs)}"
    if (knobs["wg_x"] * knobs["tn"]) % 4:
        return "wg_x * tn must be a multiple of 4 (B is staged in groups of 4 columns)"
    if knobs["vec4"] and knobs["tn"] % 4:
        return "vec4 needs tn to be a multiple of 4"
    if knobs["unroll"] and not knobs["vec4"]:
        return "unroll needs vec4 (the unrolled entry points hold C in vec4 variables)"
    if knobs["unroll"] and not knobs["shared"] and knobs["tk"] != 4:
        return "unroll without shared reads one vec4 of K per step: tk must be 4"
    return None


def _gemm_knobs(knobs: Mapping[str, Any] | None) -> dict[str, Any]:
    k = {**GEMM_KNOBS, **(knobs or {})}
    why = gemm_knob_problem(k)
    if why:
        raise ParameterError(f"matmul gemm: {why}.")
    return k


_UNROLL = re.compile(r"^(\s*)// @unroll ((?:\w+<\w+ ?)+): ?(.*)$", re.M)


def unroll_lines(src: str, bounds: Mapping[str, int]) -> str:
    """Write out the ``// @unroll i<BOUND j<BOUND: CODE`` lines of ``src``.

    Each such line becomes CODE once per combination of index values (the last index
    fastest), all on that line so that line numbers hold, with ``{i}`` replaced by the value
    of ``i``. A bound is an integer or a name in ``bounds``.
    """

    def sub(m: re.Match[str]) -> str:
        axes = [part.split("<") for part in m.group(2).split()]
        ranges = [range(int(hi) if hi.isdigit() else int(bounds[hi])) for _, hi in axes]
        out = []
        for values in itertools.product(*ranges):
            code = m.group(3)
            for (name, _), v in zip(axes, values, strict=True):
                code = code.replace("{" + name + "}", str(v))
            out.append(code)
        return m.group(1) + " ".join(out)

    return _UNROLL.sub(sub, src)


def gemm_entry(knobs: Mapping[str, Any], n: int, k: int) -> str:
    """The entry point of matmul.wgsl a ``gemm`` point runs at inner size ``k`` and ``n``
    columns: the vec4 forms need both to be multiples of 4, else ``gemm``."""
    if not (knobs["vec4"] and n % 4 == 0 and k % 4 == 0):
        return "gemm"
    if knobs["unroll"]:
        return "gemmus" if knobs["shared"] else "gemmu"
    return "gemm4"


def gemm_source(
    knobs: Mapping[str, Any], dtype: str = "float32", blocks: tuple[str, ...] = ()
) -> str:
    """matmul.wgsl with the knobs of a ``gemm`` point set and its unrolled lines written out
    (block ``gelu``: the unrolled entry points add a bias and apply GELU)."""
    k = _gemm_knobs(knobs)
    consts: dict[str, int | bool] = {v: k[k_] for k_, v in _GEMM_SHADER_KNOBS.items()}
    consts["G_VW"] = 4 if k["vec4"] else 1
    src = render_shader("matmul.wgsl", dtype, blocks, consts)
    return unroll_lines(src, {"G_TM": k["tm"], "G_N4": max(1, k["tn"] // 4)})


def gemm_grid(
    knobs: Mapping[str, Any], m: int, n: int, batch: int = 1
) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """``(workgroups, workgroup size)`` of a ``gemm`` point for an ``m x n`` C."""
    wx, wy = knobs["wg_x"], knobs["wg_y"]
    bm, bn = wy * knobs["tm"], wx * knobs["tn"]
    return (_ceil(n, bn), _ceil(m, bm), batch), (wx, wy, 1)


def _matmul(
    spec: KernelSpec,
    p: Mapping[str, Any],
    dtype: str,
    variant: str,
    knobs: Mapping[str, Any] | None = None,
) -> ComputePlan:
    b = _Plan(spec, p, dtype, variant)
    batch = p.get("B", 1)
    lead = (batch,) if "B" in p else ()
    m, n, k = p["M"], p["N"], p["K"]
    if variant == "gemm":
        b.knobs = _gemm_knobs(knobs)
        sh = "matmul.wgsl"
        b.shaders[sh] = gemm_source(b.knobs, dtype)
    else:
        if knobs:
            raise ParameterError(
                f"{spec.name}: variant {variant!r} takes no knobs; only variant 'gemm' does."
            )
        sh = b.shader("matmul.wgsl")
    b.input("a", (*lead, m, k))
    b.input("b", (*lead, k, n))
    b.uniform("params", m, n, k, batch)
    b.output("c", (*lead, m, n))
    if variant == "gemm":
        groups, size = gemm_grid(b.knobs, m, n, batch)
        b.dispatch(sh, gemm_entry(b.knobs, n, k), ("a", "b", "c", "params"), groups, size)
    else:
        _gemm_pass(b, sh, ("a", "b", "c", "params"), m, n, batch)
    return b.build()


def _linear_gelu(
    spec: KernelSpec,
    p: Mapping[str, Any],
    dtype: str,
    variant: str,
    knobs: Mapping[str, Any] | None = None,
) -> ComputePlan:
    """``GELU(X @ W + bias)``: variant ``gemm`` runs matmul.wgsl's unrolled GEMM with its
    ``gelu`` block where the knobs and shape allow it (``gemmu``/``gemmus``: unrolled points,
    N and K multiples of 4), else linear_gelu.wgsl's ``tiled``."""
    b = _Plan(spec, p, dtype, variant)
    m, n, k = p["M"], p["N"], p["K"]
    fused = False
    if variant == "gemm":
        b.knobs = _gemm_knobs(knobs)
        fused = gemm_entry(b.knobs, n, k) in ("gemmu", "gemmus")
    elif knobs:
        raise ParameterError(
            f"linear_gelu: variant {variant!r} takes no knobs; only variant 'gemm' does."
        )
    b.input("x", (m, k))
    b.input("w", (k, n))
    b.input("bias", (n,))
    b.uniform("params", m, n, k, 1)
    b.output("y", (m, n))
    if fused:
        sh = "matmul.wgsl"
        b.shaders[sh] = gemm_source(b.knobs, dtype, blocks=("gelu",))
        groups, size = gemm_grid(b.knobs, m, n)
        entry = gemm_entry(b.knobs, n, k)
        b.dispatch(sh, entry, ("x", "w", "y", "params", "bias"), groups, size)
        return b.build()
    sh = b.shader("linear_gelu.wgsl")
    fallback = "tiled" if variant == "gemm" else variant
    _gemm_pass(b, sh, ("x", "w", "bias", "y", "params"), m, n, 1, fallback)
    return b.build()


def _int8_rows(k4: int) -> Callable[[np.ndarray], bytes]:
    """Encoder: rows of an int8 matrix zero-padded to ``k4`` columns (the dot4 layout)."""

    def enc(arr: np.ndarray) -> bytes:
        out = np.zeros((arr.shape[0], k4), dtype=np.int8)
        out[:, : arr.shape[1]] = arr
        return out.tobytes()

    return enc


#: default knobs of matmul_int8.wgsl's ``gemm`` variant: workgroup shape and register block
#: (``tm`` rows x ``tn`` columns of C per invocation): the fastest of the points timed on
#: lavapipe at 256, 512 and 768 cubed, in every pass (docs/tuning.md)
INT8_KNOBS: dict[str, Any] = {"wg_x": 8, "wg_y": 4, "tm": 8, "tn": 8}
_INT8_SHADER_KNOBS = {"wg_x": "Q_WX", "wg_y": "Q_WY", "tm": "Q_TM", "tn": "Q_TN"}


def _int_knobs_problem(what: str, knobs: Mapping[str, Any], names: Mapping[str, Any]) -> str | None:
    """Why ``knobs`` is not exactly the positive-integer knobs ``names`` of ``what``."""
    if set(knobs) != set(names):
        return (
            f"{what} knobs must be exactly {', '.join(names)}; got "
            f"{', '.join(sorted(knobs)) or 'none'}"
        )
    if any(not isinstance(v, int) or isinstance(v, bool) or v < 1 for v in knobs.values()):
        return f"{what} knobs must be positive integers; got {dict(knobs)}"
    return None


def int8_knob_problem(knobs: Mapping[str, Any]) -> str | None:
    """Why ``knobs`` is not a point of matmul_int8's ``gemm`` space (``None`` if it is)."""
    return _int_knobs_problem("matmul_int8 gemm", knobs, INT8_KNOBS)


def int8_source(knobs: Mapping[str, Any], dtype: str = "float32") -> str:
    """matmul_int8.wgsl with a ``gemm`` point's knobs set and its unrolled lines written out."""
    consts: dict[str, int | bool] = {v: knobs[k] for k, v in _INT8_SHADER_KNOBS.items()}
    src = render_shader("matmul_int8.wgsl", dtype, (), consts)
    return unroll_lines(src, {"Q_TM": knobs["tm"], "Q_TN": knobs["tn"]})


def _matmul_int8(
    spec: KernelSpec,
    p: Mapping[str, Any],
    dtype: str,
    variant: str,
    knobs: Mapping[str, Any] | None = None,
) -> ComputePlan:
    """Variant ``gemm`` (tunable) and ``dot4`` take A and B in the packed-word layout (B
    transposed); ``unpack`` takes them row-major."""
    b = _Plan(spec, p, dtype, variant)
    m, n, k = p["M"], p["N"], p["K"]
    k4 = _ceil(k, 4) * 4
    if variant == "gemm":
        b.knobs = {**INT8_KNOBS, **(knobs or {})}
        why = int8_knob_problem(b.knobs)
        if why:
            raise ParameterError(f"matmul_int8 gemm: {why}.")
        sh = "matmul_int8.wgsl"
        b.shaders[sh] = int8_source(b.knobs, dtype)
    elif knobs:
        raise ParameterError(
            f"matmul_int8: variant {variant!r} takes no knobs; only variant 'gemm' does."
        )
    if variant in ("dot4", "gemm"):
        if variant == "dot4":
            sh = b.shader("matmul_int8.wgsl", blocks=("dot4",))
            b.features.append(DOT4)
        b.input("a", (m, k), "int8", nbytes=m * k4, encoder=_int8_rows(k4))
        # B is pre-transposed so that four consecutive k of one column share a u32.
        to_cols = _int8_rows(k4)
        b.input(
            "b",
            (k, n),
            "int8",
            nbytes=n * k4,
            encoder=lambda arr: to_cols(np.ascontiguousarray(arr.T)),
        )
    else:
        sh = b.shader("matmul_int8.wgsl")
        b.input("a", (m, k), "int8")
        b.input("b", (k, n), "int8")
    b.input("scale_a", (m,))
    b.input("scale_b", (n,))
    b.uniform("params", m, n, k, k4 // 4)
    b.output("c", (m, n))
    if variant == "gemm":
        wx, wy = b.knobs["wg_x"], b.knobs["wg_y"]
        groups = (_ceil(n, wx * b.knobs["tn"]), _ceil(m, wy * b.knobs["tm"]), 1)
        bindings = ("a", "b", "scale_a", "scale_b", "c", "params")
        b.dispatch(sh, "gemm", bindings, groups, (wx, wy, 1))
        return b.build()
    b.dispatch(
        sh,
        "dot4" if variant == "dot4" else "unpack",
        ("a", "b", "scale_a", "scale_b", "c", "params"),
        (_ceil(n, 8), _ceil(m, 8), 1),
        (8, 8, 1),
        WG_X=8,
        WG_Y=8,
    )
    return b.build()


# -- elementwise -----------------------------------------------------------------------------
_WG = 256


def _gelu(spec: KernelSpec, p: Mapping[str, Any], dtype: str, variant: str) -> ComputePlan:
    b = _Plan(spec, p, dtype, variant)
    n = p["n"]
    sh = b.shader("gelu.wgsl")
    b.input("x", (n,))
    b.uniform("params", n)
    b.output("y", (n,))
    b.dispatch(sh, "main", ("x", "y", "params"), grid(_ceil(n, _WG)), (_WG, 1, 1), WG=_WG)
    return b.build()


def _add_mul_relu(spec: KernelSpec, p: Mapping[str, Any], dtype: str, variant: str) -> ComputePlan:
    b = _Plan(spec, p, dtype, variant)
    n = p["n"]
    sh = b.shader("add_mul_relu.wgsl")
    for name in ("a", "b", "c"):
        b.input(name, (n,))
    b.uniform("params", n)
    b.output("y", (n,))
    b.dispatch(sh, "main", ("a", "b", "c", "y", "params"), grid(_ceil(n, _WG)), (_WG, 1, 1), WG=_WG)
    return b.build()


def _dequantize(spec: KernelSpec, p: Mapping[str, Any], dtype: str, variant: str) -> ComputePlan:
    b = _Plan(spec, p, dtype, variant)
    r, c = p["rows"], p["cols"]
    sh = b.shader("dequantize_int8.wgsl")
    b.input("q", (r, c), "int8")
    b.input("scale", (r,))
    b.uniform("params", r, c)
    b.output("x", (r, c))
    b.dispatch(
        sh, "main", ("q", "scale", "x", "params"), grid(_ceil(r * c, _WG)), (_WG, 1, 1), WG=_WG
    )
    return b.build()


# -- row-wise --------------------------------------------------------------------------------
def _row_wg(cols: int) -> int:
    """Workgroup size of a one-workgroup-per-row kernel: a power of two, 32..256."""
    return int(min(256, max(32, 1 << (max(1, cols) - 1).bit_length())))


#: default knobs of the ``rows`` entry points of softmax.wgsl and layernorm.wgsl (variant
#: ``rows``): invocations per row and rows per workgroup; 16 x 4 measured within noise of the
#: fastest point on lavapipe at 4096x512 and 4096x1024 (docs/tuning.md)
ROW_KNOBS: dict[str, Any] = {"tx": 16, "rpw": 4}
#: default knobs of reduce.wgsl's ``rowblock`` entry point (variant ``rows``)
REDUCE_KNOBS: dict[str, Any] = {"tx": 16, "rpw": 4}


def row_knob_problem(knobs: Mapping[str, Any]) -> str | None:
    """Why ``knobs`` is not a point of the ``rows`` space (``None`` if it is)."""
    problem = _int_knobs_problem("rows", knobs, ROW_KNOBS)
    if problem:
        return problem
    if knobs["tx"] & (knobs["tx"] - 1):
        return "tx must be a power of two (each row is a tree reduction over tx invocations)"
    return None


def _row_pass(
    b: _Plan, name: str, bindings: tuple[str, ...], r: int, c: int, knobs: Mapping[str, Any] | None
) -> None:
    """One pass of a row kernel: ``main`` (one workgroup per row) or the tunable ``rows``."""
    if b.variant == "rows":
        b.knobs = {**ROW_KNOBS, **(knobs or {})}
        why = row_knob_problem(b.knobs)
        if why:
            raise ParameterError(f"{b.spec.name} rows: {why}.")
        tx, rpw = b.knobs["tx"], b.knobs["rpw"]
        sh = b.shader(name, knobs={"R_TX": tx, "R_RPW": rpw})
        b.dispatch(sh, "rows", bindings, grid(_ceil(r, rpw)), (tx, rpw, 1))
        return
    if knobs:
        raise ParameterError(
            f"{b.spec.name}: variant {b.variant!r} takes no knobs; only variant 'rows' does."
        )
    wg = _row_wg(c)
    sh = b.shader(name)
    b.dispatch(sh, "main", bindings, grid(r), (wg, 1, 1), WG=wg)


def _softmax(
    spec: KernelSpec,
    p: Mapping[str, Any],
    dtype: str,
    variant: str,
    knobs: Mapping[str, Any] | None = None,
) -> ComputePlan:
    b = _Plan(spec, p, dtype, variant)
    r, c = p["rows"], p["cols"]
    b.input("x", (r, c))
    b.uniform("params", r, c)
    b.output("y", (r, c))
    _row_pass(b, "softmax.wgsl", ("x", "y", "params"), r, c, knobs)
    return b.build()


def _layernorm(
    spec: KernelSpec,
    p: Mapping[str, Any],
    dtype: str,
    variant: str,
    knobs: Mapping[str, Any] | None = None,
) -> ComputePlan:
    b = _Plan(spec, p, dtype, variant)
    r, c = p["rows"], p["cols"]
    b.input("x", (r, c))
    b.input("gamma", (c,))
    b.input("beta", (c,))
    b.uniform("params", r, c)
    b.output("y", (r, c))
    _row_pass(b, "layernorm.wgsl", ("x", "gamma", "beta", "y", "params"), r, c, knobs)
    return b.build()


def _rmsnorm(spec: KernelSpec, p: Mapping[str, Any], dtype: str, variant: str) -> ComputePlan:
    b = _Plan(spec, p, dtype, variant)
    r, c = p["rows"], p["cols"]
    wg = _row_wg(c)
    sh = b.shader("rmsnorm.wgsl")
    b.input("x", (r, c))
    b.input("gamma", (c,))
    b.uniform("params", r, c)
    b.output("y", (r, c))
    b.dispatch(sh, "main", ("x", "gamma", "y", "params"), grid(r), (wg, 1, 1), WG=wg)
    return b.build()


def _quantize(spec: KernelSpec, p: Mapping[str, Any], dtype: str, variant: str) -> ComputePlan:
    b = _Plan(spec, p, dtype, variant)
    r, c = p["rows"], p["cols"]
    words = _ceil(r * c, 4)
    wg = _row_wg(c)
    sh = b.shader("quantize_int8.wgsl")
    b.input("x", (r, c))
    b.uniform("params", r, c, words)
    b.output("q", (r, c), "int8")
    b.output("scale", (r,))
    b.dispatch(sh, "scales", ("x", "scale", "params"), grid(r), (wg, 1, 1), WG=wg)
    b.dispatch(
        sh, "pack", ("x", "scale", "params", "q"), grid(_ceil(words, _WG)), (_WG, 1, 1), WG=_WG
    )
    return b.build()


def _reduce(
    spec: KernelSpec,
    p: Mapping[str, Any],
    dtype: str,
    variant: str,
    knobs: Mapping[str, Any] | None = None,
) -> ComputePlan:
    """Variant ``rows`` runs the tunable ``rowblock`` entry point for axis 1 (``tx``
    invocations per row, ``rpw`` rows per workgroup); axis 0 runs ``cols`` whatever the
    variant."""
    b = _Plan(spec, p, dtype, variant)
    r, c = p["rows"], p["cols"]
    op = 1 if p["op"] == "max" else 0
    if variant == "rows":
        b.knobs = {**REDUCE_KNOBS, **(knobs or {})}
        why = row_knob_problem(b.knobs)
        if why:
            raise ParameterError(f"reduce rows: {why}.")
        sh = b.shader("reduce.wgsl", knobs={"R_TX": b.knobs["tx"], "R_RPW": b.knobs["rpw"]})
    elif knobs:
        raise ParameterError("reduce: variant 'default' takes no knobs; only variant 'rows' does.")
    else:
        sh = b.shader("reduce.wgsl")
    b.input("x", (r, c))
    b.uniform("params", r, c)
    if p["axis"] == 1 and variant == "rows":
        b.output("y", (r,))
        tx, rpw = b.knobs["tx"], b.knobs["rpw"]
        b.dispatch(sh, "rowblock", ("x", "y", "params"), grid(_ceil(r, rpw)), (tx, rpw, 1), OP=op)
    elif p["axis"] == 1:
        b.output("y", (r,))
        wg = _row_wg(c)
        b.dispatch(sh, "rows", ("x", "y", "params"), grid(r), (wg, 1, 1), WG=wg, OP=op)
    else:
        b.output("y", (c,))
        b.dispatch(sh, "cols", ("x", "y", "params"), grid(_ceil(c, 64)), (64, 1, 1), WG=64, OP=op)
    return b.build()


# -- attention and convolution ---------------------------------------------------------------
#: default knobs of attention.wgsl's ``flash`` variant: invocations per workgroup, query rows
#: per invocation and keys per step; among the fastest points measured on both lavapipe and
#: SwiftShader at 1x12x128x32 and 1x8x256x64 (12-61 ms against 0.9-1.7 s for ``online`` on
#: SwiftShader)
ATTENTION_KNOBS: dict[str, Any] = {"wg": 8, "tq": 8, "tk": 4}
_ATTENTION_SHADER_KNOBS = {"wg": "A_WG", "tq": "A_TQ", "tk": "A_TK"}
#: the largest head_dim the ``flash`` entry point holds in registers (vec4 groups)
FLASH_MAX_DIM = 128


def attention_knob_problem(knobs: Mapping[str, Any]) -> str | None:
    """Why ``knobs`` is not a point of attention's ``flash`` space (``None`` if it is)."""
    return _int_knobs_problem("attention flash", knobs, ATTENTION_KNOBS)


def attention_entry(head_dim: int) -> str:
    """The entry point of attention.wgsl the ``flash`` variant runs at ``head_dim``:
    ``flash`` for a multiple of 4 up to :data:`FLASH_MAX_DIM`, else the one-workgroup-per-row
    ``main``."""
    return "flash" if head_dim % 4 == 0 and head_dim <= FLASH_MAX_DIM else "main"


def attention_source(knobs: Mapping[str, Any], head_dim: int, dtype: str = "float32") -> str:
    """attention.wgsl with a ``flash`` point's knobs and ``head_dim`` set and its unrolled
    lines written out."""
    consts: dict[str, int | bool] = {v: knobs[k] for k, v in _ATTENTION_SHADER_KNOBS.items()}
    consts["A_D4"] = max(1, head_dim // 4)
    src = render_shader("attention.wgsl", dtype, (), consts)
    return unroll_lines(src, {"A_TQ": knobs["tq"], "A_TK": knobs["tk"], "A_D4": consts["A_D4"]})


def attention_tiles(knobs: Mapping[str, Any], seq: int) -> int:
    """Query tiles (workgroups) per (batch, head) of a ``flash`` point."""
    return _ceil(seq, knobs["wg"] * knobs["tq"])


def _attention(
    spec: KernelSpec,
    p: Mapping[str, Any],
    dtype: str,
    variant: str,
    knobs: Mapping[str, Any] | None = None,
) -> ComputePlan:
    b = _Plan(spec, p, dtype, variant)
    shape = (p["batch"], p["heads"], p["seq"], p["head_dim"])
    flash = False
    if variant == "flash":
        b.knobs = {**ATTENTION_KNOBS, **(knobs or {})}
        why = attention_knob_problem(b.knobs)
        if why:
            raise ParameterError(f"attention flash: {why}.")
        flash = attention_entry(p["head_dim"]) == "flash"
    elif knobs:
        raise ParameterError(
            f"attention: variant {variant!r} takes no knobs; only variant 'flash' does."
        )
    for name in ("q", "k", "v"):
        b.input(name, shape)
    scale = float(np.float32(1.0 / math.sqrt(p["head_dim"])))
    tiles = attention_tiles(b.knobs, shape[2]) if flash else 0
    b.uniform("params", *shape, int(p["causal"]), scale, tiles)
    b.output("o", shape)
    bindings = ("q", "k", "v", "o", "params")
    if flash:
        sh = "attention.wgsl"
        b.shaders[sh] = attention_source(b.knobs, p["head_dim"], dtype)
        groups = grid(shape[0] * shape[1] * tiles)
        b.dispatch(sh, "flash", bindings, groups, (b.knobs["wg"], 1, 1))
        return b.build()
    sh = b.shader("attention.wgsl")
    b.dispatch(sh, "main", bindings, grid(shape[0] * shape[1] * shape[2]), (64, 1, 1), WG=64)
    return b.build()


#: default knobs of conv2d.wgsl's ``gemm`` variant (the implicit GEMM): workgroup shape and
#: register block (``tm`` filters x ``tn`` pixels per invocation); the fastest of the points
#: measured on lavapipe at the ``medium`` preset shapes, within noise of the fastest on
#: SwiftShader (docs/tuning.md), so one default serves both adapter classes
CONV_KNOBS: dict[str, Any] = {"wg_x": 8, "wg_y": 4, "tm": 8, "tn": 8}
_CONV_SHADER_KNOBS = {"wg_x": "G_WX", "wg_y": "G_WY", "tm": "G_TM", "tn": "G_TN"}


def conv_knob_problem(knobs: Mapping[str, Any]) -> str | None:
    """Why ``knobs`` is not a point of conv2d's ``gemm`` space (``None`` if it is)."""
    problem = _int_knobs_problem("conv2d gemm", knobs, CONV_KNOBS)
    if problem:
        return problem
    if knobs["tn"] % 4:
        return "tn must be a multiple of 4 (pixels are held in vec4 groups)"
    return None


def conv_entry(p: Mapping[str, Any]) -> str:
    """The entry point of conv2d.wgsl the ``gemm`` variant runs: ``gemm`` when C is a
    multiple of 4, else the direct ``main``."""
    return "gemm" if p["C"] % 4 == 0 else "main"


def conv_source(knobs: Mapping[str, Any], dtype: str = "float32") -> str:
    """conv2d.wgsl with the knobs of a ``gemm`` point set and its unrolled lines written out."""
    consts: dict[str, int | bool] = {v: knobs[k] for k, v in _CONV_SHADER_KNOBS.items()}
    src = render_shader("conv2d.wgsl", dtype, (), consts)
    return unroll_lines(src, {"G_TM": knobs["tm"], "G_N4": knobs["tn"] // 4})


def _conv2d(
    spec: KernelSpec,
    p: Mapping[str, Any],
    dtype: str,
    variant: str,
    knobs: Mapping[str, Any] | None = None,
) -> ComputePlan:
    b = _Plan(spec, p, dtype, variant)
    n, c, h, w, f, k = p["N"], p["C"], p["H"], p["W"], p["F"], p["kernel"]
    oh = out_size(h, k, p["stride"], p["padding"])
    ow = out_size(w, k, p["stride"], p["padding"])
    if variant == "gemm":
        b.knobs = {**CONV_KNOBS, **(knobs or {})}
        why = conv_knob_problem(b.knobs)
        if why:
            raise ParameterError(f"conv2d gemm: {why}.")
        sh = "conv2d.wgsl"
        b.shaders[sh] = conv_source(b.knobs, dtype)
    else:
        if knobs:
            raise ParameterError(
                f"conv2d: variant {variant!r} takes no knobs; only variant 'gemm' does."
            )
        sh = b.shader("conv2d.wgsl")
    b.input("x", (n, c, h, w))
    b.input("w", (f, c, k, k))
    b.uniform("params", n, c, h, w, f, k, p["stride"], p["padding"], oh, ow)
    b.output("y", (n, f, oh, ow))
    bindings = ("x", "w", "y", "params")
    if variant == "gemm" and conv_entry(p) == "gemm":
        wx, wy = b.knobs["wg_x"], b.knobs["wg_y"]
        groups = (_ceil(oh * ow, wx * b.knobs["tn"]), _ceil(f, wy * b.knobs["tm"]), n)
        b.dispatch(sh, "gemm", bindings, groups, (wx, wy, 1))
    else:
        b.dispatch(sh, "main", bindings, grid(_ceil(n * f * oh * ow, 64)), (64, 1, 1), WG=64)
    return b.build()


Builder = Callable[..., ComputePlan]


@dataclass(frozen=True)
class WgslKernel:
    """How one kernel runs on WebGPU.

    Attributes
    ----------
    build : callable
        ``build(spec, params, dtype, variant) -> ComputePlan``.
    variants : tuple of str
        The variants ``build`` accepts; the first is the default.
    limit : callable, optional
        ``limit(params) -> reason or None``: parameters the shader cannot hold.
    tunable : str, optional
        The variant whose builder takes ``knobs=`` (what ``accel_toolkit.tuning`` searches).
    knobs : dict
        That variant's default knobs.
    """

    build: Builder
    variants: tuple[str, ...]
    limit: Callable[[Mapping[str, Any]], str | None] | None = None
    tunable: str | None = None
    knobs: Mapping[str, Any] | None = None


def _attention_limit(p: Mapping[str, Any]) -> str | None:
    if p["head_dim"] > 512:
        return "attention.wgsl holds a query row of at most 512 values; use head_dim <= 512"
    return None


#: kernel name -> :class:`WgslKernel`
WGSL_PLANS: Registry[WgslKernel] = Registry(
    "WGSL plan builder", "accel_toolkit/backends/_wgsl_plans.py"
)
WGSL_PLANS.register(
    "matmul", WgslKernel(_matmul, (*_GEMM, "gemm"), tunable="gemm", knobs=GEMM_KNOBS)
)
WGSL_PLANS.register(
    "batched_matmul", WgslKernel(_matmul, (*_GEMM, "gemm"), tunable="gemm", knobs=GEMM_KNOBS)
)
WGSL_PLANS.register(
    "conv2d", WgslKernel(_conv2d, ("direct", "gemm"), tunable="gemm", knobs=CONV_KNOBS)
)
WGSL_PLANS.register(
    "softmax", WgslKernel(_softmax, ("rowwise", "rows"), tunable="rows", knobs=ROW_KNOBS)
)
WGSL_PLANS.register(
    "layernorm", WgslKernel(_layernorm, ("rowwise", "rows"), tunable="rows", knobs=ROW_KNOBS)
)
WGSL_PLANS.register("gelu", WgslKernel(_gelu, ("elementwise",)))
WGSL_PLANS.register("add_mul_relu", WgslKernel(_add_mul_relu, ("elementwise",)))
WGSL_PLANS.register(
    "linear_gelu",
    WgslKernel(
        _linear_gelu, ("tiled", "naive", "tiled8", "gemm"), tunable="gemm", knobs=GEMM_KNOBS
    ),
)
WGSL_PLANS.register(
    "attention",
    WgslKernel(
        _attention,
        ("online", "flash"),
        limit=_attention_limit,
        tunable="flash",
        knobs=ATTENTION_KNOBS,
    ),
)
WGSL_PLANS.register("quantize_int8", WgslKernel(_quantize, ("two_pass",)))
WGSL_PLANS.register("dequantize_int8", WgslKernel(_dequantize, ("elementwise",)))
WGSL_PLANS.register(
    "matmul_int8",
    WgslKernel(_matmul_int8, ("unpack", "dot4", "gemm"), tunable="gemm", knobs=INT8_KNOBS),
)
WGSL_PLANS.register(
    "reduce", WgslKernel(_reduce, ("default", "rows"), tunable="rows", knobs=REDUCE_KNOBS)
)
WGSL_PLANS.register("rmsnorm", WgslKernel(_rmsnorm, ("rowwise",)))
