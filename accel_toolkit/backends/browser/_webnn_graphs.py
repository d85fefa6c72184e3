"""WebNN graphs of the kernel library, as GraphSpecs the browser runtime interprets.

Python decides *what* to build; ``widgets/runtime/webnn.js`` only calls the named
``MLGraphBuilder`` methods. Every kernel input is a graph *input* (written to an ``MLTensor``
before timing), never a constant, so the browser cannot fold the work away; constants are
only the kernel's own numbers (``1/sqrt(d)``, the causal mask, zero points).

How each kernel is expressed is the first line of its builder's docstring; the builders are
registered by kernel name in :data:`GRAPH_BUILDERS`, with explicit calls at the end of this
module.

What WebNN cannot do is listed in :data:`UNSUPPORTED` (static, by kernel/dtype) and by a
builder's ``reason`` (depends on parameters, see :func:`param_reason`); what a given browser
cannot do is found from its ``opSupportLimits()`` by :func:`limits_reason`, or from a build
error.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...exceptions import UnsupportedKernelError
from ...kernels import KernelSpec, Registry
from ...kernels._conv import out_size
from ...kernels._normalization import EPS

__all__ = [
    "GRAPH_BUILDERS",
    "GraphBuilder",
    "GraphSpec",
    "MATMUL_INT8_MAX_K",
    "UNSUPPORTED",
    "WebNNGraph",
    "build_graph",
    "limits_reason",
    "param_reason",
]

#: (kernel, dtype) -> why WebNN cannot run it at all. Empty today: every kernel of the
#: library is expressible in WebNN in float32 and float16; parameter-dependent limits are in
#: :func:`param_reason` and browser-dependent ones come from ``opSupportLimits()``.
UNSUPPORTED: dict[tuple[str, str], str] = {}

#: largest K for which a float32 matmul of int8 values sums exactly (127*127*K < 2**24)
MATMUL_INT8_MAX_K = (1 << 24) // (127 * 127)


def param_reason(spec: KernelSpec, params: Mapping[str, Any], dtype: str) -> str | None:
    """Why WebNN cannot run this configuration correctly (``None`` if it can)."""
    if (spec.name, dtype) in UNSUPPORTED:
        return UNSUPPORTED[(spec.name, dtype)]
    entry = GRAPH_BUILDERS.get(spec.name)
    if entry is None:
        return GRAPH_BUILDERS.missing(spec.name)
    return entry.reason(params) if entry.reason is not None else None


@dataclass
class GraphSpec:
    """A WebNN graph description (see ``widgets/runtime/PROTOCOL.md``)."""

    kernel: str
    inputs: list[dict[str, Any]] = field(default_factory=list)
    constants: list[dict[str, Any]] = field(default_factory=list)
    ops: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    constant_data: list[bytes] = field(default_factory=list, repr=False)
    #: (op, role, dataType, rank) of every operand an op takes or makes, for opSupportLimits
    checks: list[tuple[str, str, str, int]] = field(default_factory=list, repr=False)
    key: str = ""

    def to_json(self) -> dict[str, Any]:
        """The graph as a JSON-ready dict (see ``widgets/runtime/PROTOCOL.md``)."""
        return {
            "kernel": self.kernel,
            "key": self.key,
            "inputs": self.inputs,
            "constants": self.constants,
            "ops": self.ops,
            "outputs": self.outputs,
        }

    def encode_inputs(self, inputs: Mapping[str, np.ndarray]) -> list[bytes]:
        """The request's binary buffers: every input (in order), then the constants."""
        out = []
        for d in self.inputs:
            arr = np.ascontiguousarray(inputs[d["name"]], dtype=np.dtype(d["dataType"]))
            if list(arr.shape) != list(d["shape"]):
                raise ValueError(
                    f"input {d['name']} has shape {arr.shape}, the graph expects {d['shape']}"
                )
            out.append(arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes())
        return out + list(self.constant_data)

    def decode_outputs(self, buffers: Sequence[bytes]) -> dict[str, np.ndarray]:
        """Output arrays from the reply's buffers (in output order)."""
        if len(buffers) != len(self.outputs):
            raise ValueError(f"expected {len(self.outputs)} output buffers, got {len(buffers)}")
        out = {}
        for o, buf in zip(self.outputs, buffers, strict=True):
            dt = np.dtype(o["dtype"]).newbyteorder("<")
            n = int(np.prod(o["shape"], dtype=np.int64))
            arr = np.frombuffer(buf, dtype=dt, count=n)
            out[o["name"]] = arr.reshape(o["shape"]).astype(np.dtype(o["dtype"]))
        return out


