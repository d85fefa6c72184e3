"""Kernel configurations as runtime requests, and replies as measurements.

The tab runs exactly what the headless venue runs: WebGPU requests carry the
:class:`~accel_toolkit.backends._wgsl.ComputePlan` of ``accel_toolkit.backends._wgsl``,
WebNN requests the graph of ``accel_toolkit.backends.browser._webnn_graphs``. This module
only wraps them in the protocol of ``widgets/runtime/PROTOCOL.md`` and turns a reply into a
:class:`~accel_toolkit.backends.Measurement` whose venue is ``tab``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..backends import Measurement
from ..exceptions import ParameterError, UnsupportedKernelError
from ..harness import TimingResult, TimingSettings
from ..kernels import KernelSpec
from ._protocols import Mode, RunRequest, RuntimeReply

__all__ = [
    "TAB_BACKENDS",
    "TabRequest",
    "build_request",
    "device_of",
    "measurement_from_reply",
    "supports",
]

#: backends the tab can run
TAB_BACKENDS = ("webgpu", "webnn")


@dataclass
class TabRequest:
    """One request ready to send: protocol JSON, input buffers, and how to decode the outputs."""

    request: RunRequest
    buffers: list[bytes]
    decode: Callable[[Sequence[bytes]], dict[str, np.ndarray]]


def _webnn_device_type(backend: str, options: Mapping[str, Any]) -> str:
    return str(options.get("device_type") or "cpu")


def supports(
    backend: str,
    spec: KernelSpec,
    params: Mapping[str, Any],
    dtype: str,
    info: Mapping[str, Any],
    options: Mapping[str, Any] | None = None,
) -> str | None:
    """``None`` if the tab described by ``info`` can run the configuration, else why not."""
    options = options or {}
    if backend == "webgpu":
        gpu = info.get("webgpu") or {}
        if not gpu.get("available"):
            why = gpu.get("reason") or gpu.get("error") or "navigator.gpu is missing"
            return f"the tab has no WebGPU adapter: {why}"
        from ..backends import _wgsl

        feats = list(gpu.get("features") or []) + list(gpu.get("wgslLanguageFeatures") or [])
        return _wgsl.supports(spec, params, dtype, feats, options.get("variant"))
    if backend == "webnn":
        nn = info.get("webnn") or {}
        dt = _webnn_device_type(backend, options)
        dev = (nn.get("devices") or {}).get(dt) or {}
        if not dev.get("available"):
            why = dev.get("reason") or nn.get("reason") or "no WebNN"
            return f"the tab has no WebNN {dt!r} context: {why}"
        from ..backends.browser import _webnn_graphs

        try:
            graph = _webnn_graphs.build_graph(spec, params, dtype)
        except UnsupportedKernelError as exc:
            return str(exc)
        return _webnn_graphs.limits_reason(graph, dev.get("opSupportLimits"))
    return f"the tab runs {', '.join(TAB_BACKENDS)}, not {backend!r}"


def build_request(
    backend: str,
    spec: KernelSpec,
    params: Mapping[str, Any],
    dtype: str,
    inputs: Mapping[str, np.ndarray],
    *,
    mode: Mode = "measure",
    timing: TimingSettings | None = None,
    info: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
) -> TabRequest:
    """The protocol request (and input bytes) that runs one configuration in the tab."""
    options = options or {}
    decode: Callable[[Sequence[bytes]], dict[str, np.ndarray]]
    if backend == "webgpu":
        from ..backends import _wgsl

        plan = _wgsl.build_plan(spec, params, dtype, options.get("variant"))
        limits = ((info or {}).get("webgpu") or {}).get("limits")
        if limits:
            _wgsl.check_limits(plan, limits)
        request = RunRequest(op="run", backend="webgpu", mode=mode, plan=plan.to_json())
        blobs = plan.encode_inputs(inputs)
        decode = plan.decode_outputs
    elif backend == "webnn":
        from ..backends.browser import _webnn_graphs

        graph = _webnn_graphs.build_graph(spec, params, dtype)
        request = RunRequest(
            op="run",
            backend="webnn",
            mode=mode,
            graph=graph.to_json(),
            device_type=_webnn_device_type(backend, options),
        )
        blobs = graph.encode_inputs(inputs)
        decode = graph.decode_outputs
    else:
        raise UnsupportedKernelError(f"The tab runs {', '.join(TAB_BACKENDS)}, not {backend!r}.")
    if timing is not None:
        request["timing"] = timing.as_dict()
    return TabRequest(request, blobs, decode)


def _browser_label(info: Mapping[str, Any]) -> str:
    b = info.get("browser") or {}
    if b.get("name"):
        return f"{b['name']} {b.get('version', '')}".strip()
    return "the browser tab"


def device_of(
    backend: str,
    info: Mapping[str, Any],
    reply_device: Mapping[str, Any] | None,
    options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Where a tab result ran, named like the headless backends name theirs, plus the page.

    WebGPU: ``"<vendor> <architecture> (<description>) via WebGPU in <browser> (tab)"`` with
    the adapter, its limits and features; WebNN: ``"WebNN <deviceType> in <browser> (tab)"``.
    """
    options = options or {}
    browser = info.get("browser") or {}
    page = info.get("page") or {}
    label = _browser_label(info)
    gpu = info.get("webgpu") or {}
    adapter = (
        {
            k: gpu.get(k)
            for k in ("vendor", "architecture", "device", "description", "isFallbackAdapter")
        }
        if gpu.get("available")
        else {}
    )
    dev: dict[str, Any] = {
        "backend": backend,
        "venue": "tab",
        "browser": label,
        "browser_brands": browser.get("brands", []),
        "user_agent": browser.get("userAgent") or page.get("user_agent", ""),
        "page": page.get("href"),
        "session": info.get("session"),
        "adapter": adapter,
    }
    if backend == "webgpu":
        name = f"{adapter.get('vendor') or '?'} {adapter.get('architecture') or ''}".strip()
        if adapter.get("description"):
            name += f" ({adapter['description']})"
        dev.update(
            name=f"{name} via WebGPU in {label} (tab)",
            limits=gpu.get("limits", {}),
            features=gpu.get("features", []),
        )
        if options.get("variant"):
            dev["variant"] = options["variant"]
    else:
        dt = _webnn_device_type(backend, options)
        dev.update(name=f"WebNN {dt} in {label} (tab)", webnn_device_type=dt)
    for k, v in (reply_device or {}).items():
        if isinstance(v, (str, int, float, bool)):
            dev[f"plan_{k}"] = v
    return dev


def measurement_from_reply(
    req: TabRequest,
    reply: RuntimeReply,
    buffers: Sequence[bytes],
    device: Mapping[str, Any],
    round_trip_s: float,
) -> Measurement:
    """A :class:`Measurement` (venue ``tab``) from an ``ok`` reply of a ``measure`` request."""
    index = [o.get("index", i) for i, o in enumerate(reply.get("outputs") or [])]
    blobs = [buffers[i] for i in index] if index else list(buffers)
    outputs = req.decode(blobs)
    samples = np.asarray(reply.get("samples") or [], dtype=float)
    if req.request.get("mode") == "measure" and samples.size == 0:
        raise ParameterError("The tab replied without timing samples to a measure request.")
    timing = TimingResult(
        samples=samples,
        inner_loops=int(reply.get("inner_loops") or 1),
        first_run_s=float(reply.get("first_run_s") or 0.0),
        warmup_s=float(reply.get("warmup_s") or 0.0),
        timer=str(reply.get("timer") or "unknown"),
        extra={k: reply[k] for k in ("compile_s", "handle_s") if k in reply}
        | {"round_trip_s": round_trip_s},
    )
    return Measurement(outputs=outputs, timing=timing, device=dict(device), venue="tab")
