"""The ``wgpu`` backend: the WGSL compute plans, in-process, through wgpu-py.

wgpu-py drives the native WebGPU implementation (wgpu-native: Vulkan, Metal or D3D12; on a
machine without a GPU, Mesa's lavapipe CPU driver). The backend runs exactly the
:class:`~accel_toolkit.backends._wgsl.ComputePlan` the browser runs, so a difference between
``wgpu`` and ``webgpu`` figures is the browser's, not the shader's.

>>> from accel_toolkit import run
>>> run("matmul", "wgpu", M=33, N=17, K=9).passed        # doctest: +SKIP
True
>>> WgpuBackend(variants={"matmul": "naive"})            # doctest: +SKIP

A kernel with a tunable variant (matmul's ``gemm``) and no variant asked for runs the knobs
``accel_toolkit.tuning`` stored for this adapter and the shape's bucket, checked against the
numpy reference before their first use, else the kernel's default knobs (docs/tuning.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, TypeVar

import numpy as np

from .._driver_noise import quiet_driver_noise
from ..exceptions import (
    AccelToolkitError,
    BackendUnavailableError,
    KernelExecutionError,
    UnsupportedKernelError,
)
from ..harness import TimingSettings, time_callable
from ..kernels import KernelSpec
from ._base import Availability, Backend, Measurement
from ._wgsl import (
    DOT4,
    ComputePlan,
    build_plan,
    check_limits,
    parse_compile_error,
    shader_compile_error,
    supports,
    variants,
)

__all__ = ["WgpuBackend"]

T = TypeVar("T")

INSTALL_WGPU = "pip install 'accel-toolkit[wgpu]'"
INSTALL_DRIVER = (
    "install a Vulkan driver (Debian/Ubuntu: apt-get install mesa-vulkan-drivers, "
    "which provides the lavapipe CPU adapter) or run on a machine with a GPU"
)
#: limits raised from WebGPU's defaults to what the adapter allows
_WANTED_LIMITS = (
    "max-buffer-size",
    "max-storage-buffer-binding-size",
    "max-compute-workgroup-storage-size",
    "max-compute-invocations-per-workgroup",
    "max-compute-workgroup-size-x",
    "max-compute-workgroup-size-y",
    "max-storage-buffers-per-shader-stage",
)
_DOT4_PROBE = """
@group(0) @binding(0) var<storage, read_write> x: array<u32>;
@compute @workgroup_size(1) fn main() { x[0] = u32(dot4I8Packed(x[1], x[2])); }
"""


def _import_wgpu() -> Any:
    try:
        import wgpu
    except ImportError as exc:
        raise BackendUnavailableError(
            f"The wgpu backend needs wgpu-py, which is not installed ({exc}); {INSTALL_WGPU}."
        ) from None
    return wgpu


def _adapter(wgpu: Any, power_preference: str) -> Any:
    try:
        with quiet_driver_noise():
            adapter = wgpu.gpu.request_adapter_sync(power_preference=power_preference)
    except Exception as exc:  # wgpu-native raises when no backend has an adapter
        raise BackendUnavailableError(
            f"wgpu found no WebGPU adapter ({exc}); {INSTALL_DRIVER}."
        ) from None
    if adapter is None:
        raise BackendUnavailableError(f"wgpu found no WebGPU adapter; {INSTALL_DRIVER}.")
    return adapter


def _adapter_device(wgpu: Any, adapter: Any) -> dict[str, Any]:
    info = dict(adapter.info)
    limits = dict(adapter.limits)
    return {
        "name": info.get("device") or info.get("description") or "unknown adapter",
        "vendor": info.get("vendor", ""),
        "architecture": info.get("architecture", ""),
        "device": info.get("device", ""),
        "description": info.get("description", ""),
        "vendor_id": info.get("vendor_id"),
        "device_id": info.get("device_id"),
        "backend_type": info.get("backend_type", ""),
        "adapter_type": info.get("adapter_type", ""),
        # wgpu-native has no isFallbackAdapter; a CPU adapter is the software fallback.
        "is_fallback_adapter": info.get("adapter_type") == "CPU",
        "features": sorted(str(f) for f in adapter.features),
        "limits": {
            k: limits[k]
            for k in sorted(limits)
            if k.startswith(("max-buffer", "max-storage", "max-compute", "max-uniform"))
        },
        "wgpu": getattr(wgpu, "__version__", "unknown"),
        "api": "wgpu-py",
    }


class WgpuBackend(Backend):
    """WGSL plans executed through wgpu-py in this process.

    Parameters
    ----------
    power_preference : str
        ``"high-performance"`` or ``"low-power"`` adapter.
    variants : dict or str, optional
        The WGSL variant per kernel (``{"matmul": "naive"}``), or one name used by every
        kernel that has it; :func:`accel_toolkit.backends._wgsl.variants` lists them.
        Default: each kernel's first variant. The attribute ``variants`` may be changed later.
    variant : str, optional
        Same as ``variants=<name>`` (the spelling of the ``webgpu`` backend's option).
    tuning : bool, str or Store
        Where tuned knobs are looked up: ``True`` (default) the results database
        (:func:`accel_toolkit.default_db_path`, if it exists), a path or Store, or ``False``
        to always run the default knobs. Used only for kernels without an explicit variant.
    """

    name = "wgpu"
    extra = "wgpu"
    venue = "process"

    def __init__(
        self,
        *,
        power_preference: str = "high-performance",
        variants: Mapping[str, str] | str | None = None,
        variant: str | None = None,
        tuning: bool | str | os.PathLike[str] | Any = True,
    ) -> None:
        self._wgpu = _import_wgpu()
        self.power_preference = power_preference
        self.variants: Mapping[str, str] | str = variants or variant or {}
        self.tuning = tuning
        self._choices: dict[tuple[str, str, str], Any] = {}
        self._open()

    # -- device ---------------------------------------------------------------------------
    def _open(self) -> None:
        wgpu = self._wgpu
        self._adapter = _adapter(wgpu, self.power_preference)
        feats = [f for f in ("shader-f16", "timestamp-query") if f in self._adapter.features]
        limits = {k: self._adapter.limits[k] for k in _WANTED_LIMITS if k in self._adapter.limits}
        try:
            self._device = self._adapter.request_device_sync(
                required_features=feats, required_limits=limits
            )
        except Exception as exc:
            raise BackendUnavailableError(
                f"wgpu could not create a device on "
                f"{self._adapter.summary}: {exc}; {INSTALL_DRIVER}."
            ) from None
        self._features = {str(f) for f in self._device.features}
        self._features |= {str(f) for f in wgpu.gpu.wgsl_language_features}
        if DOT4 not in self._features and self._compiles(_DOT4_PROBE):
            self._features.add(DOT4)  # naga accepts it without advertising the language feature
        self._limits = dict(self._device.limits)
        try:  # broken in some wgpu-py releases (0.32: a callback signature mismatch)
            self._device.queue.on_submitted_work_done_sync()
            self._timer = "submitted-work-done"
        except Exception:
            self._timer = "readback"
        self._modules: dict[str, Any] = {}
        self._pipelines: dict[tuple[str, str, str], Any] = {}
        self._info = {
            **_adapter_device(wgpu, self._adapter),
            "device_features": sorted(self._features),
        }

    def _compiles(self, source: str) -> bool:
        try:
            self._device.create_shader_module(code=source)
            return True
        except Exception:
            return False

    @classmethod
    def probe(cls) -> Availability:
        try:
            wgpu = _import_wgpu()
            adapter = _adapter(wgpu, "high-performance")
        except BackendUnavailableError as exc:
            return Availability(cls.name, False, str(exc))
        dev = _adapter_device(wgpu, adapter)
        from ..tuning import tuning_status

        return Availability(
            cls.name,
            True,
            f"wgpu {dev['wgpu']}: {adapter.summary}; {tuning_status(cls.name, dev)}",
            dev,
        )

    def device_info(self) -> dict[str, Any]:
        return dict(self._info)

    @property
    def features(self) -> set[str]:
        """Device features and WGSL language features of the open device."""
        return set(self._features)

    @property
    def limits(self) -> dict[str, int]:
        return dict(self._limits)

    def recover(self) -> None:
        """Recreate adapter and device (after a lost device); caches are dropped."""
        try:
            self._device.destroy()
        except Exception:
            pass
        self._open()

    def close(self) -> None:
        self._modules.clear()
        self._pipelines.clear()
        self._choices.clear()

    # -- plans ------------------------------------------------------------------------------
    def variant_for(self, kernel: str) -> str | None:
        v = self.variants
        if isinstance(v, str):
            return v if v in variants(kernel) else None
        return v.get(kernel)

    def supports(self, spec: KernelSpec, params: Mapping[str, Any], dtype: str) -> str | None:
        return supports(spec, params, dtype, self._features, self.variant_for(spec.name))

    def tuning_choice(self, spec: KernelSpec, params: Mapping[str, Any], dtype: str) -> Any:
        """The :class:`accel_toolkit.tuning.Choice` (tuned or default knobs) this backend uses
        for a configuration, or ``None`` where a variant was asked for or the kernel has no
        tunable variant."""
        from ..tuning._lookup import backend_choice

        return backend_choice(
            self, spec, params, dtype, self.variant_for(spec.name), self.tuning, self._choices
        )

    def plan(self, spec: KernelSpec, params: Mapping[str, Any], dtype: str) -> ComputePlan:
        """The plan this backend runs for one configuration (limits checked)."""
        reason = self.supports(spec, params, dtype)
        if reason:
            raise UnsupportedKernelError(f"wgpu cannot run {spec.name} ({dtype}): {reason}.")
        choice = self.tuning_choice(spec, params, dtype)
        if choice is not None:
            plan = build_plan(spec, params, dtype, choice.variant, choice.knobs)
        else:
            plan = build_plan(spec, params, dtype, self.variant_for(spec.name))
        check_limits(plan, self._limits)
        return plan

    def _module(self, plan: ComputePlan, shader: str) -> Any:
        src = plan.shaders[shader]
        key = hashlib.sha1(src.encode()).hexdigest()
        if key not in self._modules:
            try:
                self._modules[key] = self._device.create_shader_module(label=shader, code=src)
            except Exception as exc:
                line, col, msg = parse_compile_error(str(exc))
                raise shader_compile_error(plan, shader, msg, line, col) from None
        return self._modules[key]

    def _pipeline(self, plan: ComputePlan, index: int) -> tuple[Any, bool]:
        ps = plan.passes[index]
        src_key = hashlib.sha1(plan.shaders[ps.shader].encode()).hexdigest()
        key = (src_key, ps.entry, json.dumps(dict(ps.constants), sort_keys=True))
        if key in self._pipelines:
            return self._pipelines[key], True
        module = self._module(plan, ps.shader)
        try:
            pipe = self._device.create_compute_pipeline(
                label=f"{plan.kernel}:{ps.entry}",
                layout="auto",
                compute={
                    "module": module,
                    "entry_point": ps.entry,
                    "constants": dict(ps.constants),
                },
            )
        except Exception as exc:
            line, col, msg = parse_compile_error(str(exc))
            raise shader_compile_error(plan, ps.shader, msg, line, col) from None
        self._pipelines[key] = pipe
        return pipe, False

    def prepare(self, plan: ComputePlan, inputs: Mapping[str, np.ndarray]) -> _Prepared:
        """Compile (cached), allocate and upload: the returned object dispatches the plan."""
        check_limits(plan, self._limits)
        t0 = time.perf_counter()
        pipes = [self._pipeline(plan, i) for i in range(len(plan.passes))]
        compile_s = time.perf_counter() - t0
        return _Prepared(
            self, plan, [p for p, _ in pipes], inputs, compile_s, cached=all(c for _, c in pipes)
        )

    def execute(self, plan: ComputePlan, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run a plan once and return its decoded outputs."""
        return self._retrying(lambda: self.prepare(plan, inputs).run_once())

    def _retrying(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except AccelToolkitError:
            raise
        except Exception as exc:
            if "lost" not in str(exc).lower():
                raise KernelExecutionError(f"wgpu failed running the plan: {exc}") from exc
            self.recover()  # a lost device is recreated once, then the error stands
            return fn()

    # -- Backend API ------------------------------------------------------------------------
    def run(
        self,
        spec: KernelSpec,
        params: Mapping[str, Any],
        dtype: str,
        inputs: Mapping[str, np.ndarray],
    ) -> dict[str, np.ndarray]:
        return self.execute(self.plan(spec, params, dtype), inputs)

    def measure(
        self,
        spec: KernelSpec,
        params: Mapping[str, Any],
        dtype: str,
        inputs: Mapping[str, np.ndarray],
        settings: TimingSettings,
    ) -> Measurement:
        plan = self.plan(spec, params, dtype)
        choice = self.tuning_choice(spec, params, dtype)
        tuning = {"tuning": choice.as_dict()} if choice is not None else {}

        def go() -> Measurement:
            t0 = time.perf_counter()
            prep = self.prepare(plan, inputs)
            prep.dispatch()
            prep.sync()
            first = time.perf_counter() - t0
            outputs = prep.read()
            timing = time_callable(prep.dispatch, settings, sync=prep.sync)
            timing = replace(
                timing,
                first_run_s=first,
                timer=self._timer,
                extra={
                    **timing.extra,
                    "compile_s": prep.compile_s,
                    "pipeline_cached": prep.cached,
                    "dispatch_after_compile_s": first - prep.compile_s,
                    "variant": plan.variant,
                    "knobs": dict(plan.knobs),
                    "plan_key": plan.key,
                    **tuning,
                },
            )
            device = {**self.device_info(), "wgsl_variant": plan.variant}
            return Measurement(outputs=outputs, timing=timing, device=device, venue=self.venue)

        return self._retrying(go)


class _Prepared:
    """A plan with its pipelines, buffers and bind groups on one device."""

    def __init__(
        self,
        backend: WgpuBackend,
        plan: ComputePlan,
        pipelines: list[Any],
        inputs: Mapping[str, np.ndarray],
        compile_s: float,
        cached: bool,
    ) -> None:
        wgpu = backend._wgpu
        dev = backend._device
        self.device, self.plan, self.pipelines = dev, plan, pipelines
        self.compile_s, self.cached = compile_s, cached
        self.timer = backend._timer
        blobs = plan.encode_inputs(inputs)
        BU = wgpu.BufferUsage
        usage = {
            "input": BU.STORAGE | BU.COPY_DST,
            "uniform": BU.UNIFORM | BU.COPY_DST,
            "output": BU.STORAGE | BU.COPY_SRC | BU.COPY_DST,
            "scratch": BU.STORAGE | BU.COPY_SRC | BU.COPY_DST,
        }
        self.buffers: dict[str, Any] = {}
        for b in plan.buffers:
            buf = dev.create_buffer(label=b.name, size=b.size, usage=usage[b.usage])
            if b.init is not None:
                dev.queue.write_buffer(buf, 0, blobs[b.init])
            self.buffers[b.name] = buf
        self.groups = []
        for ps, pipe in zip(plan.passes, pipelines, strict=True):
            entries = [
                {
                    "binding": i,
                    "resource": {
                        "buffer": self.buffers[name],
                        "offset": 0,
                        "size": plan.buffer(name).size,
                    },
                }
                for i, name in enumerate(ps.bindings)
            ]
            self.groups.append(
                dev.create_bind_group(layout=pipe.get_bind_group_layout(0), entries=entries)
            )

    def dispatch(self) -> None:
        """One call of the kernel: every pass, in order, in one command encoder."""
        enc = self.device.create_command_encoder()
        for ps, pipe, group in zip(self.plan.passes, self.pipelines, self.groups, strict=True):
            cp = enc.begin_compute_pass()
            cp.set_pipeline(pipe)
            cp.set_bind_group(0, group)
            cp.dispatch_workgroups(*ps.workgroups)
            cp.end()
        self.device.queue.submit([enc.finish()])

    def sync(self) -> None:
        """Wait until the device has finished every submitted call.

        ``queue.on_submitted_work_done_sync()`` where wgpu-py's works, else a 4-byte
        readback of the first output (mapping waits for all submitted work; timer
        ``readback``).
        """
        if self.timer == "submitted-work-done":
            self.device.queue.on_submitted_work_done_sync()
        else:
            self.device.queue.read_buffer(self.buffers[self.plan.outputs[0].buffer], 0, 4)

    def read(self) -> dict[str, np.ndarray]:
        blobs = [self.device.queue.read_buffer(self.buffers[o.buffer]) for o in self.plan.outputs]
        return self.plan.decode_outputs(blobs)

    def run_once(self) -> dict[str, np.ndarray]:
        self.dispatch()
        return self.read()