class _Builder:
    """Records operands with dtype and shape as a graph is described."""

    def __init__(self, kernel: str) -> None:
        self.g = GraphSpec(kernel)
        self.meta: dict[str, tuple[str, tuple[int, ...]]] = {}
        self._n = 0

    def _name(self, hint: str) -> str:
        self._n += 1
        return f"{hint}{self._n}"

    def input(self, name: str, dtype: str, shape: Sequence[int]) -> str:
        self.g.inputs.append(
            {"name": name, "dataType": dtype, "shape": list(shape), "init": len(self.g.inputs)}
        )
        self.meta[name] = (dtype, tuple(shape))
        self.g.checks.append(("input", "", dtype, len(shape)))
        return name

    def const(
        self,
        dtype: str,
        shape: Sequence[int],
        *,
        data: np.ndarray | None = None,
        fill: float | None = None,
        hint: str = "k",
    ) -> str:
        name = self._name(hint)
        d: dict[str, Any] = {"name": name, "dataType": dtype, "shape": list(shape)}
        if data is not None:
            arr = np.ascontiguousarray(data, dtype=np.dtype(dtype).newbyteorder("<"))
            d["init"] = -1 - len(self.g.constant_data)  # fixed up in finish()
            self.g.constant_data.append(arr.tobytes())
        else:
            d["fill"] = float(fill or 0.0)
        self.g.constants.append(d)
        self.meta[name] = (dtype, tuple(shape))
        self.g.checks.append(("constant", "", dtype, len(shape)))
        return name

    def op(
        self,
        op: str,
        *args: Any,
        dtype: str,
        shape: Sequence[int],
        roles: Mapping[str, str] | None = None,
        **options: Any,
    ) -> str:
        out = self._name(op[:4])
        self.g.ops.append({"op": op, "args": list(args), "options": options, "out": out})
        for role, operand in (roles or {}).items():
            odt, oshape = self.meta[operand]
            self.g.checks.append((op, role, odt, len(oshape)))
        self.g.checks.append((op, "output", dtype, len(shape)))
        self.meta[out] = (dtype, tuple(shape))
        return out

    def output(self, name: str, operand: str) -> None:
        dtype, shape = self.meta[operand]
        self.g.outputs.append(
            {"name": name, "operand": operand, "dtype": dtype, "shape": list(shape)}
        )
        self.g.checks.append(("output", "", dtype, len(shape)))

    def finish(self, params: Mapping[str, Any], dtype: str) -> GraphSpec:
        n_in = len(self.g.inputs)
        for c in self.g.constants:
            if "init" in c:
                c["init"] = n_in + (-1 - c["init"])
        blob = json.dumps(
            {
                "g": {k: v for k, v in self.g.to_json().items() if k != "key"},
                "p": dict(sorted(params.items())),
                "d": dtype,
            },
            sort_keys=True,
            default=str,
        )
        h = hashlib.sha1(blob.encode())
        for b in self.g.constant_data:
            h.update(b)
        self.g.key = f"{self.g.kernel}-{h.hexdigest()[:16]}"
        return self.g


#: the builder under its public name: describe a whole graph (a model's) operand by operand
GraphBuilder = _Builder


# -- the kernels ---------------------------------------------------------------------------


