"""The ``cuda`` backend: the CUDA C++ kernels of ``shaders/cuda/`` through CuPy/NVRTC.

Two variants, chosen by ``variant=``:

* ``"ours"`` (default): the hand-written kernels (``shaders/cuda/<kernel>.cu``), compiled at
  run time with NVRTC through :class:`cupy.RawModule`, one template instance per
  configuration (see :mod:`accel_toolkit.backends._cuda_plans`);
* ``"cupy"``: the library path a user compares against: the kernel spec's own
  implementation run on CuPy arrays (``matmul`` is cuBLAS through :func:`cupy.matmul`, erf is
  :func:`cupyx.scipy.special.erf`; no cuDNN).

Timing uses CUDA events on the current stream (``timer="cuda-event"``) with the harness's
algorithm (warm-up by time, calibrated inner loop, adaptive stop on IQR/median). With
``cold=True`` every timed call is preceded by an untimed write of a buffer twice the size of
the device's L2 cache (as nvbench and triton flush caches), and the per-call events exclude
the flush. Module compile/load cost is kept out of the samples: ``extra["compile_s"]`` (NVRTC
compile or CuPy cache load plus module load) and ``first_run_s`` (the first launch).

Importing this module needs neither CuPy nor a GPU; constructing the backend does.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any, cast

import numpy as np

from ..exceptions import (
    BackendUnavailableError,
    ConfigError,
    KernelExecutionError,
    ResourceLimitError,
    ShaderCompileError,
)
from ..harness import TimingResult, TimingSettings, time_batches
from ..kernels import KernelSpec, array_ops
from ._base import Availability, Backend, Measurement
from ._cuda_plans import Plan, cuda_source, plan, source_path

__all__ = ["CudaBackend"]

INSTALL_HINT = "pip install 'accel-toolkit[cuda]' (installs cupy-cuda12x; CuPy for CUDA 12)"
VARIANTS = ("ours", "cupy")
NVRTC_OPTIONS = ("-std=c++17",)


def _import_cupy() -> Any:
    """CuPy, or BackendUnavailableError saying how to get it."""
    try:
        import cupy
    except ModuleNotFoundError as exc:
        raise BackendUnavailableError(
            f"cuda: CuPy is not installed ({exc}); {INSTALL_HINT}."
        ) from None
    except Exception as exc:  # a broken install: wrong CUDA build, missing libraries
        raise BackendUnavailableError(
            f"cuda: CuPy is installed but failed to import ({type(exc).__name__}: {exc}); "
            f"reinstall it for your CUDA version: {INSTALL_HINT}."
        ) from None
    return cupy


def _version(v: int) -> str:
    """CUDA's integer version (12040) as ``"12.4"``."""
    return f"{v // 1000}.{(v % 1000) // 10}" if v else "none"


def _device_count(cp: Any) -> int:
    """Number of CUDA devices, or BackendUnavailableError naming the missing piece."""
    try:
        n = int(cp.cuda.runtime.getDeviceCount())
    except Exception as exc:
        text = str(exc)
        try:
            rt = _version(cp.cuda.runtime.runtimeGetVersion())
        except Exception:
            rt = "unknown"
        if (
            "InsufficientDriver" in text
            or "driver" in text.lower()
            and "insufficient" in text.lower()
        ):
            try:
                drv = cp.cuda.runtime.driverGetVersion()
            except Exception:
                drv = 0
            if not drv:
                raise BackendUnavailableError(
                    "cuda: no NVIDIA driver found (libcuda.so is missing), so CuPy "
                    f"(CUDA runtime {rt}) cannot reach a GPU; install the NVIDIA driver on a "
                    "machine with an NVIDIA GPU, or use another backend (cpu, wgpu, webgpu)."
                ) from None
            raise BackendUnavailableError(
                f"cuda: the NVIDIA driver (CUDA {_version(drv)}) is older than CuPy's CUDA "
                f"runtime {rt}; update the driver or install the CuPy build for your CUDA "
                f"version ({INSTALL_HINT})."
            ) from None
        if "NoDevice" in text:
            raise BackendUnavailableError(
                "cuda: the NVIDIA driver sees no CUDA device; check `nvidia-smi` and "
                "CUDA_VISIBLE_DEVICES, or use another backend (cpu, wgpu, webgpu)."
            ) from None
        raise BackendUnavailableError(
            f"cuda: CUDA is not usable here ({type(exc).__name__}: {exc}); check `nvidia-smi` "
            f"and the CuPy install ({INSTALL_HINT})."
        ) from None
    if n < 1:
        raise BackendUnavailableError(
            "cuda: the NVIDIA driver sees no CUDA device; check `nvidia-smi` and "
            "CUDA_VISIBLE_DEVICES, or use another backend (cpu, wgpu, webgpu)."
        )
    return n


