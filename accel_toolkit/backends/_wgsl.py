"""WGSL on WebGPU: which kernels have a compute plan, whether it can run, and its errors.

The plans themselves are built by the builders of ``_wgsl_plans.py`` (one per kernel, in its
registry :data:`~accel_toolkit.backends._wgsl_plans.WGSL_PLANS`) out of the types of
``_compute_plan.py``, which this module re-exports::

    >>> from accel_toolkit.kernels import get_kernel
    >>> spec = get_kernel("matmul")
    >>> plan = build_plan(spec, spec.resolve(M=33, N=17, K=9), "float32", variant="tiled")
    >>> blobs = plan.encode_inputs(spec.make_inputs(plan.params, "float32"))
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..exceptions import (
    ParameterError,
    ResourceLimitError,
    ShaderCompileError,
)
from ..kernels import KernelSpec
from ._compute_plan import (
    DOT4,
    MAX_WORKGROUPS,
    BufferSpec,
    ComputePlan,
    OutputSpec,
    PassSpec,
    render_shader,
)
from ._wgsl_plans import WGSL_PLANS

__all__ = [
    "DOT4",
    "MAX_WORKGROUPS",
    "WGSL_PLANS",
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


# -- what can run --------------------------------------------------------------------------
def variants(kernel: str) -> list[str]:
    """The variants of ``kernel`` (the first is the default), e.g. ``['tiled', 'naive', ...]``."""
    return list(WGSL_PLANS[kernel].variants)


def supports(
    spec: KernelSpec,
    params: Mapping[str, Any],
    dtype: str,
    features: Iterable[str] = (),
    variant: str | None = None,
) -> str | None:
    """``None`` if the plan can run on a device with ``features``, else the reason it cannot.

    ``features`` holds the device's features and the WGSL language features it supports.
    """
    feats = set(features)
    entry = WGSL_PLANS.get(spec.name)
    if entry is None:
        return WGSL_PLANS.missing(spec.name)
    if variant is not None and variant not in entry.variants:
        return f"{spec.name} has no variant {variant!r}; variants: {', '.join(entry.variants)}"
    if dtype == "float16" and "shader-f16" not in feats:
        return (
            "float16 needs the WebGPU feature 'shader-f16', which this adapter lacks "
            "(lavapipe and SwiftShader may not have it); run float32 or use another adapter"
        )
    if dtype not in ("float32", "float16"):
        return f"dtype {dtype} has no WGSL storage type"
    if variant == "dot4" and DOT4 not in feats:
        return (
            f"variant dot4 needs the WGSL language feature {DOT4!r} (dot4I8Packed), which "
            f"this implementation lacks; use variant 'unpack'"
        )
    return entry.limit(params) if entry.limit is not None else None


def build_plan(
    spec: KernelSpec,
    params: Mapping[str, Any],
    dtype: str = "float32",
    variant: str | None = None,
    knobs: Mapping[str, Any] | None = None,
) -> ComputePlan:
    """The :class:`ComputePlan` of one configuration (``variant=None``: the default).

    ``knobs`` sets the tuning knobs of the kernel's tunable variant (``WgslKernel.tunable``,
    e.g. matmul's ``gemm``); missing knobs take the registered defaults.
    """
    entry = WGSL_PLANS[spec.name]
    p = spec.resolve(params)
    dtype = spec.check_dtype(dtype)
    names = entry.variants
    variant = variant or names[0]
    if variant not in names:
        raise ParameterError(
            f"{spec.name}: no WGSL variant {variant!r}; variants: {', '.join(names)}."
        )
    if variant == entry.tunable:
        return entry.build(spec, p, dtype, variant, knobs=knobs)
    if knobs:
        raise ParameterError(
            f"{spec.name}: variant {variant!r} takes no knobs; "
            + (
                f"variant {entry.tunable!r} does."
                if entry.tunable
                else "this kernel has no tunable variant."
            )
        )
    return entry.build(spec, p, dtype, variant)


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
        over(
            ps.invocations,
            "maxComputeInvocationsPerWorkgroup",
            f"pass {ps.entry}: invocations per workgroup",
        )
        for axis, n in zip("XYZ", ps.workgroup_size, strict=True):
            over(
                n,
                f"maxComputeWorkgroupSize{axis}",
                f"pass {ps.entry}: workgroup size {axis.lower()}",
            )
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
    msg = next(
        (s for s in lines if "error" in s.lower() and s.lower() != "validation error"),
        lines[-1] if lines else text,
    )
    notes = [s.lstrip("= ").strip() for s in lines if s.startswith("= ")]
    if notes:
        msg += " (" + "; ".join(notes) + ")"
    return line, col, msg


def shader_compile_error(
    plan: ComputePlan, shader: str, message: str, line: int | None = None, column: int | None = None
) -> ShaderCompileError:
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
        plan.kernel,
        shader,
        line,
        column,
        message,
    )
    return err