def _matmul(b: _Builder, p: Mapping[str, Any], dt: str) -> None:
    """``matmul(a, b)``; batched_matmul: ``matmul`` on rank-3 operands"""
    m, n, k = p["M"], p["N"], p["K"]
    lead = (p["B"],) if "B" in p else ()
    a = b.input("a", dt, (*lead, m, k))
    w = b.input("b", dt, (*lead, k, n))
    b.output("c", b.op("matmul", a, w, dtype=dt, shape=(*lead, m, n), roles={"a": a, "b": w}))


def _conv2d(b: _Builder, p: Mapping[str, Any], dt: str) -> None:
    """``conv2d(x, w, {padding, strides, inputLayout: "nchw", filterLayout: "oihw"})``"""
    n, c, h, w, f, k = p["N"], p["C"], p["H"], p["W"], p["F"], p["kernel"]
    s, pad = p["stride"], p["padding"]
    x = b.input("x", dt, (n, c, h, w))
    wt = b.input("w", dt, (f, c, k, k))
    oh, ow = out_size(h, k, s, pad), out_size(w, k, s, pad)
    y = b.op(
        "conv2d",
        x,
        wt,
        dtype=dt,
        shape=(n, f, oh, ow),
        roles={"input": x, "filter": wt},
        padding=[pad, pad, pad, pad],
        strides=[s, s],
        dilations=[1, 1],
        groups=1,
        inputLayout="nchw",
        filterLayout="oihw",
    )
    b.output("y", y)


def _softmax(b: _Builder, p: Mapping[str, Any], dt: str) -> None:
    """``softmax(x, 1)``"""
    x = b.input("x", dt, (p["rows"], p["cols"]))
    b.output("y", b.op("softmax", x, 1, dtype=dt, shape=(p["rows"], p["cols"]), roles={"input": x}))


def _layernorm(b: _Builder, p: Mapping[str, Any], dt: str) -> None:
    """``layerNormalization(x, {scale, bias, axes: [1], epsilon})``"""
    r, c = p["rows"], p["cols"]
    x = b.input("x", dt, (r, c))
    g = b.input("gamma", dt, (c,))
    be = b.input("beta", dt, (c,))
    y = b.op(
        "layerNormalization",
        x,
        dtype=dt,
        shape=(r, c),
        roles={"input": x, "scale": g, "bias": be},
        scale=g,
        bias=be,
        axes=[1],
        epsilon=EPS,
    )
    b.output("y", y)


def _rmsnorm(b: _Builder, p: Mapping[str, Any], dt: str) -> None:
    """``mul(div(x, sqrt(add(reduceMean(mul(x, x), [1]), epsilon))), gamma)``, in float32 (a
    float16 input is cast up and the result down, so the sum of squares cannot overflow)"""
    r, c = p["rows"], p["cols"]
    x = b.input("x", dt, (r, c))
    g = b.input("gamma", dt, (c,))
    f = "float32"
    if dt != f:
        x = b.op("cast", x, f, dtype=f, shape=(r, c), roles={"input": x})
        g = b.op("cast", g, f, dtype=f, shape=(c,), roles={"input": g})
    sq = b.op("mul", x, x, dtype=f, shape=(r, c), roles={"a": x, "b": x})
    ms = b.op(
        "reduceMean", sq, dtype=f, shape=(r, 1), roles={"input": sq}, axes=[1], keepDimensions=True
    )
    eps = b.const(f, (), fill=EPS, hint="eps")
    shifted = b.op("add", ms, eps, dtype=f, shape=(r, 1), roles={"a": ms, "b": eps})
    rms = b.op("sqrt", shifted, dtype=f, shape=(r, 1), roles={"input": shifted})
    n = b.op("div", x, rms, dtype=f, shape=(r, c), roles={"a": x, "b": rms})
    y = b.op("mul", n, g, dtype=f, shape=(r, c), roles={"a": n, "b": g})
    if dt != f:
        y = b.op("cast", y, dt, dtype=dt, shape=(r, c), roles={"input": y})
    b.output("y", y)