def _describe_device(cp: Any, index: int) -> dict[str, Any]:
    """Everything that identifies device ``index`` (stored with every row)."""
    rt = cp.cuda.runtime
    props = rt.getDeviceProperties(index)
    attrs = cp.cuda.Device(index).attributes

    def prop(key: str, attr: str | None = None) -> Any:
        if key in props:
            return props[key]
        return attrs.get(attr) if attr else None

    name = props.get("name", b"")
    name = name.decode(errors="replace") if isinstance(name, bytes) else str(name)
    mem_clock = prop("memoryClockRate", "MemoryClockRate")  # kHz
    bus = prop("memoryBusWidth", "GlobalMemoryBusWidth")  # bits
    info: dict[str, Any] = {
        "name": name,
        "vendor": "NVIDIA",
        "device_index": index,
        "compute_capability": f"{props.get('major')}.{props.get('minor')}",
        "sm_count": prop("multiProcessorCount", "MultiProcessorCount"),
        "memory_bytes": prop("totalGlobalMem"),
        "l2_bytes": prop("l2CacheSize", "L2CacheSize"),
        "clock_khz": prop("clockRate", "ClockRate"),
        "memory_clock_khz": mem_clock,
        "memory_bus_bits": bus,
        # DDR/HBM: two transfers per clock
        "peak_bandwidth_Bps": (2.0 * mem_clock * 1e3 * bus / 8) if mem_clock and bus else None,
        "driver_version": _version(rt.driverGetVersion()),
        "runtime_version": _version(rt.runtimeGetVersion()),
        "cupy": cp.__version__,
    }
    try:
        info["nvrtc_version"] = ".".join(map(str, cp.cuda.nvrtc.getVersion()))
    except Exception:
        info["nvrtc_version"] = "unknown"
    uuid = props.get("uuid")
    if isinstance(uuid, (bytes, bytearray)) and uuid:
        info["uuid"] = bytes(uuid).hex()
    info["tf32"] = os.environ.get("CUPY_TF32", "0")
    return info


def _cupy_erf(cp: Any) -> Callable[[Any], Any]:
    try:
        from cupyx.scipy.special import erf

        return cast("Callable[[Any], Any]", erf)
    except Exception:  # very old CuPy: an elementwise kernel with CUDA's erf
        kernel = cp.ElementwiseKernel("T x", "T y", "y = erf(x)", "accel_toolkit_erf")
        return cast("Callable[[Any], Any]", kernel)


def time_cuda(
    cp: Any, fn: Callable[[], Any], settings: TimingSettings, flush: Callable[[], Any] | None = None
) -> TimingResult:
    """Time ``fn`` (launches on the current stream) with CUDA events.

    The harness loop (:func:`accel_toolkit.harness.time_batches`: warm-up by time,
    inner loop calibrated until a sample takes ``target_sample_time`` of GPU time, adaptive
    stop on ``IQR / median`` between ``min_time`` and ``max_time`` of wall time); samples are
    event-measured GPU seconds per call. With ``flush`` (cold), each call is preceded by an
    untimed ``flush()`` and bracketed by its own pair of events.
    """
    s = settings
    stream = cp.cuda.get_current_stream()
    clock = time.perf_counter

    def batch(n: int) -> float:
        if flush is None:
            e0, e1 = cp.cuda.Event(), cp.cuda.Event()
            e0.record(stream)
            for _ in range(n):
                fn()
            e1.record(stream)
            e1.synchronize()
            return float(cp.cuda.get_elapsed_time(e0, e1)) / 1e3
        pairs = []
        for _ in range(n):
            flush()
            a, b = cp.cuda.Event(), cp.cuda.Event()
            a.record(stream)
            fn()
            b.record(stream)
            pairs.append((a, b))
        pairs[-1][1].synchronize()
        return float(sum(cp.cuda.get_elapsed_time(a, b) for a, b in pairs)) / 1e3

    # The harness's loop; samples are event-measured GPU seconds, the budget is wall time.
    return time_batches(batch, s, clock=clock, timer="cuda-event")


