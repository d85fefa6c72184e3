"""The ``wgpu`` forward: the whole model as one chain of WGSL dispatches on GPU buffers.

:class:`WgpuModel` opens a wgpu-py device, uploads the weights once and, per batch shape,
records the forward as a list of dispatches over buffers that stay on the device: the
library's shaders (``matmul``, ``linear_gelu``, ``layernorm``, ``attention`` from
``shaders/``) and the glue in ``accel_toolkit/models/shaders/`` (embedding gather, bias and
residual, head split and merge, pooling). A forward writes the inputs, encodes every
dispatch in one command buffer and reads the output back once.

Sequences are grouped by length and each group runs unpadded (a batch of equal lengths is one
group), so ``attention.wgsl`` needs no mask and padding never reaches the pooling.
"""

from __future__ import annotations

import functools
import math
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .._assets import load_shader
from ..exceptions import BackendUnavailableError, KernelExecutionError, ShaderCompileError
from ._cpu import patchify
from ._graph import encoder_forward
from ._inputs import ModelInputs
from ._spec import ModelSpec, get_model_spec
from ._weights import load_weights

__all__ = ["WgpuModel", "shader_source"]

INSTALL = ("pip install 'accel-toolkit[wgpu]' and a Vulkan driver (Debian/Ubuntu: apt-get "
           "install mesa-vulkan-drivers for the lavapipe CPU adapter)")
_SHADERS = Path(__file__).resolve().parent / "shaders"
_MAX_WG = 65535
_TILE = 16
_LIMITS = ("max-buffer-size", "max-storage-buffer-binding-size",
           "max-storage-buffers-per-shader-stage", "max-compute-workgroup-storage-size")


@functools.cache
def _model_shader(name: str) -> str:
    return (_SHADERS / name).read_text(encoding="utf-8")


def shader_source(shader: str, eps: float) -> str:
    """The WGSL of ``shader``: a model glue shader, or a library shader from ``shaders/``
    (``layernorm.wgsl`` with the model's LayerNorm epsilon)."""
    if shader.startswith("model_"):
        return _model_shader(shader)
    src = load_shader(shader)
    if shader == "layernorm.wgsl":
        old = "const EPS: f32 = 1e-5;"
        if old not in src:
            raise KernelExecutionError("layernorm.wgsl no longer declares `const EPS: f32 = "
                                       "1e-5;`; update accel_toolkit/models/_wgpu.py.")
        src = src.replace(old, f"const EPS: f32 = {eps!r};")
    return src


def _grid(workgroups: int) -> tuple[int, int, int]:
    """A 1-D count of workgroups as a 2-D grid within WebGPU's 65535 per dimension."""
    x = min(max(workgroups, 1), _MAX_WG)
    return x, math.ceil(workgroups / x), 1


def _u32(*values: int) -> bytes:
    return np.array(values, dtype=np.uint32).tobytes()


@dataclass
class _T:
    """A ``[rows, cols]`` float32 tensor in a device buffer; ``bias`` is a pending bias."""

    buf: Any
    rows: int
    cols: int
    bias: str | None = None

    @property
    def nbytes(self) -> int:
        return self.rows * self.cols * 4


@dataclass
class _Dispatch:
    kind: str
    pipeline: Any
    group: Any
    workgroups: tuple[int, int, int]


@dataclass
class _Copy:
    kind: str
    src: Any
    dst: Any
    dst_offset: int
    size: int