def _gelu(b: _Builder, p: Mapping[str, Any], dt: str) -> None:
    """``gelu(x)`` (exact erf GELU)"""
    x = b.input("x", dt, (p["n"],))
    b.output("y", b.op("gelu", x, dtype=dt, shape=(p["n"],), roles={"input": x}))


def _add_mul_relu(b: _Builder, p: Mapping[str, Any], dt: str) -> None:
    """``relu(mul(add(a, b), c))``"""
    shape = (p["n"],)
    a, bb, c = (b.input(k, dt, shape) for k in ("a", "b", "c"))
    s = b.op("add", a, bb, dtype=dt, shape=shape, roles={"a": a, "b": bb})
    m = b.op("mul", s, c, dtype=dt, shape=shape, roles={"a": s, "b": c})
    b.output("y", b.op("relu", m, dtype=dt, shape=shape, roles={"input": m}))


def _linear_gelu(b: _Builder, p: Mapping[str, Any], dt: str) -> None:
    """``gelu(add(matmul(x, w), bias))``"""
    m, n, k = p["M"], p["N"], p["K"]
    x = b.input("x", dt, (m, k))
    w = b.input("w", dt, (k, n))
    bias = b.input("bias", dt, (n,))
    mm = b.op("matmul", x, w, dtype=dt, shape=(m, n), roles={"a": x, "b": w})
    s = b.op("add", mm, bias, dtype=dt, shape=(m, n), roles={"a": mm, "b": bias})
    b.output("y", b.op("gelu", s, dtype=dt, shape=(m, n), roles={"input": s}))


def _attention(b: _Builder, p: Mapping[str, Any], dt: str) -> None:
    """``matmul(softmax(add(mul(matmul(q, transpose(k)), 1/sqrt(d)), mask)), v)``"""
    bt, h, s, d = p["batch"], p["heads"], p["seq"], p["head_dim"]
    shape = (bt, h, s, d)
    q, k, v = (b.input(n, dt, shape) for n in ("q", "k", "v"))
    kt = b.op(
        "transpose", k, dtype=dt, shape=(bt, h, d, s), roles={"input": k}, permutation=[0, 1, 3, 2]
    )
    sc = b.op("matmul", q, kt, dtype=dt, shape=(bt, h, s, s), roles={"a": q, "b": kt})
    scale = b.const(dt, (), fill=1.0 / math.sqrt(d), hint="scale")
    sc = b.op("mul", sc, scale, dtype=dt, shape=(bt, h, s, s), roles={"a": sc, "b": scale})
    if p["causal"]:
        # Finite stand-in for -inf: exp() of it underflows to exactly 0 in float32 and float16.
        neg = float(np.finfo(np.dtype(dt)).min)
        mask = np.triu(np.full((s, s), neg, dtype=np.dtype(dt)), k=1)
        mk = b.const(dt, (s, s), data=mask, hint="mask")
        sc = b.op("add", sc, mk, dtype=dt, shape=(bt, h, s, s), roles={"a": sc, "b": mk})
    w = b.op("softmax", sc, 3, dtype=dt, shape=(bt, h, s, s), roles={"input": sc})
    b.output("o", b.op("matmul", w, v, dtype=dt, shape=shape, roles={"a": w, "b": v}))


def _reduce(b: _Builder, p: Mapping[str, Any], dt: str) -> None:
    """``reduceSum`` / ``reduceMax`` (float16 sums accumulate in float32)"""
    r, c, axis = p["rows"], p["cols"], p["axis"]
    x = b.input("x", dt, (r, c))
    out_shape = (r,) if axis == 1 else (c,)
    if p["op"] == "max":
        b.output(
            "y", b.op("reduceMax", x, dtype=dt, shape=out_shape, roles={"input": x}, axes=[axis])
        )
        return
    src, acc = x, dt
    if dt == "float16":  # accumulate in float32, like the reference
        acc = "float32"
        src = b.op("cast", x, "float32", dtype=acc, shape=(r, c), roles={"input": x})
    y = b.op("reduceSum", src, dtype=acc, shape=out_shape, roles={"input": src}, axes=[axis])
    if acc != dt:
        y = b.op("cast", y, dt, dtype=dt, shape=out_shape, roles={"input": y})
    b.output("y", y)


