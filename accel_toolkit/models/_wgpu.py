"""The ``wgpu`` forward: a model's ComputePlan executed in-process through wgpu-py.

:class:`WgpuModel` opens a wgpu-py device and uploads the weights once. Per batch shape it
takes the model's :func:`~accel_toolkit.models._plan.record_plan` (the same plan the browser
runs) and creates its buffers, pipelines and bind groups once, binding the plan's weight
inputs to the shared weight buffers. A forward writes the token ids, encodes every pass of
every group in one command buffer, gathers the groups' outputs into one buffer and reads it
back once.

The GPU kernels have no padding mask: a batch is grouped by sequence length and each group
runs unpadded (a batch of equal lengths is one group).

``dtype="float16"`` runs the float16 plan (weights converted to f16 once, at upload; f16
buffers, f32 sums inside every shader) on an adapter with ``shader-f16`` (lavapipe has it);
the embeddings come back as float32.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .._driver_noise import quiet_driver_noise
from ..backends._compute_plan import ComputePlan
from ..exceptions import BackendUnavailableError, ShaderCompileError, UnsupportedKernelError
from ._inputs import ModelInputs
from ._plan import DTYPES, data_inputs, record_plan, weight_inputs
from ._spec import ModelSpec, get_model_spec

__all__ = ["WgpuModel"]

INSTALL = (
    "pip install 'accel-toolkit[wgpu]' and a Vulkan driver (Debian/Ubuntu: apt-get "
    "install mesa-vulkan-drivers for the lavapipe CPU adapter)"
)
_LIMITS = (
    "max-buffer-size",
    "max-storage-buffer-binding-size",
    "max-storage-buffers-per-shader-stage",
    "max-compute-workgroup-storage-size",
)


@dataclass
class _Group:
    """One batch shape's plan on the device: buffers, pipelines, bind groups, op kinds."""

    plan: ComputePlan
    kinds: tuple[str, ...]
    buffers: dict[str, Any]
    pipelines: list[Any]
    groups: list[Any]
    out_bytes: int


def _sub_batch(x: ModelInputs, rows: np.ndarray, n: int, text: bool) -> ModelInputs:
    """Rows ``rows`` of ``x``, cut to their common length ``n`` (text) or as they are."""
    data = x.data[rows][:, :n] if text else x.data[rows]
    types = None if x.type_ids is None else x.type_ids[rows][:, :n]
    return ModelInputs(data, x.lengths[rows], types, n)


def _padded(a: np.ndarray) -> bytes:
    """The bytes of ``a`` padded with zeros to a multiple of 4 (wgpu's write alignment)."""
    raw = a.tobytes()
    return raw + b"\0" * (-len(raw) % 4)


