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
from ..exceptions import BackendUnavailableError, ParameterError, UnsupportedKernelError
from ..harness import TimingResult, TimingSettings
from ..kernels import KernelSpec

__all__ = ["TAB_BACKENDS", "TabRequest", "build_request", "device_of", "measurement_from_reply",
           "supports"]

#: backends the tab can run
TAB_BACKENDS = ("webgpu", "webnn")


@dataclass
class TabRequest:
    """One request ready to send: protocol JSON, input buffers, and how to decode the outputs."""

    request: dict[str, Any]
    buffers: list[bytes]
    decode: Callable[[Sequence[bytes]], dict[str, np.ndarray]]


def _webnn_device_type(backend: str, options: Mapping[str, Any]) -> str:
    return str(options.get("device_type") or "cpu")


def supports(backend: str, spec: KernelSpec, params: Mapping[str, Any], dtype: str,
             info: Mapping[str, Any], options: Mapping[str, Any] | None = None) -> str | None:
    """``None`` if the tab described by ``info`` can run the configuration, else why not."""
    options = options or {}
    if backend == "webgpu":
        gpu = info.get("webgpu") or {}
        if not gpu.get("available"):
            return f"the tab has no WebGPU adapter: {gpu.get('reason') or gpu.get('error') or 'navigator.gpu is missing'}"
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
        try:
            from ..backends.browser import _webnn_graphs
        except ImportError as exc:
            return f"the WebNN graph builder is not installed ({exc})"
        check = getattr(_webnn_graphs, "supports", None)
        if check is not None:
            return check(spec, params, dtype, dev)  # type: ignore[no-any-return]
        return None
    return f"the tab runs {', '.join(TAB_BACKENDS)}, not {backend!r}"


def build_request(
    backend: str,
    spec: KernelSpec,
    params: Mapping[str, Any],
    dtype: str,
    inputs: Mapping[str, np.ndarray],
    *,
    mode: str = "measure",
    timing: TimingSettings | None = None,
    info: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
) -> TabRequest:
    """The protocol request (and input bytes) that runs one configuration in the tab."""
    options = options or {}
    base: dict[str, Any] = {"op": "run", "backend": backend, "mode": mode}
    if timing is not None:
        base["timing"] = timing.as_dict()
    if backend == "webgpu":
        from ..backends import _wgsl

        plan = _wgsl.build_plan(spec, params, dtype, options.get("variant"))
        limits = ((info or {}).get("webgpu") or {}).get("limits")
        if limits:
            _wgsl.check_limits(plan, limits)
        blobs = plan.encode_inputs(inputs)
        return TabRequest({**base, "plan": plan.to_json()}, blobs, plan.decode_outputs)
    if backend == "webnn":
        try:
            from ..backends.browser import _webnn_graphs
        except ImportError as exc:
            raise BackendUnavailableError(
                f"The WebNN graph builder (accel_toolkit.backends.browser._webnn_graphs) is "
                f"missing: {exc}. Reinstall accel_toolkit."
            ) from exc
        graph = _webnn_graphs.build_graph(spec, params, dtype)
        blobs = graph.encode_inputs(inputs)
        return TabRequest({**base, "graph": graph.to_json(),
                           "device_type": _webnn_device_type(backend, options)},
                          blobs, graph.decode_outputs)
    raise UnsupportedKernelError(f"The tab runs {', '.join(TAB_BACKENDS)}, not {backend!r}.")


def device_of(backend: str, info: Mapping[str, Any], reply_device: Mapping[str, Any] | None,
              options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What identifies where a tab result ran: the reply's device, else the tab's info."""
    options = options or {}
    browser = info.get("browser") or {}
    page = info.get("page") or {}
    dev: dict[str, Any] = dict(reply_device or {})
    if backend == "webgpu":
        a = info.get("webgpu") or {}
        dev.setdefault("adapter", {k: a.get(k) for k in ("vendor", "architecture", "device",
                                                          "description", "isFallbackAdapter")})
        if not dev.get("name"):
            ad = dev["adapter"] or {}
            dev["name"] = " ".join(str(x) for x in (ad.get("vendor"), ad.get("architecture"),
                                                    ad.get("description")) if x) or "WebGPU adapter"
    else:
        dt = _webnn_device_type(backend, options)
        dev.setdefault("deviceType", dt)
        dev.setdefault("name", f"WebNN {dt}")
    dev.setdefault("browser", " ".join(str(x) for x in (browser.get("name"), browser.get("version")) if x)
                   or browser.get("userAgent") or page.get("user_agent") or "")
    dev["venue"] = "tab"
    dev["page"] = page.get("href")
    dev["session"] = info.get("session")
    return dev


def measurement_from_reply(req: TabRequest, reply: Mapping[str, Any], buffers: Sequence[bytes],
                           device: Mapping[str, Any], round_trip_s: float) -> Measurement:
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