class CudaBackend(Backend):
    """CUDA kernels through CuPy on one NVIDIA GPU.

    Parameters
    ----------
    variant : {"ours", "cupy"}
        ``"ours"``: the hand-written kernels of ``shaders/cuda/``; ``"cupy"``: the spec's
        implementation on CuPy arrays (cuBLAS for matmul), the library baseline.
    cold : bool
        Flush the L2 cache (write ``2 x L2`` bytes) before every timed call; the flush is
        not timed. Default: warm (back-to-back calls).
    device : int
        CUDA device index.

    Raises
    ------
    BackendUnavailableError
        No CuPy, no NVIDIA driver, or no device; the message says how to fix it.
    """

    name = "cuda"
    extra = "cuda"
    venue = "process"

    def __init__(self, *, variant: str = "ours", cold: bool = False, device: int = 0) -> None:
        if variant not in VARIANTS:
            raise ConfigError(f"cuda: variant={variant!r} is not one of {list(VARIANTS)}.")
        self.variant = variant
        self.cold = bool(cold)
        cp = _import_cupy()
        count = _device_count(cp)
        if not 0 <= int(device) < count:
            raise BackendUnavailableError(
                f"cuda: no device {device}; this machine has {count} (use device=0..{count - 1})."
            )
        self._cp = cp
        self._index = int(device)
        self._device = cp.cuda.Device(self._index)
        self._device.use()
        self._info = _describe_device(cp, self._index)
        self._ops = array_ops(cp, erf=_cupy_erf(cp)) if variant == "cupy" else None
        self._kernels: dict[tuple[str, str], tuple[Any, float]] = {}
        self._flush_buf: Any = None

    # -- availability --------------------------------------------------------------------
    @classmethod
    def probe(cls) -> Availability:
        try:
            cp = _import_cupy()
            count = _device_count(cp)
            info = _describe_device(cp, 0)
        except BackendUnavailableError as exc:
            return Availability("cuda", False, str(exc))
        except Exception as exc:  # never take doctor down
            return Availability("cuda", False, f"cuda: probe failed ({type(exc).__name__}: {exc}).")
        info["device_count"] = count
        return Availability(
            "cuda",
            True,
            f"CuPy {info['cupy']}, CUDA runtime {info['runtime_version']}, driver "
            f"{info['driver_version']}, {count} device(s)",
            info,
        )

    def device_info(self) -> dict[str, Any]:
        return {**self._info, "variant": self.variant, "cold": self.cold, "timer": "cuda-event"}

    def supports(self, spec: KernelSpec, params: Mapping[str, Any], dtype: str) -> str | None:
        if self.variant == "cupy":
            return None
        try:
            plan(spec.name, params, dtype, self._info.get("sm_count") or 132)
        except Exception as exc:
            return str(exc)
        return None

    # -- compiling -----------------------------------------------------------------------
    def _kernel(self, file: str, expr: str) -> tuple[Any, float]:
        """The compiled, loaded kernel ``expr`` of ``file`` and its compile+load seconds."""
        key = (file, expr)
        if key not in self._kernels:
            cp = self._cp
            t0 = time.perf_counter()
            try:
                mod = cp.RawModule(
                    code=cuda_source(file), options=NVRTC_OPTIONS, name_expressions=(expr,)
                )
                fn = mod.get_function(expr)
                fn.num_regs  # noqa: B018 - forces the module load, so it is counted here
            except cp.cuda.compiler.CompileException as exc:
                raise ShaderCompileError(
                    f"cuda: NVRTC could not compile {expr} of {source_path(file)}:\n{exc}"
                ) from None
            self._kernels[key] = (fn, time.perf_counter() - t0)
        return self._kernels[key]

    # -- running -------------------------------------------------------------------------
    def _check_memory(self, inputs: Mapping[str, np.ndarray], out_bytes: int) -> None:
        need = sum(int(v.nbytes) for v in inputs.values()) + out_bytes
        free, _total = self._cp.cuda.runtime.memGetInfo()
        free += self._cp.get_default_memory_pool().free_bytes()
        if need > free:
            raise ResourceLimitError(
                f"cuda: the configuration needs {need / 2**30:.2f} GiB of device memory but "
                f"{free / 2**30:.2f} GiB are free on {self._info['name']}; use smaller parameters."
            )

    def _prepare(
        self,
        spec: KernelSpec,
        params: Mapping[str, Any],
        dtype: str,
        inputs: Mapping[str, np.ndarray],
    ) -> tuple[Callable[[], Any], Callable[[], dict[str, np.ndarray]], dict[str, Any]]:
        """Upload inputs, compile; return (launch, collect_outputs, extra)."""
        cp = self._cp
        if self.variant == "cupy":
            self._check_memory(inputs, sum(int(v.nbytes) for v in inputs.values()))
            dev = {k: cp.asarray(v) for k, v in inputs.items()}
            last: dict[str, Any] = {}
            ops = self._ops
            assert ops is not None

            def launch_lib() -> Any:
                out = spec.impl(ops, dev, params)
                last.clear()
                last.update(out)
                return out

            def collect_lib() -> dict[str, np.ndarray]:
                return {k: cp.asnumpy(v) for k, v in last.items()}

            return (
                launch_lib,
                collect_lib,
                {
                    "variant": "cupy",
                    "compile_s": None,
                    "compile_note": "CuPy's own kernel JIT and cuBLAS setup "
                    "happen in the first run (first_run_s)",
                },
            )
        p: Plan = plan(spec.name, params, dtype, self._info.get("sm_count") or 132)
        out_bytes = sum(
            int(np.prod(shape)) * np.dtype(dt).itemsize for shape, dt in p.outputs.values()
        )
        self._check_memory(inputs, out_bytes)
        dev = {k: cp.ascontiguousarray(cp.asarray(v)) for k, v in inputs.items()}
        outs = {k: cp.empty(shape, dtype=dt) for k, (shape, dt) in p.outputs.items()}
        arrays = {**dev, **outs}
        steps = []
        compile_s = 0.0
        regs = {}
        for launch in p.launches:
            fn, secs = self._kernel(launch.file, launch.expr)
            compile_s += secs
            regs[launch.expr] = {"num_regs": fn.num_regs, "local_bytes": fn.local_size_bytes}
            args = tuple(arrays[a] if isinstance(a, str) else a for a in launch.args)
            steps.append((fn, launch.grid, launch.block, args))

        def launch_ours() -> None:
            for fn, grid, block, args in steps:
                fn(grid, block, args)

        def collect_ours() -> dict[str, np.ndarray]:
            return {k: cp.asnumpy(v) for k, v in outs.items()}

        extra = {
            "variant": "ours",
            "compile_s": compile_s,
            "kernels": p.expressions,
            "launch": [
                {"expr": x.expr, "grid": list(x.grid), "block": list(x.block)} for x in p.launches
            ],
            "registers": regs,
        }
        return launch_ours, collect_ours, extra

    def _sync(self) -> None:
        self._cp.cuda.get_current_stream().synchronize()

    def run(
        self,
        spec: KernelSpec,
        params: Mapping[str, Any],
        dtype: str,
        inputs: Mapping[str, np.ndarray],
    ) -> dict[str, np.ndarray]:
        launch, collect, _ = self._prepare(spec, params, dtype, inputs)
        try:
            launch()
            self._sync()
        except (ShaderCompileError, ResourceLimitError):
            raise
        except Exception as exc:
            raise KernelExecutionError(
                f"cuda: {spec.name} failed on {self._info['name']}: {type(exc).__name__}: {exc}"
            ) from exc
        return collect()

    def _flush(self) -> None:
        if self._flush_buf is None:
            l2 = int(self._info.get("l2_bytes") or 0) or 64 * 2**20
            self._flush_buf = self._cp.empty(2 * l2, dtype=self._cp.uint8)
        self._flush_buf.data.memset_async(0, self._flush_buf.nbytes)

    def measure(
        self,
        spec: KernelSpec,
        params: Mapping[str, Any],
        dtype: str,
        inputs: Mapping[str, np.ndarray],
        settings: TimingSettings,
    ) -> Measurement:
        launch, collect, extra = self._prepare(spec, params, dtype, inputs)
        try:
            if self.cold:
                self._flush()
                self._sync()
            t0 = time.perf_counter()
            launch()
            self._sync()
            first = time.perf_counter() - t0
            outputs = collect()
            timing = time_cuda(self._cp, launch, settings, self._flush if self.cold else None)
        except (ShaderCompileError, ResourceLimitError):
            raise
        except Exception as exc:
            raise KernelExecutionError(
                f"cuda: {spec.name} failed on {self._info['name']}: {type(exc).__name__}: {exc}"
            ) from exc
        extra.update(
            cold=self.cold,
            cache="cold (L2 flushed before each call)" if self.cold else "warm",
            flush_bytes=int(self._flush_buf.nbytes) if self.cold else 0,
        )
        timing = TimingResult(
            samples=timing.samples,
            inner_loops=timing.inner_loops,
            first_run_s=first,
            warmup_s=timing.warmup_s,
            timer="cuda-event",
            extra=extra,
        )
        return Measurement(
            outputs=outputs, timing=timing, device=self.device_info(), venue="process"
        )

    def close(self) -> None:
        self._kernels.clear()
        self._flush_buf = None