def _quantize(b: _Builder, p: Mapping[str, Any], dt: str) -> None:
    """``reduceMax(abs(x))`` -> scale, then ``quantizeLinear(x, scale, 0)``"""
    r, c = p["rows"], p["cols"]
    x = b.input("x", dt, (r, c))
    ax = b.op("abs", x, dtype=dt, shape=(r, c), roles={"input": x})
    amax = b.op(
        "reduceMax", ax, dtype=dt, shape=(r, 1), roles={"input": ax}, axes=[1], keepDimensions=True
    )
    k127 = b.const(dt, (), fill=127.0, hint="c127")
    s0 = b.op("div", amax, k127, dtype=dt, shape=(r, 1), roles={"a": amax, "b": k127})
    zero = b.const(dt, (), fill=0.0, hint="zero")
    one = b.const(dt, (r, 1), fill=1.0, hint="one")
    pos = b.op("greater", amax, zero, dtype="uint8", shape=(r, 1), roles={"a": amax, "b": zero})
    scale = b.op(
        "where",
        pos,
        s0,
        one,
        dtype=dt,
        shape=(r, 1),
        roles={"condition": pos, "trueValue": s0, "falseValue": one},
    )
    zp = b.const("int8", (r, 1), fill=0, hint="zp")
    q = b.op(
        "quantizeLinear",
        x,
        scale,
        zp,
        dtype="int8",
        shape=(r, c),
        roles={"input": x, "scale": scale, "zeroPoint": zp},
    )
    b.output("q", q)
    b.output("scale", b.op("reshape", scale, [r], dtype=dt, shape=(r,), roles={"input": scale}))


def _dequantize(b: _Builder, p: Mapping[str, Any], dt: str) -> None:
    """``dequantizeLinear(q, scale, 0)``"""
    r, c = p["rows"], p["cols"]
    q = b.input("q", "int8", (r, c))
    s = b.input("scale", dt, (r,))
    s2 = b.op("reshape", s, [r, 1], dtype=dt, shape=(r, 1), roles={"input": s})
    zp = b.const("int8", (r, 1), fill=0, hint="zp")
    x = b.op(
        "dequantizeLinear",
        q,
        s2,
        zp,
        dtype=dt,
        shape=(r, c),
        roles={"input": q, "scale": s2, "zeroPoint": zp},
    )
    b.output("x", x)


def _matmul_int8(b: _Builder, p: Mapping[str, Any], dt: str) -> None:
    """int8 -> float32 ``cast``, float32 ``matmul`` (exact while K <= 1040), then
    the two scalings"""
    m, n, k = p["M"], p["N"], p["K"]
    a = b.input("a", "int8", (m, k))
    w = b.input("b", "int8", (k, n))
    sa = b.input("scale_a", dt, (m,))
    sb = b.input("scale_b", dt, (n,))
    f = "float32"
    af = b.op("cast", a, f, dtype=f, shape=(m, k), roles={"input": a})
    wf = b.op("cast", w, f, dtype=f, shape=(k, n), roles={"input": w})
    acc = b.op("matmul", af, wf, dtype=f, shape=(m, n), roles={"a": af, "b": wf})
    if dt != f:
        sa = b.op("cast", sa, f, dtype=f, shape=(m,), roles={"input": sa})
        sb = b.op("cast", sb, f, dtype=f, shape=(n,), roles={"input": sb})
    sa2 = b.op("reshape", sa, [m, 1], dtype=f, shape=(m, 1), roles={"input": sa})
    t = b.op("mul", acc, sa2, dtype=f, shape=(m, n), roles={"a": acc, "b": sa2})
    c = b.op("mul", t, sb, dtype=f, shape=(m, n), roles={"a": t, "b": sb})
    if dt != f:
        c = b.op("cast", c, dt, dtype=dt, shape=(m, n), roles={"input": c})
    b.output("c", c)