class WgpuModel:
    """A model on a wgpu-py device: weights uploaded once, forwards chained on the GPU.

    Parameters
    ----------
    model : str
        A registry name (``"minilm-l6"``, ``"vit-b16"``, ``"whisper-tiny-encoder"``).
    power_preference : str
        ``"high-performance"`` or ``"low-power"`` adapter.
    dtype : {"float32", "float16"}
        The storage type of weights and activations; float16 needs ``shader-f16``.

    Attributes
    ----------
    upload_s : float
        Seconds to open the device and upload the weights.
    """

    _shared: ClassVar[dict[tuple[str, str], WgpuModel]] = {}

    def __init__(
        self, model: str, *, power_preference: str = "high-performance", dtype: str = "float32"
    ) -> None:
        t0 = time.perf_counter()
        self.spec: ModelSpec = get_model_spec(model)
        if dtype not in DTYPES:
            raise UnsupportedKernelError(
                f"The wgpu model backend runs float32 or float16, not {dtype!r}."
            )
        self.dtype = dtype
        try:
            import wgpu
        except ImportError as exc:
            raise BackendUnavailableError(
                f"The wgpu model backend needs wgpu-py ({exc}); {INSTALL}."
            ) from None
        self._wgpu = wgpu
        try:
            with quiet_driver_noise():
                adapter = wgpu.gpu.request_adapter_sync(power_preference=power_preference)
            limits = {k: adapter.limits[k] for k in _LIMITS if k in adapter.limits}
        except Exception as exc:
            raise BackendUnavailableError(
                f"wgpu found no usable adapter ({exc}); {INSTALL}."
            ) from None
        self.adapter = str(adapter.summary)
        features = ["shader-f16"] if dtype == "float16" else []
        if features and "shader-f16" not in set(adapter.features):
            raise UnsupportedKernelError(
                f"float16 on wgpu needs the WebGPU feature 'shader-f16', which this adapter "
                f"({self.adapter}) lacks. Use dtype='float32', or backend 'webnn' for float16."
            )
        try:
            self.device = adapter.request_device_sync(
                required_features=features, required_limits=limits
            )
        except Exception as exc:
            raise BackendUnavailableError(
                f"wgpu could not open a device on {self.adapter} ({exc}); {INSTALL}."
            ) from None
        BU = wgpu.BufferUsage
        self._storage = BU.STORAGE | BU.COPY_SRC | BU.COPY_DST
        self._pipes: dict[tuple[str, str, str], Any] = {}
        self._groups: dict[tuple[int, int], _Group] = {}
        self._outs: dict[int, Any] = {}
        # the weights of the smallest plan name every weight buffer any plan binds
        self.weights = weight_inputs(self.spec, record_plan(self.spec, 1, 1, dtype=dtype)[0])
        self.w = {
            k: self.device.create_buffer_with_data(
                data=_padded(np.ascontiguousarray(v, dtype)), usage=self._storage
            )
            for k, v in self.weights.items()
        }
        self.upload_s = time.perf_counter() - t0

    @classmethod
    def shared(cls, model: str, dtype: str = "float32") -> WgpuModel:
        """One open model per name and dtype in this process (weights uploaded once)."""
        if (model, dtype) not in cls._shared:
            cls._shared[(model, dtype)] = cls(model, dtype=dtype)
        return cls._shared[(model, dtype)]

    # -- resources ------------------------------------------------------------------------------
    def _pipeline(
        self, plan: ComputePlan, shader: str, entry: str, constants: dict[str, float]
    ) -> Any:
        key = (shader, entry, repr(sorted(constants.items())))
        if key not in self._pipes:
            try:
                module = self.device.create_shader_module(label=shader, code=plan.shaders[shader])
                self._pipes[key] = self.device.create_compute_pipeline(
                    label=f"{shader}:{entry}",
                    layout="auto",
                    compute={"module": module, "entry_point": entry, "constants": constants},
                )
            except Exception as exc:
                raise ShaderCompileError(
                    f"{shader} ({entry}) failed to compile for {self.spec.name}: {exc}"
                ) from None
        return self._pipes[key]

    def _group(self, batch: int, seq: int) -> _Group:
        if (batch, seq) in self._groups:
            return self._groups[(batch, seq)]
        plan, kinds = record_plan(self.spec, batch, seq, dtype=self.dtype)
        BU = self._wgpu.BufferUsage
        bufs: dict[str, Any] = {}
        for b in plan.buffers:
            if b.name in self.w:
                bufs[b.name] = self.w[b.name]
            elif b.usage == "uniform":
                bufs[b.name] = self.device.create_buffer_with_data(
                    data=plan.uniforms[b.name], usage=BU.UNIFORM | BU.COPY_DST
                )
            else:
                bufs[b.name] = self.device.create_buffer(size=b.size, usage=self._storage)
        pipes, groups = [], []
        for ps in plan.passes:
            pipe = self._pipeline(plan, ps.shader, ps.entry, dict(ps.constants))
            entries = [
                {
                    "binding": i,
                    "resource": {"buffer": bufs[n], "offset": 0, "size": plan.buffer(n).size},
                }
                for i, n in enumerate(ps.bindings)
            ]
            pipes.append(pipe)
            groups.append(
                self.device.create_bind_group(layout=pipe.get_bind_group_layout(0), entries=entries)
            )
        out_bytes = int(np.prod(plan.outputs[0].shape)) * np.dtype(self.dtype).itemsize
        g = _Group(plan, kinds, bufs, pipes, groups, out_bytes)
        self._groups[(batch, seq)] = g
        return g

    def _out(self, nbytes: int) -> Any:
        if nbytes not in self._outs:
            self._outs[nbytes] = self.device.create_buffer(size=nbytes, usage=self._storage)
        return self._outs[nbytes]

    # -- forwards -------------------------------------------------------------------------------
    def _split(self, x: ModelInputs) -> list[tuple[_Group, np.ndarray, ModelInputs]]:
        """The batch's groups of one length each, in length order, with their rows."""
        by_len: dict[int, list[int]] = defaultdict(list)
        for i, n in enumerate(x.lengths.tolist()):
            by_len[int(n)].append(i)
        out = []
        for n in sorted(by_len):
            rows = np.array(by_len[n])
            out.append(
                (self._group(len(rows), n), rows, _sub_batch(x, rows, n, self.spec.front == "text"))
            )
        return out

    def _write(self, g: _Group, sub: ModelInputs) -> None:
        for name, arr in data_inputs(self.spec, sub, self.dtype).items():
            self.device.queue.write_buffer(g.buffers[name], 0, _padded(np.ascontiguousarray(arr)))

    def _encode(self, enc: Any, g: _Group, passes: range | None = None) -> None:
        for i in passes if passes is not None else range(len(g.plan.passes)):
            cp = enc.begin_compute_pass()
            cp.set_pipeline(g.pipelines[i])
            cp.set_bind_group(0, g.groups[i])
            cp.dispatch_workgroups(*g.plan.passes[i].workgroups)
            cp.end()

    def _gather_and_read(
        self, x: ModelInputs, parts: list[tuple[_Group, np.ndarray, ModelInputs]], enc: Any
    ) -> np.ndarray:
        total = sum(g.out_bytes for g, _, _ in parts)
        out = self._out(total)
        offset = 0
        for g, _, _ in parts:
            enc.copy_buffer_to_buffer(g.buffers["out"], 0, out, offset, g.out_bytes)
            offset += g.out_bytes
        self.device.queue.submit([enc.finish()])
        raw = np.frombuffer(self.device.queue.read_buffer(out, 0, total), dtype=self.dtype)
        per_row = (x.seq, self.spec.hidden) if self.spec.front == "conv" else (self.spec.hidden,)
        got = raw.reshape(-1, *per_row)
        res = np.empty(got.shape, np.float32)
        res[np.concatenate([rows for _, rows, _ in parts])] = got
        return res

    def forward(self, x: ModelInputs) -> np.ndarray:
        """The model's output for a batch: one command buffer, one readback."""
        parts = self._split(x)
        enc = self.device.create_command_encoder()
        for g, _, sub in parts:
            self._write(g, sub)
            self._encode(enc, g)
        return self._gather_and_read(x, parts, enc)

    def sync(self) -> None:
        """Wait until the device has finished every submitted forward.

        A 4-byte readback: mapping waits for all submitted work (wgpu-py 0.32's
        ``on_submitted_work_done_sync`` is broken).
        """
        self.device.queue.read_buffer(self.w[next(iter(self.w))], 0, 4)

    def dispatch_count(self, x: ModelInputs) -> int:
        """Number of compute passes in the forward of a batch shaped like ``x``."""
        return sum(len(g.plan.passes) for g, _, _ in self._split(x))

    def forward_timed(self, x: ModelInputs) -> tuple[np.ndarray, dict[str, tuple[float, int]]]:
        """A forward with each pass submitted and waited for alone: seconds per op kind.

        The sum exceeds a chained forward's time by one submit-and-wait per pass.
        """
        parts = self._split(x)
        for g, _, sub in parts:
            self._write(g, sub)
        self.sync()
        secs: dict[str, float] = defaultdict(float)
        calls: dict[str, int] = defaultdict(int)
        for g, _, _ in parts:
            for i, kind in enumerate(g.kinds):
                t0 = time.perf_counter()
                enc = self.device.create_command_encoder()
                self._encode(enc, g, range(i, i + 1))
                self.device.queue.submit([enc.finish()])
                self.sync()
                secs[kind] += time.perf_counter() - t0
                calls[kind] += 1
        out = self._gather_and_read(x, parts, self.device.create_command_encoder())
        return out, {k: (secs[k], calls[k]) for k in secs}
