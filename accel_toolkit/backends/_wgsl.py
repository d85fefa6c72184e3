"""WGSL compute plans: what the ``wgpu`` backend and the browser's WebGPU executor run.

A :class:`ComputePlan` is the single source of truth for running a kernel on WebGPU: the
shader sources (after templating), the buffers (size, usage, which request buffer fills
them), the passes (entry point, override constants, bindings, workgroup counts) and how
to read the outputs back. wgpu-py (``_wgpu.py``) and the browser (``widgets/runtime/
webgpu.js``) execute the same plan; its JSON form is documented in
``widgets/runtime/PROTOCOL.md``::

    >>> from accel_toolkit.kernels import get_kernel
    >>> spec = get_kernel("matmul")
    >>> plan = build_plan(spec, spec.resolve(M=33, N=17, K=9), "float32", variant="tiled")
    >>> blobs = plan.encode_inputs(spec.make_inputs(plan.params, "float32"))

Templating is deliberately tiny and keeps line numbers, so a compiler's line is the file's
line: the line ``alias T = f32;  // @dtype ...`` becomes ``enable f16; alias T = f16;`` for
float16, and lines between ``// @begin NAME`` and ``// @end NAME`` are blanked unless the
plan asks for block ``NAME``.
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
from ..exceptions import (
    ParameterError,
    ResourceLimitError,
    ShaderCompileError,
    UnsupportedKernelError,
)
from ..kernels import KernelSpec

__all__ = [
    "BufferSpec",
    "ComputePlan",
    "OutputSpec",
    "PassSpec",
    "build_plan",
    "check_limits",
    "parse_compile_error",
    "render_shader",
    "shader_compile_error",
    "supports",
    "variants",
]

#: WebGPU's default limit, which every adapter meets; larger 1-D dispatches tile over y
MAX_WORKGROUPS = 65535
#: WGSL language feature behind the dot4 variant of matmul_int8
DOT4 = "packed_4x8_integer_dot_product"

_DTYPE_LINE = re.compile(r"^alias T = f32;.*$", re.M)
_BLOCK = re.compile(r"^\s*// @(begin|end) (\w+)")


def render_shader(name: str, dtype: str = "float32", blocks: Iterable[str] = ()) -> str:
    """The source of shader ``name`` for ``dtype``, with optional blocks kept.

    Line numbers are preserved, so compiler messages point at the file's own lines.
    """
    src = load_shader(name)
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

    # -- identity and JSON ------------------------------------------------------------------
    def _body(self) -> dict[str, Any]:
        return {
            "kernel": self.kernel,
            "variant": self.variant,
            "dtype": self.dtype,
            "features": list(self.features),
            "shaders": dict(self.shaders),
            "buffers": [{"name": b.name, "size": b.size, "usage": b.usage, "init": b.init}
                        for b in self.buffers],
            "passes": [{"shader": p.shader, "entry": p.entry, "constants": dict(p.constants),
                        "bindings": list(p.bindings), "workgroups": list(p.workgroups),
                        "workgroup_size": list(p.workgroup_size)} for p in self.passes],
            "outputs": [{"name": o.name, "buffer": o.buffer, "dtype": o.dtype, "shape": list(o.shape)}
                        for o in self.outputs],
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
            raise ParameterError(f"{self.kernel}: the plan has no shader {name!r}; it has "
                                 f"{', '.join(self.shaders)}.")
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
                    raise ParameterError(f"{self.kernel}: input {b.name!r} is missing; the plan "
                                         f"needs {', '.join(self.inputs)}.")
                arr = np.asarray(inputs[b.name])
                dtype, shape = self.inputs[b.name]
                if tuple(arr.shape) != tuple(shape):
                    raise ParameterError(
                        f"{self.kernel}: input {b.name!r} has shape {arr.shape}, the plan was built "
                        f"for {tuple(shape)}; build the plan from the same parameters as the inputs."
                    )
                enc = self.encoders.get(b.name)
                blob = enc(arr) if enc else np.ascontiguousarray(arr, dtype=dtype).tobytes()
            if len(blob) > b.size:
                raise ParameterError(f"{self.kernel}: {b.name!r} encodes to {len(blob)} bytes, "
                                     f"more than its buffer ({b.size}).")
            out.append(blob + bytes(b.size - len(blob)))
        return out

    def decode_outputs(self, blobs: Sequence[Any]) -> dict[str, np.ndarray]:
        """Outputs from the bytes of the output buffers, in ``outputs`` order."""
        if len(blobs) != len(self.outputs):
            raise ParameterError(f"{self.kernel}: expected {len(self.outputs)} output buffers, "
                                 f"got {len(blobs)}.")
        res = {}
        for o, blob in zip(self.outputs, blobs, strict=True):
            raw = np.frombuffer(memoryview(blob).cast("B"), dtype=np.uint8)
            n = math.prod(o.shape)
            itemsize = np.dtype(o.dtype).itemsize
            if raw.size < n * itemsize:
                raise ParameterError(f"{self.kernel}: output {o.name!r} has {raw.size} bytes, "
                                     f"needs {n * itemsize}.")
            res[o.name] = raw[: n * itemsize].view(o.dtype).reshape(o.shape).copy()
        return res


# -- what can run --------------------------------------------------------------------------
def variants(kernel: str) -> list[str]:
    """The variants of ``kernel`` (the first is the default), e.g. ``['tiled', 'naive', ...]``."""
    from ._wgsl_plans import VARIANTS

    if kernel not in VARIANTS:
        raise UnsupportedKernelError(f"No WGSL plan for kernel {kernel!r}.")
    return list(VARIANTS[kernel])


def supports(spec: KernelSpec, params: Mapping[str, Any], dtype: str,
             features: Iterable[str] = (), variant: str | None = None) -> str | None:
    """``None`` if the plan can run on a device with ``features``, else the reason it cannot.

    ``features`` holds the device's features and the WGSL language features it supports.
    """
    from ._wgsl_plans import VARIANTS

    feats = set(features)
    if spec.name not in VARIANTS:
        return f"no WGSL shader for {spec.name}"
    if variant is not None and variant not in VARIANTS[spec.name]:
        return (f"{spec.name} has no variant {variant!r}; variants: "
                f"{', '.join(VARIANTS[spec.name])}")
    if dtype == "float16" and "shader-f16" not in feats:
        return ("float16 needs the WebGPU feature 'shader-f16', which this adapter lacks "
                "(lavapipe and SwiftShader may not have it); run float32 or use another adapter")
    if dtype not in ("float32", "float16"):
        return f"dtype {dtype} has no WGSL storage type"
    if variant == "dot4" and DOT4 not in feats:
        return (f"variant dot4 needs the WGSL language feature {DOT4!r} (dot4I8Packed), which "
                f"this implementation lacks; use variant 'unpack'")
    if spec.name == "attention" and params["head_dim"] > 512:
        return "attention.wgsl holds a query row of at most 512 values; use head_dim <= 512"
    return None


def build_plan(spec: KernelSpec, params: Mapping[str, Any], dtype: str = "float32",
               variant: str | None = None) -> ComputePlan:
    """The :class:`ComputePlan` of one configuration (``variant=None``: the default)."""
    from ._wgsl_plans import BUILDERS, VARIANTS

    if spec.name not in BUILDERS:
        raise UnsupportedKernelError(f"No WGSL plan for kernel {spec.name!r}.")
    p = spec.resolve(params)
    dtype = spec.check_dtype(dtype)
    names = VARIANTS[spec.name]
    variant = variant or names[0]
    if variant not in names:
        raise ParameterError(f"{spec.name}: no WGSL variant {variant!r}; variants: {', '.join(names)}.")
    return BUILDERS[spec.name](spec, p, dtype, variant)


# -- device limits ---------------------------------------------------------------------------
def _norm(key: str) -> str:
    return key.replace("-", "").replace("_", "").lower()


def check_limits(plan: ComputePlan, limits: Mapping[str, Any]) -> None:
    """Raise ResourceLimitError if ``plan`` exceeds ``limits`` (before anything is dispatched).

    ``limits`` uses WebGPU names in either spelling (``maxBufferSize`` or ``max-buffer-size``).
    """
    lim = {_norm(k): int(v) for k, v in dict(limits).items() if isinstance(v, (int, float))}
    what = f"{plan.kernel} ({plan.variant}, {plan.dtype}, {json.dumps(dict(plan.params))})"
    fix = "use smaller parameters (e.g. a smaller preset) or a device with larger limits"

    def over(value: int, key: str, label: str) -> None:
        cap = lim.get(_norm(key))
        if cap is not None and value > cap:
            raise ResourceLimitError(
                f"{what}: {label} is {value:,}, more than this device's {key} ({cap:,}); {fix}."
            )

    for b in plan.buffers:
        over(b.size, "maxBufferSize", f"buffer {b.name!r} size in bytes")
        if b.usage == "uniform":
            over(b.size, "maxUniformBufferBindingSize", f"uniform buffer {b.name!r} size in bytes")
        else:
            over(b.size, "maxStorageBufferBindingSize", f"storage buffer {b.name!r} size in bytes")
    usage = {b.name: b.usage for b in plan.buffers}
    for ps in plan.passes:
        for axis, n in zip("xyz", ps.workgroups, strict=True):
            over(n, "maxComputeWorkgroupsPerDimension", f"pass {ps.entry}: workgroups along {axis}")
        over(ps.invocations, "maxComputeInvocationsPerWorkgroup", f"pass {ps.entry}: invocations per workgroup")
        for axis, n in zip("XYZ", ps.workgroup_size, strict=True):
            over(n, f"maxComputeWorkgroupSize{axis}", f"pass {ps.entry}: workgroup size {axis.lower()}")
        storage = sum(1 for b in ps.bindings if usage[b] != "uniform")
        over(storage, "maxStorageBuffersPerShaderStage", f"pass {ps.entry}: storage buffers")


# -- compiler messages -----------------------------------------------------------------------
_NAGA_LOC = re.compile(r"wgsl:(\d+):(\d+)")


def parse_compile_error(text: str) -> tuple[int | None, int | None, str]:
    """``(line, column, message)`` from a naga/wgpu error text (line and column 1-based)."""
    loc = _NAGA_LOC.search(text)
    line = int(loc.group(1)) if loc else None
    col = int(loc.group(2)) if loc else None
    lines = [s.strip() for s in text.splitlines() if s.strip()]
    msg = next((s for s in lines if "error" in s.lower() and s.lower() != "validation error"),
               lines[-1] if lines else text)
    notes = [s.lstrip("= ").strip() for s in lines if s.startswith("= ")]
    if notes:
        msg += " (" + "; ".join(notes) + ")"
    return line, col, msg


def shader_compile_error(plan: ComputePlan, shader: str, message: str, line: int | None = None,
                         column: int | None = None) -> ShaderCompileError:
    """A ShaderCompileError naming kernel, shader file, line and the compiler's message."""
    where = f"shaders/{shader}" + (f":{line}" if line else "") + (f":{column}" if column else "")
    text = f"{plan.kernel} ({plan.variant}, {plan.dtype}): WGSL compile error in {where}: {message}"
    if line:
        src_lines = plan.shaders.get(shader, "").split("\n")
        if 0 < line <= len(src_lines):
            text += f"\n    {line} | {src_lines[line - 1].rstrip()}"
    text += "\nFix the shader file (or the plan that templates it) and run again."
    err = ShaderCompileError(text)
    err.kernel, err.shader, err.line, err.column, err.compiler_message = (  # type: ignore[attr-defined]
        plan.kernel, shader, line, column, message)
    return err
