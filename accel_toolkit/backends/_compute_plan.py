"""What a WebGPU executor runs: the :class:`ComputePlan` and the shader templating it uses.

A :class:`ComputePlan` is the single source of truth for running a kernel on WebGPU: the
shader sources (after templating), the buffers (size, usage, which request buffer fills
them), the passes (entry point, override constants, bindings, workgroup counts) and how
to read the outputs back. wgpu-py (``_wgpu.py``) and the browser (``widgets/runtime/
webgpu.js``) execute the same plan; its JSON form is documented in
``widgets/runtime/PROTOCOL.md``. The plan of each kernel is built in ``_wgsl_plans.py``;
:mod:`._wgsl` is the entry point (``build_plan``, ``supports``, ``check_limits``).

Templating is deliberately tiny and keeps line numbers, so a compiler's line is the file's
line: the line ``alias T = f32;  // @dtype ...`` becomes ``enable f16; alias T = f16;`` for
float16, lines between ``// @begin NAME`` and ``// @end NAME`` are blanked unless the
plan asks for block ``NAME``, and a line ``const NAME: u32 = 8u;  // @knob ...`` takes the
value the plan gives knob ``NAME`` (the tuning parameters of ``docs/tuning.md``).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .._assets import load_shader
from ..exceptions import ParameterError

__all__ = [
    "DOT4",
    "MAX_WORKGROUPS",
    "BufferSpec",
    "ComputePlan",
    "OutputSpec",
    "PassSpec",
    "knob_names",
    "render_shader",
]

#: WebGPU's default limit, which every adapter meets; larger 1-D dispatches tile over y
MAX_WORKGROUPS = 65535
#: WGSL language feature behind the dot4 variant of matmul_int8
DOT4 = "packed_4x8_integer_dot_product"

_DTYPE_LINE = re.compile(r"^alias T = f32;.*$", re.M)
_BLOCK = re.compile(r"^\s*// @(begin|end) (\w+)")
_KNOB = re.compile(r"^const (\w+): (u32|i32|bool) = [^;]+;(\s*// @knob.*)$", re.M)


def knob_names(name: str) -> list[str]:
    """The knobs (``// @knob`` constants) of shader ``name``, in file order."""
    return [m.group(1) for m in _KNOB.finditer(load_shader(name))]


def _set_knobs(name: str, src: str, knobs: Mapping[str, int | bool]) -> str:
    unknown = set(knobs) - {m.group(1) for m in _KNOB.finditer(src)}
    if unknown:
        raise ParameterError(
            f"shaders/{name} has no knob {', '.join(sorted(unknown))}; its "
            f"knobs are {', '.join(knob_names(name)) or 'none'}."
        )

    def sub(m: re.Match[str]) -> str:
        key, typ, tail = m.group(1), m.group(2), m.group(3)
        if key not in knobs:
            return m.group(0)
        v = knobs[key]
        text = ("true" if v else "false") if typ == "bool" else f"{int(v)}{typ[0]}"
        return f"const {key}: {typ} = {text};{tail}"

    return _KNOB.sub(sub, src)


def render_shader(
    name: str,
    dtype: str = "float32",
    blocks: Iterable[str] = (),
    knobs: Mapping[str, int | bool] | None = None,
) -> str:
    """The source of shader ``name`` for ``dtype``, with optional blocks kept and knobs set.

    Line numbers are preserved, so compiler messages point at the file's own lines.
    """
    src = load_shader(name)
    if knobs:
        src = _set_knobs(name, src, knobs)
    if dtype == "float16":
        src = _DTYPE_LINE.sub("enable f16; alias T = f16;", src, count=1)
    keep = set(blocks)
    out, dropping = [], None
    for line in src.split("\n"):
        m = _BLOCK.match(line)
        if m and m.group(1) == "begin" and m.group(2) not in keep:
            dropping = m.group(2)
        if dropping is not None:
            out.append("")
            if m and m.group(1) == "end" and m.group(2) == dropping:
                dropping = None
        else:
            out.append(line)
    return "\n".join(out)


@dataclass(frozen=True)
class BufferSpec:
    """One GPU buffer: ``usage`` is input, uniform, output or scratch; ``init`` the index of
    the request's binary buffer that fills it (``None``: starts as zeros)."""

    name: str
    size: int
    usage: str
    init: int | None = None


@dataclass(frozen=True)
class PassSpec:
    """One dispatch: binding ``k`` is ``@group(0) @binding(k)`` of ``shader``."""

    shader: str
    entry: str
    bindings: tuple[str, ...]
    workgroups: tuple[int, int, int]
    constants: Mapping[str, float] = field(default_factory=dict)
    workgroup_size: tuple[int, int, int] = (1, 1, 1)

    @property
    def invocations(self) -> int:
        return int(np.prod(self.workgroup_size))


@dataclass(frozen=True)
class OutputSpec:
    """How to decode one output: its buffer, numpy dtype and shape (the buffer may be padded)."""

    name: str
    buffer: str
    dtype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class ComputePlan:
    """A kernel configuration as WebGPU work (see the module docstring).

    Attributes
    ----------
    kernel, variant, dtype : str
        What the plan computes.
    params : dict
        The resolved kernel parameters.
    features : tuple of str
        Device features (``shader-f16``) and WGSL language features the plan needs.
    shaders : dict
        ``{file name: WGSL source after templating}``.
    buffers, passes, outputs
        See :class:`BufferSpec`, :class:`PassSpec`, :class:`OutputSpec`.
    inputs : dict
        ``{input name: (dtype, shape)}`` the plan expects.
    knobs : dict
        The tuning knobs of a tunable variant (``{}`` for the others).
    """

    kernel: str
    variant: str
    dtype: str
    params: Mapping[str, Any]
    features: tuple[str, ...]
    shaders: Mapping[str, str]
    buffers: tuple[BufferSpec, ...]
    passes: tuple[PassSpec, ...]
    outputs: tuple[OutputSpec, ...]
    inputs: Mapping[str, tuple[str, tuple[int, ...]]] = field(default_factory=dict)
    uniforms: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    encoders: Mapping[str, Callable[[np.ndarray], bytes]] = field(default_factory=dict, repr=False)
    knobs: Mapping[str, Any] = field(default_factory=dict)

    # -- identity and JSON ------------------------------------------------------------------
    def _body(self) -> dict[str, Any]:
        knobs = {"knobs": dict(self.knobs)} if self.knobs else {}
        return {
            "kernel": self.kernel,
            "variant": self.variant,
            **knobs,
            "dtype": self.dtype,
            "features": list(self.features),
            "shaders": dict(self.shaders),
            "buffers": [
                {"name": b.name, "size": b.size, "usage": b.usage, "init": b.init}
                for b in self.buffers
            ],
            "passes": [
                {
                    "shader": p.shader,
                    "entry": p.entry,
                    "constants": dict(p.constants),
                    "bindings": list(p.bindings),
                    "workgroups": list(p.workgroups),
                    "workgroup_size": list(p.workgroup_size),
                }
                for p in self.passes
            ],
            "outputs": [
                {"name": o.name, "buffer": o.buffer, "dtype": o.dtype, "shape": list(o.shape)}
                for o in self.outputs
            ],
        }

    @property
    def key(self) -> str:
        """A stable hash of everything the executor sees (sources, buffers, passes)."""
        blob = json.dumps(self._body(), sort_keys=True).encode()
        return hashlib.sha1(blob).hexdigest()[:16]

    def to_json(self) -> dict[str, Any]:
        """The plan as a JSON-ready dict, in the format of ``widgets/runtime/PROTOCOL.md``."""
        return {"key": self.key, **self._body()}

    def buffer(self, name: str) -> BufferSpec:
        for b in self.buffers:
            if b.name == name:
                return b
        raise KeyError(name)

    def with_shader(self, name: str, source: str) -> ComputePlan:
        """A copy whose shader ``name`` is ``source`` (experiments and compile-error tests)."""
        if name not in self.shaders:
            raise ParameterError(
                f"{self.kernel}: the plan has no shader {name!r}; it has {', '.join(self.shaders)}."
            )
        return replace(self, shaders={**self.shaders, name: source})

    # -- bytes in and out -----------------------------------------------------------------
    def encode_inputs(self, inputs: Mapping[str, np.ndarray]) -> list[bytes]:
        """Input and uniform contents, in ``init`` order, each padded to its buffer's size."""
        out: list[bytes] = []
        for b in sorted((b for b in self.buffers if b.init is not None), key=lambda b: b.init or 0):
            if b.usage == "uniform":
                blob = self.uniforms[b.name]
            else:
                if b.name not in inputs:
                    raise ParameterError(
                        f"{self.kernel}: input {b.name!r} is missing; the plan "
                        f"needs {', '.join(self.inputs)}."
                    )
                arr = np.asarray(inputs[b.name])
                dtype, shape = self.inputs[b.name]
                if tuple(arr.shape) != tuple(shape):
                    raise ParameterError(
                        f"{self.kernel}: input {b.name!r} has shape {arr.shape}, the plan was "
                        f"built for {tuple(shape)}; build the plan from the same parameters as "
                        f"the inputs."
                    )
                enc = self.encoders.get(b.name)
                blob = enc(arr) if enc else np.ascontiguousarray(arr, dtype=dtype).tobytes()
            if len(blob) > b.size:
                raise ParameterError(
                    f"{self.kernel}: {b.name!r} encodes to {len(blob)} bytes, "
                    f"more than its buffer ({b.size})."
                )
            out.append(blob + bytes(b.size - len(blob)))
        return out

    def decode_outputs(self, blobs: Sequence[Any]) -> dict[str, np.ndarray]:
        """Outputs from the bytes of the output buffers, in ``outputs`` order."""
        if len(blobs) != len(self.outputs):
            raise ParameterError(
                f"{self.kernel}: expected {len(self.outputs)} output buffers, got {len(blobs)}."
            )
        res = {}
        for o, blob in zip(self.outputs, blobs, strict=True):
            raw = np.frombuffer(memoryview(blob).cast("B"), dtype=np.uint8)
            n = math.prod(o.shape)
            itemsize = np.dtype(o.dtype).itemsize
            if raw.size < n * itemsize:
                raise ParameterError(
                    f"{self.kernel}: output {o.name!r} has {raw.size} bytes, needs {n * itemsize}."
                )
            res[o.name] = raw[: n * itemsize].view(o.dtype).reshape(o.shape).copy()
        return res