GraphFn = Callable[[_Builder, Mapping[str, Any], str], None]


@dataclass(frozen=True)
class WebNNGraph:
    """How one kernel is described as a WebNN graph.

    Attributes
    ----------
    build : callable
        ``build(builder, params, dtype)`` records the graph's inputs, ops and outputs.
    reason : callable, optional
        ``reason(params) -> str or None``: parameters for which the graph would not compute
        the kernel correctly.
    """

    build: GraphFn
    reason: Callable[[Mapping[str, Any]], str | None] | None = None


def _matmul_int8_reason(p: Mapping[str, Any]) -> str | None:
    if p["K"] > MATMUL_INT8_MAX_K:
        return (
            f"WebNN matmul has no int32 accumulation; the float32 matmul of int8 values is exact "
            f"only for K <= {MATMUL_INT8_MAX_K} (got K={p['K']})"
        )
    return None


#: kernel name -> :class:`WebNNGraph`
GRAPH_BUILDERS: Registry[WebNNGraph] = Registry(
    "WebNN graph builder", "accel_toolkit/backends/browser/_webnn_graphs.py"
)
GRAPH_BUILDERS.register("matmul", WebNNGraph(_matmul))
GRAPH_BUILDERS.register("batched_matmul", WebNNGraph(_matmul))
GRAPH_BUILDERS.register("conv2d", WebNNGraph(_conv2d))
GRAPH_BUILDERS.register("softmax", WebNNGraph(_softmax))
GRAPH_BUILDERS.register("layernorm", WebNNGraph(_layernorm))
GRAPH_BUILDERS.register("gelu", WebNNGraph(_gelu))
GRAPH_BUILDERS.register("add_mul_relu", WebNNGraph(_add_mul_relu))
GRAPH_BUILDERS.register("linear_gelu", WebNNGraph(_linear_gelu))
GRAPH_BUILDERS.register("attention", WebNNGraph(_attention))
GRAPH_BUILDERS.register("reduce", WebNNGraph(_reduce))
GRAPH_BUILDERS.register("quantize_int8", WebNNGraph(_quantize))
GRAPH_BUILDERS.register("dequantize_int8", WebNNGraph(_dequantize))
GRAPH_BUILDERS.register("matmul_int8", WebNNGraph(_matmul_int8, reason=_matmul_int8_reason))
GRAPH_BUILDERS.register("rmsnorm", WebNNGraph(_rmsnorm))


def build_graph(spec: KernelSpec, params: Mapping[str, Any], dtype: str) -> GraphSpec:
    """The GraphSpec of one configuration; raises UnsupportedKernelError when WebNN cannot."""
    reason = param_reason(spec, params, dtype)
    if reason:
        raise UnsupportedKernelError(f"webnn cannot run {spec.name} ({dtype}): {reason}.")
    b = _Builder(spec.name)
    GRAPH_BUILDERS[spec.name].build(b, params, dtype)
    return b.finish(params, dtype)


def limits_reason(graph: GraphSpec, limits: Mapping[str, Any] | None) -> str | None:
    """Why the browser's ``opSupportLimits()`` rules this graph out (``None`` if it does not)."""
    if not limits:
        return None
    for op, role, dtype, rank in graph.checks:
        lim = limits.get(op)
        if lim is None:
            return f"this browser's WebNN has no {op} operator"
        entry = lim if not role else lim.get(role)
        if not isinstance(entry, Mapping):
            continue
        types = entry.get("dataTypes")
        if types is not None and dtype not in types:
            where = f"{op} {role}".strip()
            return f"WebNN {where} does not accept {dtype} here (accepts {', '.join(types)})"
        rr = entry.get("rankRange")
        if isinstance(rr, Mapping) and not (rr.get("min", 0) <= rank <= rr.get("max", 99)):
            where = f"{op} {role}".strip()
            return (
                f"WebNN {where} takes rank {rr.get('min')}..{rr.get('max')}, "
                f"this graph needs rank {rank}"
            )
    return None