class _Chain:
    """The recorded forward of one group of ``count`` sequences of length ``seq``."""

    def __init__(self, model: WgpuModel, count: int, seq: int, row0: int, out: Any) -> None:
        self.m, self.spec, self.count, self.seq, self.row0, self.out = (
            model, model.spec, count, seq, row0, out)
        self.steps: list[_Dispatch | _Copy] = []
        self.inputs: dict[str, Any] = {}
        encoder_forward(self.spec, self)

    # -- helpers ------------------------------------------------------------------------------
    def _buffer(self, rows: int, cols: int) -> _T:
        return _T(self.m._new_buffer(rows * cols * 4), rows, cols)

    def _dispatch(self, kind: str, shader: str, entry: str, bindings: list[Any], params: bytes,
                  workgroups: tuple[int, int, int], constants: Mapping[str, int] | None = None
                  ) -> None:
        pipe = self.m._pipeline(shader, entry, dict(constants or {}))
        ubuf = self.m._uniform(params)
        entries = []
        for i, b in enumerate([*bindings, (ubuf, 0, len(params))]):
            buf, off, size = b if isinstance(b, tuple) else (b.buf, 0, b.nbytes)
            entries.append({"binding": i, "resource": {"buffer": buf, "offset": off, "size": size}})
        group = self.m.device.create_bind_group(layout=pipe.get_bind_group_layout(0),
                                                entries=entries)
        self.steps.append(_Dispatch(kind, pipe, group, workgroups))

    def _bias(self, kind: str, x: _T, bias: str | None, residual: _T | tuple[Any, int] | None
              ) -> _T:
        y = self._buffer(x.rows, x.cols)
        n = x.rows * x.cols
        if residual is None:
            r, r_len = x, n
        elif isinstance(residual, _T):
            r, r_len = residual, n
        else:
            r, r_len = _T(residual[0], residual[1] // x.cols, x.cols), residual[1]
        b = self.m.w[bias] if bias else self.m.zeros
        self._dispatch(kind, "model_bias.wgsl", "main", [x, (b, 0, x.cols * 4), r, y],
                       _u32(n, x.cols, int(residual is not None), r_len), _grid(math.ceil(n / 256)))
        return y

    def _ready(self, x: _T) -> _T:
        return self._bias("linear", x, x.bias, None) if x.bias else x

    def _matmul(self, kind: str, x: _T, w: str, n: int) -> _T:
        y = self._buffer(x.rows, n)
        span = _TILE * 4  # matmul.wgsl's blocked entry: 4 x 4 outputs per invocation
        self._dispatch(kind, "matmul.wgsl", "blocked", [x, self.m.w_t(w), y],
                       _u32(x.rows, n, x.cols, 1),
                       (math.ceil(n / span), math.ceil(x.rows / span), 1), {"TILE": _TILE})
        return y

    def _linear_gelu(self, x: _T, name: str, n: int, kind: str = "linear_gelu") -> _T:
        y = self._buffer(x.rows, n)
        self._dispatch(kind, "linear_gelu.wgsl", "tiled",
                       [x, self.m.w_t(name + ".w"), self.m.w_t(name + ".b"), y],
                       _u32(x.rows, n, x.cols, 0),
                       (math.ceil(n / _TILE), math.ceil(x.rows / _TILE), 1), {"TILE": _TILE})
        return y

    def _input(self, name: str, nbytes: int) -> Any:
        buf = self.m._new_buffer(nbytes)
        self.inputs[name] = buf
        return buf

    # -- the graph's ops ----------------------------------------------------------------------
    def front(self) -> _T:
        s, b, seq, h = self.spec, self.count, self.seq, self.spec.hidden
        rows = b * seq
        if s.front == "text":
            ids, types = self._input("ids", rows * 4), self._input("types", rows * 4)
            y = self._buffer(rows, h)
            self._dispatch("front", "model_embed.wgsl", "main",
                           [(ids, 0, rows * 4), (types, 0, rows * 4), self.m.w_t("word"),
                            self.m.w_t("pos"), self.m.w_t("type"), y],
                           _u32(rows, h, seq, 0), _grid(math.ceil(rows * h / 256)))
            return self._layernorm(y, "emb_ln", "front")
        if s.front == "patch":
            k = s.channels * s.patch ** 2
            pix = _T(self._input("rows", b * (seq - 1) * k * 4), b * (seq - 1), k)
            proj = self._bias("front", self._matmul("front", pix, "patch.w", h), "patch.b", None)
            y = self._buffer(rows, h)
            self._dispatch("front", "model_patch.wgsl", "main",
                           [proj, self.m.w_t("cls_pos"), y], _u32(b, seq, h, 0),
                           _grid(math.ceil(rows * h / 256)))
            return y
        frames, c = 2 * seq, s.channels
        mel = _T(self._input("mel", b * frames * c * 4), b * frames, c)
        cols1 = self._buffer(b * frames, 3 * c)
        self._dispatch("front", "model_im2col.wgsl", "main", [mel, cols1],
                       _u32(b, frames, c, frames, 1, 0, 0, 0),
                       _grid(math.ceil(b * frames * 3 * c / 256)))
        h1 = self._linear_gelu(cols1, "conv1", h, "front")
        cols2 = self._buffer(rows, 3 * h)
        self._dispatch("front", "model_im2col.wgsl", "main", [h1, cols2],
                       _u32(b, seq, h, frames, 2, 0, 0, 0), _grid(math.ceil(rows * 3 * h / 256)))
        h2 = self._linear_gelu(cols2, "conv2", h, "front")
        return self._bias("front", h2, None, (self.m.w["pos"], seq * h))

    def linear(self, x: _T, name: str, gelu: bool = False) -> _T:
        x = self._ready(x)
        n = self.m.weights[name + ".w"].shape[1]
        if gelu:
            return self._linear_gelu(x, name, n)
        y = self._matmul("linear", x, name + ".w", n)
        y.bias = name + ".b"
        return y

    def attention(self, qkv: _T) -> _T:
        s, b, seq = self.spec, self.count, self.seq
        qkv = self._ready(qkv)
        h, nh, d = s.hidden, s.heads, s.head_dim
        heads = self._buffer(3 * b * seq, h)
        hp = _u32(b, seq, nh, d)
        self._dispatch("attention", "model_heads.wgsl", "split", [qkv, heads], hp,
                       _grid(math.ceil(qkv.rows * qkv.cols / 256)))
        blk = b * seq * h * 4
        ctx = self._buffer(b * seq, h)
        scale = int(np.float32(1.0 / math.sqrt(d)).view(np.uint32))
        self._dispatch("attention", "attention.wgsl", "main",
                       [(heads.buf, 0, blk), (heads.buf, blk, blk), (heads.buf, 2 * blk, blk), ctx],
                       _u32(b, nh, seq, d, 0, scale, 0, 0), _grid(b * nh * seq))
        y = self._buffer(b * seq, h)
        self._dispatch("attention", "model_heads.wgsl", "merge", [ctx, y], hp,
                       _grid(math.ceil(b * seq * h / 256)))
        return y

    def add(self, x: _T, y: _T) -> _T:
        x = self._ready(x)
        return self._bias("add", y, y.bias, x)

    def layernorm(self, x: _T, name: str) -> _T:
        return self._layernorm(self._ready(x), name, "layernorm")

    def _layernorm(self, x: _T, name: str, kind: str) -> _T:
        y = self._buffer(x.rows, x.cols)
        self._dispatch(kind, self.m.layernorm_shader, "main",
                       [x, self.m.w_t(name + ".g"), self.m.w_t(name + ".b"), y],
                       _u32(x.rows, x.cols, 0, 0), _grid(x.rows))
        return y

    def pool(self, x: _T) -> _T:
        s, h = self.spec, self.spec.hidden
        x = self._ready(x)
        if s.front == "conv":
            size = self.count * self.seq * h * 4
            self.steps.append(_Copy("pool", x.buf, self.out, self.row0 * self.seq * h * 4, size))
        else:
            mode = 1 if s.front == "patch" else 0
            self._dispatch("pool", "model_pool.wgsl", "main", [x, (self.out, 0, self.out.size)],
                           _u32(self.seq, h, self.row0, mode), (self.count, 1, 1))
        return x

    # -- running --------------------------------------------------------------------------------
    def write_inputs(self, x: ModelInputs, rows: np.ndarray) -> None:
        q = self.m.device.queue
        s = self.spec
        if s.front == "text":
            assert x.type_ids is not None
            q.write_buffer(self.inputs["ids"], 0, x.data[rows, : self.seq].astype(np.uint32).tobytes())
            types = x.type_ids[rows, : self.seq].astype(np.uint32)
            q.write_buffer(self.inputs["types"], 0, types.tobytes())
        elif s.front == "patch":
            pix = patchify(np.asarray(x.data[rows], np.float32), s.patch)
            q.write_buffer(self.inputs["rows"], 0, np.ascontiguousarray(pix).tobytes())
        else:
            mel = np.asarray(x.data[rows], np.float32).transpose(0, 2, 1)
            q.write_buffer(self.inputs["mel"], 0, np.ascontiguousarray(mel).tobytes())

    def encode(self, enc: Any, steps: list[_Dispatch | _Copy] | None = None) -> None:
        for st in self.steps if steps is None else steps:
            if isinstance(st, _Copy):
                enc.copy_buffer_to_buffer(st.src, 0, st.dst, st.dst_offset, st.size)
                continue
            cp = enc.begin_compute_pass()
            cp.set_pipeline(st.pipeline)
            cp.set_bind_group(0, st.group)
            cp.dispatch_workgroups(*st.workgroups)
            cp.end()


class WgpuModel:
    """A model on a wgpu-py device: weights uploaded once, forwards chained on the GPU.

    Parameters
    ----------
    model : str
        A registry name (``"minilm-l6"``, ``"vit-b16"``, ``"whisper-tiny-encoder"``).
    power_preference : str
        ``"high-performance"`` or ``"low-power"`` adapter.

    Attributes
    ----------
    upload_s : float
        Seconds to create the device and upload the weights.
    """

    _shared: ClassVar[dict[str, WgpuModel]] = {}

    def __init__(self, model: str, *, power_preference: str = "high-performance") -> None:
        t0 = time.perf_counter()
        self.spec: ModelSpec = get_model_spec(model)
        try:
            import wgpu
        except ImportError as exc:
            raise BackendUnavailableError(f"The wgpu model backend needs wgpu-py ({exc}); "
                                          f"{INSTALL}.") from None
        self._wgpu = wgpu
        try:
            adapter = wgpu.gpu.request_adapter_sync(power_preference=power_preference)
            limits = {k: adapter.limits[k] for k in _LIMITS if k in adapter.limits}
            self.device = adapter.request_device_sync(required_limits=limits)
        except Exception as exc:
            raise BackendUnavailableError(f"wgpu found no usable adapter ({exc}); {INSTALL}.") from None
        self.adapter = str(adapter.summary)
        self._pipes: dict[tuple[str, str, str], Any] = {}
        self._chains: dict[tuple[tuple[int, int], ...], tuple[list[_Chain], Any]] = {}
        self.layernorm_shader = "layernorm.wgsl"
        BU = wgpu.BufferUsage
        self._storage = BU.STORAGE | BU.COPY_SRC | BU.COPY_DST
        self.weights = dict(load_weights(self.spec))
        if self.spec.front == "patch":
            self.weights["cls_pos"] = np.concatenate([self.weights["cls"], self.weights["pos"].ravel()])
        self.w = {k: self.device.create_buffer_with_data(data=np.ascontiguousarray(v, np.float32),
                                                         usage=self._storage)
                  for k, v in self.weights.items()}
        width = max(self.spec.ffn, 3 * self.spec.hidden)
        self.zeros = self.device.create_buffer(size=width * 4, usage=self._storage)
        self.upload_s = time.perf_counter() - t0

    @classmethod
    def shared(cls, model: str) -> WgpuModel:
        """One open model per name in this process (weights uploaded once)."""
        if model not in cls._shared:
            cls._shared[model] = cls(model)
        return cls._shared[model]

    # -- resources ------------------------------------------------------------------------------
    def w_t(self, name: str) -> _T:
        a = self.weights[name]
        return _T(self.w[name], a.shape[0], int(np.prod(a.shape[1:])) if a.ndim > 1 else 1)

    def _new_buffer(self, nbytes: int) -> Any:
        return self.device.create_buffer(size=max(nbytes, 16), usage=self._storage)

    def _uniform(self, data: bytes) -> Any:
        BU = self._wgpu.BufferUsage
        return self.device.create_buffer_with_data(data=data, usage=BU.UNIFORM | BU.COPY_DST)

    def _source(self, shader: str) -> str:
        return shader_source(shader, self.spec.eps)

    def _pipeline(self, shader: str, entry: str, constants: dict[str, int]) -> Any:
        key = (shader, entry, repr(sorted(constants.items())))
        if key not in self._pipes:
            try:
                module = self.device.create_shader_module(label=shader, code=self._source(shader))
                self._pipes[key] = self.device.create_compute_pipeline(
                    label=f"{shader}:{entry}", layout="auto",
                    compute={"module": module, "entry_point": entry, "constants": constants})
            except Exception as exc:
                raise ShaderCompileError(f"{shader} ({entry}) failed to compile for "
                                         f"{self.spec.name}: {exc}") from None
        return self._pipes[key]

    def _plan(self, x: ModelInputs) -> tuple[list[tuple[_Chain, np.ndarray]], Any, np.ndarray]:
        """The chains of a batch (one per distinct length), its output buffer and row order."""
        lengths = x.lengths.astype(int)
        groups: dict[int, list[int]] = defaultdict(list)
        for i, n in enumerate(lengths):
            groups[int(n)].append(i)
        key = tuple(sorted((n, len(r)) for n, r in groups.items()))
        per_row = self.spec.hidden * (x.seq if self.spec.front == "conv" else 1)
        if key not in self._chains:
            out = self.device.create_buffer(size=len(lengths) * per_row * 4, usage=self._storage)
            chains, row0 = [], 0
            for n, count in key:
                chains.append(_Chain(self, count, n, row0, out))
                row0 += count
            self._chains[key] = (chains, out)
        chains, out = self._chains[key]
        order = [groups[n] for n, _ in key]
        return ([(c, np.array(rows)) for c, rows in zip(chains, order, strict=True)], out,
                np.concatenate([np.array(r) for r in order]))

    # -- forwards -------------------------------------------------------------------------------
    def _read(self, out: Any, order: np.ndarray, x: ModelInputs) -> np.ndarray:
        raw = np.frombuffer(self.device.queue.read_buffer(out), dtype=np.float32)
        shape = (x.batch, x.seq, self.spec.hidden) if self.spec.front == "conv" else (x.batch, -1)
        got = raw.reshape(shape)
        res = np.empty_like(got)
        res[order] = got
        return res

    def forward(self, x: ModelInputs) -> np.ndarray:
        """The model's output for a batch: one submit, one readback."""
        self.dispatch(x)
        return self.read(x)

    def dispatch(self, x: ModelInputs) -> None:
        """Write the inputs and submit the whole forward (no wait, no readback)."""
        plan, _, _ = self._plan(x)
        enc = self.device.create_command_encoder()
        for chain, rows in plan:
            chain.write_inputs(x, rows)
            chain.encode(enc)
        self.device.queue.submit([enc.finish()])

    def read(self, x: ModelInputs) -> np.ndarray:
        """Read back the output of the last :meth:`dispatch` of a batch shaped like ``x``."""
        _, out, order = self._plan(x)
        return self._read(out, order, x)

    def sync(self) -> None:
        """Wait until the device has finished every submitted forward.

        A 4-byte readback: mapping waits for all submitted work (wgpu-py 0.32's
        ``on_submitted_work_done_sync`` is broken).
        """
        self.device.queue.read_buffer(self.zeros, 0, 4)

    def dispatch_count(self, x: ModelInputs) -> int:
        """Number of dispatches (and copies) in the forward of a batch shaped like ``x``."""
        return sum(len(c.steps) for c, _ in self._plan(x)[0])

    def forward_timed(self, x: ModelInputs) -> tuple[np.ndarray, dict[str, tuple[float, int]]]:
        """A forward with each dispatch submitted and waited for alone: seconds per op kind.

        The sum exceeds a chained forward's time by one submit-and-wait per dispatch.
        """
        plan, out, order = self._plan(x)
        secs: dict[str, float] = defaultdict(float)
        calls: dict[str, int] = defaultdict(int)
        for chain, rows in plan:
            chain.write_inputs(x, rows)
        self.sync()
        for chain, _ in plan:
            for st in chain.steps:
                t0 = time.perf_counter()
                enc = self.device.create_command_encoder()
                chain.encode(enc, [st])
                self.device.queue.submit([enc.finish()])
                self.sync()
                secs[st.kind] += time.perf_counter() - t0
                calls[st.kind] += 1
        return self._read(out, order, x), {k: (secs[k], calls[k]) for k in secs}
