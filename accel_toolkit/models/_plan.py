"""A model forward as one :class:`~accel_toolkit.backends._compute_plan.ComputePlan`.

The plan is what the browser's WebGPU executor (``widgets/runtime/webgpu.js``) and the
``wgpu`` backend's plan executor already run for kernels: shader sources, buffers (weights
and token ids as inputs, intermediates as scratch, one output), and the passes in order.
So the whole forward goes to headless Chromium as one request, is dispatched as one chain
on GPU buffers and read back once. A plan covers one batch of equal lengths (no padding).

    >>> plan = model_plan(get_model_spec("minilm-l6"), batch=1, seq=32)   # doctest: +SKIP
    >>> WebGPUBackend().run_plan(plan, plan_inputs(plan, x))              # doctest: +SKIP
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._assets import load_shader
from ..backends._compute_plan import (
    BufferSpec,
    ComputePlan,
    OutputSpec,
    PassSpec,
    render_shader,
)
from ..backends._wgsl_plans import (
    ATTENTION_KNOBS,
    GEMM_KNOBS,
    ROW_KNOBS,
    attention_entry,
    attention_source,
    attention_tiles,
    gemm_entry,
    gemm_grid,
    gemm_source,
)
from ..exceptions import KernelExecutionError, ParameterError
from ._cpu import patchify
from ._graph import encoder_forward
from ._inputs import ModelInputs
from ._spec import ModelSpec
from ._weights import load_weights

__all__ = [
    "DTYPES",
    "data_inputs",
    "model_gemm",
    "model_plan",
    "model_plan_kinds",
    "plan_inputs",
    "record_plan",
    "shader_source",
    "weight_inputs",
]

_TILE = 16
_SHADERS = Path(__file__).resolve().parent / "shaders"
_DTYPE_LINE = re.compile(r"^alias T = f32;.*$", re.M)
#: the WGSL storage type of each plan dtype; every shader sums and accumulates in f32
DTYPES = ("float32", "float16")


@functools.cache
def _model_shader(name: str) -> str:
    return (_SHADERS / name).read_text(encoding="utf-8")


def shader_source(shader: str, eps: float, dtype: str = "float32") -> str:
    """The WGSL of ``shader``: a model glue shader (``accel_toolkit/models/shaders/``), or a
    library shader from ``shaders/`` (``layernorm.wgsl`` with the model's epsilon), with its
    values stored as ``dtype`` (float16: its ``alias T`` line becomes ``enable f16; alias T =
    f16;``)."""
    src = _model_shader(shader) if shader.startswith("model_") else load_shader(shader)
    if dtype == "float16":
        if not _DTYPE_LINE.search(src):
            raise KernelExecutionError(
                f"{shader} has no `alias T = f32;` line, so it has no float16 form; "
                "add one (see shaders/layernorm.wgsl) or run float32."
            )
        src = _DTYPE_LINE.sub("enable f16; alias T = f16;", src, count=1)
    if shader.startswith("model_"):
        return src
    if shader == "layernorm.wgsl":
        src = _with_eps(src, eps)
    return src


def _with_eps(src: str, eps: float) -> str:
    """layernorm.wgsl with the model's epsilon."""
    old = "const EPS: f32 = 1e-5;"
    if old not in src:
        raise KernelExecutionError(
            "layernorm.wgsl no longer declares `const EPS: f32 = "
            "1e-5;`; update accel_toolkit/models/_plan.py."
        )
    return src.replace(old, f"const EPS: f32 = {eps!r};")


def _grid(workgroups: int) -> tuple[int, int, int]:
    x = min(max(workgroups, 1), 65535)
    return x, math.ceil(workgroups / x), 1


def _u32(*values: int) -> bytes:
    return np.array(values, dtype=np.uint32).tobytes()


@dataclass
class _V:
    """A ``[rows, cols]`` buffer of the plan's dtype; ``bias`` a pending bias weight."""

    name: str
    rows: int
    cols: int
    bias: str | None = None


class _Recorder:
    """Records :func:`encoder_forward` as buffers and passes."""

    def __init__(
        self,
        spec: ModelSpec,
        weights: Mapping[str, np.ndarray],
        batch: int,
        seq: int,
        shader_source: Any,
        gemm: Mapping[str, Any] | None = None,
        dtype: str = "float32",
    ) -> None:
        self.spec, self.w, self.b, self.s = spec, weights, batch, seq
        self.dtype, self.item = dtype, np.dtype(dtype).itemsize
        self.source = shader_source
        self.gemm = {**GEMM_KNOBS, **(gemm or {})}
        self.buffers: list[BufferSpec] = []
        self.passes: list[PassSpec] = []
        self.shaders: dict[str, str] = {}
        self.uniforms: dict[str, bytes] = {}
        self.inputs: dict[str, tuple[str, tuple[int, ...]]] = {}
        self.kinds: list[str] = []  # the op kind of each pass (the per-op breakdown)
        self.kind = "front"
        self._init = 0
        self._n = 0

    # -- buffers ------------------------------------------------------------------------------
    def _add(self, name: str, size: int, usage: str, init: bool) -> str:
        idx = None
        if init:
            idx, self._init = self._init, self._init + 1
        self.buffers.append(BufferSpec(name, max(-(-int(size) // 4) * 4, 16), usage, idx))
        return name

    def input(self, name: str, dtype: str, shape: tuple[int, ...]) -> str:
        if name not in self.inputs:
            self.inputs[name] = (dtype, shape)
            self._add(name, int(np.prod(shape)) * np.dtype(dtype).itemsize, "input", True)
        return name

    def weight(self, name: str) -> str:
        a = self.w[name]
        return self.input(name, self.dtype, tuple(a.shape))

    def scratch(self, rows: int, cols: int) -> _V:
        self._n += 1
        return _V(self._add(f"t{self._n}", rows * cols * self.item, "scratch", False), rows, cols)

    def dispatch(
        self,
        shader: str,
        entry: str,
        bindings: list[str],
        params: bytes,
        workgroups: tuple[int, int, int],
        constants: Mapping[str, float] | None = None,
        size: tuple[int, int, int] = (1, 1, 1),
        tail: tuple[str, ...] = (),
    ) -> None:
        if shader not in self.shaders:
            self.shaders[shader] = self.source(shader)
        self._n += 1
        u = self._add(f"u{self._n}", len(params), "uniform", True)
        self.uniforms[u] = params
        self.passes.append(
            PassSpec(shader, entry, (*bindings, u, *tail), workgroups, dict(constants or {}), size)
        )
        self.kinds.append(self.kind)

    # -- helpers as in the wgpu chain -----------------------------------------------------------
    def _bias(self, x: _V, bias: str | None, residual: _V | str | None, r_len: int = 0) -> _V:
        y = self.scratch(x.rows, x.cols)
        n = x.rows * x.cols
        r = x.name if residual is None else residual if isinstance(residual, str) else residual.name
        b = self.weight(bias) if bias else self.input("zeros", self.dtype, (self.zeros_len(),))
        self.dispatch(
            "model_bias.wgsl",
            "main",
            [x.name, b, r, y.name],
            _u32(n, x.cols, int(residual is not None), r_len or n),
            _grid(math.ceil(n / 256)),
        )
        return y

    def zeros_len(self) -> int:
        return max(self.spec.ffn, 3 * self.spec.hidden)

    def _ready(self, x: _V) -> _V:
        if not x.bias:
            return x
        kind, self.kind = self.kind, "linear"
        y = self._bias(x, x.bias, None)
        self.kind = kind
        return y

    def _gemm(self, x: _V, w: str, n: int, gelu_bias: str | None = None) -> _V:
        """``x @ w`` (and ``GELU(. + bias)``) through matmul.wgsl's tunable GEMM."""
        y = self.scratch(x.rows, n)
        shader = "matmul.wgsl" + (" gelu" if gelu_bias else "")
        if shader not in self.shaders:
            self.shaders[shader] = gemm_source(
                self.gemm, self.dtype, blocks=("gelu",) if gelu_bias else ()
            )
        groups, size = gemm_grid(self.gemm, x.rows, n)
        self.dispatch(
            shader,
            gemm_entry(self.gemm, n, x.cols),
            [x.name, self.weight(w), y.name],
            _u32(x.rows, n, x.cols, 1),
            groups,
            size=size,
            tail=(self.weight(gelu_bias),) if gelu_bias else (),
        )
        return y

    def _matmul(self, x: _V, w: str, n: int) -> _V:
        return self._gemm(x, w, n)

    def _linear_gelu(self, x: _V, name: str, n: int) -> _V:
        if gemm_entry(self.gemm, n, x.cols) in ("gemmu", "gemmus"):  # these have a GELU block
            return self._gemm(x, name + ".w", n, name + ".b")
        y = self.scratch(x.rows, n)
        self.dispatch(
            "linear_gelu.wgsl",
            "tiled",
            [x.name, self.weight(name + ".w"), self.weight(name + ".b"), y.name],
            _u32(x.rows, n, x.cols, 0),
            (math.ceil(n / _TILE), math.ceil(x.rows / _TILE), 1),
            {"TILE": _TILE},
        )
        return y

    def _layernorm(self, x: _V, name: str) -> _V:
        """layernorm.wgsl's ``rows`` entry: ``rpw`` rows a workgroup, ``tx`` lanes a row."""
        y = self.scratch(x.rows, x.cols)
        shader, tx, rpw = "layernorm.wgsl rows", ROW_KNOBS["tx"], ROW_KNOBS["rpw"]
        if shader not in self.shaders:
            src = render_shader("layernorm.wgsl", self.dtype, (), {"R_TX": tx, "R_RPW": rpw})
            self.shaders[shader] = _with_eps(src, self.spec.eps)
        self.dispatch(
            shader,
            "rows",
            [x.name, self.weight(name + ".g"), self.weight(name + ".b"), y.name],
            _u32(x.rows, x.cols, 0, 0),
            _grid(math.ceil(x.rows / rpw)),
            size=(tx, rpw, 1),
        )
        return y

    # -- the graph's ops ------------------------------------------------------------------------
    def front(self) -> _V:
        self.kind = "front"
        s, b, seq, h = self.spec, self.b, self.s, self.spec.hidden
        rows = b * seq
        if s.front == "text":
            ids = self.input("ids", "uint32", (b, seq))
            types = self.input("types", "uint32", (b, seq))
            y = self.scratch(rows, h)
            self.dispatch(
                "model_embed.wgsl",
                "main",
                [ids, types, self.weight("word"), self.weight("pos"), self.weight("type"), y.name],
                _u32(rows, h, seq, 0),
                _grid(math.ceil(rows * h / 256)),
            )
            return self._layernorm(y, "emb_ln")
        if s.front == "patch":
            k = s.channels * s.patch**2
            pix = _V(self.input("rows", self.dtype, (b * (seq - 1), k)), b * (seq - 1), k)
            proj = self._bias(self._matmul(pix, "patch.w", h), "patch.b", None)
            y = self.scratch(rows, h)
            self.dispatch(
                "model_patch.wgsl",
                "main",
                [proj.name, self.weight("cls_pos"), y.name],
                _u32(b, seq, h, 0),
                _grid(math.ceil(rows * h / 256)),
            )
            return y
        frames, c = 2 * seq, s.channels
        mel = _V(self.input("mel", self.dtype, (b * frames, c)), b * frames, c)
        cols1 = self.scratch(b * frames, 3 * c)
        self.dispatch(
            "model_im2col.wgsl",
            "main",
            [mel.name, cols1.name],
            _u32(b, frames, c, frames, 1, 0, 0, 0),
            _grid(math.ceil(b * frames * 3 * c / 256)),
        )
        h1 = self._linear_gelu(cols1, "conv1", h)
        cols2 = self.scratch(rows, 3 * h)
        self.dispatch(
            "model_im2col.wgsl",
            "main",
            [h1.name, cols2.name],
            _u32(b, seq, h, frames, 2, 0, 0, 0),
            _grid(math.ceil(rows * 3 * h / 256)),
        )
        return self._bias(self._linear_gelu(cols2, "conv2", h), None, self.weight("pos"), seq * h)

    def linear(self, x: _V, name: str, gelu: bool = False) -> _V:
        x = self._ready(x)
        self.kind = "linear_gelu" if gelu else "linear"
        n = self.w[name + ".w"].shape[1]
        if gelu:
            return self._linear_gelu(x, name, n)
        y = self._matmul(x, name + ".w", n)
        y.bias = name + ".b"
        return y

    def attention(self, qkv: _V) -> _V:
        s, b, seq = self.spec, self.b, self.s
        qkv = self._ready(qkv)
        self.kind = "attention"
        h, nh, d = s.hidden, s.heads, s.head_dim
        hp = _u32(b, seq, nh, d)
        parts = []
        for which in range(3):
            t = self.scratch(b * seq, h)
            self.dispatch(
                "model_heads.wgsl",
                "split_one",
                [qkv.name, t.name],
                hp,
                _grid(math.ceil(b * seq * h / 256)),
                {"WHICH": which},
            )
            parts.append(t.name)
        ctx = self.scratch(b * seq, h)
        scale = int(np.float32(1.0 / math.sqrt(d)).view(np.uint32))
        if attention_entry(d) == "flash":  # attention.wgsl's tiled online-softmax form
            shader, knobs = "attention.wgsl flash", ATTENTION_KNOBS
            if shader not in self.shaders:
                self.shaders[shader] = attention_source(knobs, d, self.dtype)
            tiles = attention_tiles(knobs, seq)
            self.dispatch(
                shader,
                "flash",
                [*parts, ctx.name],
                _u32(b, nh, seq, d, 0, scale, tiles, 0),
                _grid(b * nh * tiles),
                size=(knobs["wg"], 1, 1),
            )
        else:
            self.dispatch(
                "attention.wgsl",
                "main",
                [*parts, ctx.name],
                _u32(b, nh, seq, d, 0, scale, 0, 0),
                _grid(b * nh * seq),
            )
        y = self.scratch(b * seq, h)
        self.dispatch(
            "model_heads.wgsl", "merge", [ctx.name, y.name], hp, _grid(math.ceil(b * seq * h / 256))
        )
        return y

    def add(self, x: _V, y: _V) -> _V:
        x = self._ready(x)
        self.kind = "add"
        return self._bias(y, y.bias, x)

    def layernorm(self, x: _V, name: str) -> _V:
        x = self._ready(x)
        self.kind = "layernorm"
        return self._layernorm(x, name)

    def pool(self, x: _V) -> _V:
        s, h = self.spec, self.spec.hidden
        x = self._ready(x)
        self.kind = "pool"
        rows = self.b * (self.s if s.front == "conv" else 1)
        out = _V(self._add("out", rows * h * self.item, "output", False), rows, h)
        if s.front == "conv":  # the hidden states themselves: a zero-bias copy
            self.dispatch(
                "model_bias.wgsl",
                "main",
                [x.name, self.input("zeros", self.dtype, (self.zeros_len(),)), x.name, out.name],
                _u32(rows * h, h, 0, rows * h),
                _grid(math.ceil(rows * h / 256)),
            )
        else:
            self.dispatch(
                "model_pool.wgsl",
                "main",
                [x.name, out.name],
                _u32(self.s, h, 0, 1 if s.front == "patch" else 0),
                (self.b, 1, 1),
            )
        return out


@functools.cache
def model_plan(
    spec: ModelSpec,
    batch: int,
    seq: int,
    gemm: tuple[tuple[str, Any], ...] | None = None,
    dtype: str = "float32",
) -> ComputePlan:
    """The forward of ``batch`` sequences of ``seq`` tokens as one ComputePlan (``dtype``);
    ``gemm`` the knobs of its projections (``tuple(model_gemm(...).items())``)."""
    return model_plan_kinds(spec, batch, seq, gemm, dtype)[0]


@functools.cache
def model_plan_kinds(
    spec: ModelSpec,
    batch: int,
    seq: int,
    gemm: tuple[tuple[str, Any], ...] | None = None,
    dtype: str = "float32",
) -> tuple[ComputePlan, tuple[str, ...]]:
    """:func:`model_plan` and the op kind of each of its passes (the per-op breakdown)."""
    return record_plan(spec, batch, seq, dict(gemm) if gemm else None, dtype)


def model_gemm(
    backend: Any, spec: ModelSpec, batch: int, seq: int, dtype: str = "float32"
) -> dict[str, Any]:
    """The ``gemm`` knobs a WGSL backend uses for this model's projections: its choice for a
    ``batch * seq`` x hidden x hidden matmul (tuned for this adapter, else its default)."""
    from ..kernels import get_kernel

    h = spec.hidden
    choice = backend.tuning_choice(get_kernel("matmul"), {"M": batch * seq, "N": h, "K": h}, dtype)
    return dict(choice.knobs) if choice is not None else dict(GEMM_KNOBS)


def record_plan(
    spec: ModelSpec,
    batch: int,
    seq: int,
    gemm: Mapping[str, Any] | None = None,
    dtype: str = "float32",
) -> tuple[ComputePlan, tuple[str, ...]]:
    """:func:`model_plan` and the op kind of each of its passes; ``gemm`` the knobs of the
    projections (matmul.wgsl's ``gemm`` variant; default ``GEMM_KNOBS``).

    ``dtype`` float16 stores weights, activations and the output as f16 (the plan needs the
    feature ``shader-f16``); every shader still sums in f32: the GEMMs and GELU, LayerNorm's
    mean and variance, attention's scores, online softmax and ``P V``, the bias and residual
    adds, the mean pooling and its L2 norm. Token ids stay uint32.
    """
    if dtype not in DTYPES:
        raise ParameterError(f"A model plan is float32 or float16, not {dtype!r}.")
    weights = dict(load_weights(spec))
    if spec.front == "patch":
        weights["cls_pos"] = np.concatenate([weights["cls"], weights["pos"].ravel()])
    rec = _Recorder(
        spec, weights, batch, seq, lambda name: shader_source(name, spec.eps, dtype), gemm, dtype
    )
    encoder_forward(spec, rec)
    shape = (batch, seq, spec.hidden) if spec.front == "conv" else (batch, spec.hidden)
    plan = ComputePlan(
        kernel=f"model:{spec.name}",
        variant="chain",
        dtype=dtype,
        params={"batch": batch, "seq": seq},
        features=("shader-f16",) if dtype == "float16" else (),
        shaders=rec.shaders,
        buffers=tuple(rec.buffers),
        passes=tuple(rec.passes),
        outputs=(OutputSpec("out", "out", dtype, shape),),
        inputs=rec.inputs,
        uniforms=rec.uniforms,
    )
    return plan, tuple(rec.kinds)


def data_inputs(spec: ModelSpec, x: ModelInputs, dtype: str = "float32") -> dict[str, np.ndarray]:
    """The plan inputs that carry the batch (token ids and types, patch rows or mel frames;
    the last two as ``dtype``)."""
    if spec.front == "text":
        assert x.type_ids is not None
        return {"ids": x.data.astype(np.uint32), "types": x.type_ids.astype(np.uint32)}
    if spec.front == "patch":
        rows = patchify(np.asarray(x.data, np.float32), spec.patch)
        return {"rows": rows.reshape(-1, spec.channels * spec.patch**2).astype(dtype)}
    mel = np.asarray(x.data, np.float32).transpose(0, 2, 1)
    return {"mel": np.ascontiguousarray(mel, dtype).reshape(-1, spec.channels)}


def weight_inputs(spec: ModelSpec, plan: ComputePlan) -> dict[str, np.ndarray]:
    """The plan inputs that carry weights (and the zero bias), by buffer name, in the
    plan's dtype (float16: converted from the float32 weights here)."""
    weights = load_weights(spec)
    out: dict[str, np.ndarray] = {}
    for name, (dt, shape) in plan.inputs.items():
        if name == "zeros":
            out[name] = np.zeros(shape, dt)
        elif name == "cls_pos":
            out[name] = np.concatenate([weights["cls"], weights["pos"].ravel()]).astype(dt)
        elif name in weights:
            out[name] = np.asarray(weights[name]).astype(dt, copy=False)
    return out


def plan_inputs(
    plan: ComputePlan, x: ModelInputs, *, weights: bool = True
) -> dict[str, np.ndarray]:
    """Every named input of ``plan`` for batch ``x`` (without the weights, which the page's
    cache supplies, when ``weights=False``; the zero bias is always included)."""
    from ._spec import get_model_spec

    spec = get_model_spec(str(plan.kernel).removeprefix("model:"))
    if (x.batch, x.seq) != (plan.params["batch"], plan.params["seq"]) or len(set(x.lengths)) > 1:
        raise ParameterError(
            f"The plan is for batch={plan.params['batch']}, "
            f"seq={plan.params['seq']} without padding; got batch={x.batch}, "
            f"seq={x.seq}, lengths {sorted(set(x.lengths.tolist()))}."
        )
    if not weights:
        zeros = {k: np.zeros(v[1], v[0]) for k, v in plan.inputs.items() if k == "zeros"}
        return {**zeros, **data_inputs(spec, x, plan.dtype)}
    return {**weight_inputs(spec, plan), **data_inputs(spec, x, plan.dtype)}
