"""The ``webgpu`` and ``webnn`` backends (headless venue).

Each backend instance launches one Chromium (:class:`HeadlessSession`) and reuses it for
every configuration of a sweep. Python builds what runs (a WGSL ComputePlan from
``accel_toolkit.backends._wgsl`` or a WebNN GraphSpec from :mod:`._webnn_graphs`); the page
runs and times it and sends back raw samples and output bytes; statistics are computed by the
harness in Python.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np

from ...exceptions import (
    BackendUnavailableError,
    BrowserCrashedError,
    KernelExecutionError,
    ResourceLimitError,
    ShaderCompileError,
    UnsupportedKernelError,
)
from ...harness import TimingResult, TimingSettings
from ...kernels import KernelSpec
from .._base import Availability, Backend, Measurement
from ._discover import BrowserSpec, find_browser
from ._headless import HeadlessSession
from ._protocol import Mode, RunRequest, RuntimeReply

#: what a request's round trip gives: the decoded outputs, the reply and its seconds
Sent = tuple[dict[str, np.ndarray], RuntimeReply, float]

__all__ = ["WebGPUBackend", "WebNNBackend", "plan_request"]

PLAYWRIGHT_HINT = "Playwright is not installed: pip install 'accel-toolkit[browser]'"


def _require_playwright() -> None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        raise BackendUnavailableError(PLAYWRIGHT_HINT) from exc


def plan_request(
    plan: Any,
    inputs: Mapping[str, np.ndarray],
    mode: Mode,
    settings: TimingSettings | None,
    weights: Mapping[str, Any] | None = None,
) -> tuple[RunRequest, list[bytes]]:
    """The webgpu ``run`` request of a ComputePlan and its input buffers (both venues).

    ``weights`` (``{"model": key, "blobs": manifest}``) names plan inputs that travel empty:
    the page binds its resident copy or loads them (``widgets/runtime/model_weights.js``).
    """
    req = RunRequest(
        op="run",
        backend="webgpu",
        plan=plan.to_json(),
        mode=mode,
        timing=(settings or TimingSettings.quick()).as_dict(),
    )
    if not weights:
        return req, plan.encode_inputs(inputs)
    index = {b.name: b.init for b in plan.buffers if b.init is not None}
    blobs = [{**b, "index": index[b["name"]]} for b in weights["blobs"]]
    names = [b["name"] for b in blobs]
    zero = np.float32(0)
    inputs = {**{n: np.broadcast_to(zero, plan.inputs[n][1]) for n in names}, **inputs}
    empty = {n: (lambda a: b"") for n in names}  # no 90 MB of zeros to encode
    buffers = replace(plan, encoders={**plan.encoders, **empty}).encode_inputs(inputs)
    for b in blobs:
        buffers[b["index"]] = b""
    req["weights"] = {"model": weights["model"], "blobs": blobs}
    return req, buffers


def _browser_summary(info: Mapping[str, Any], spec: BrowserSpec, version: str) -> dict[str, Any]:
    b = info.get("browser", {})
    return {
        "browser": spec.label,
        "browser_version": version or b.get("version", ""),
        "browser_brands": b.get("brands", []),
        "user_agent": b.get("userAgent", ""),
        "executable": spec.executable,
        "browser_source": spec.source,
        "flags": list(spec.flags),
        "cross_origin_isolated": b.get("crossOriginIsolated"),
    }


def _adapter_summary(info: Mapping[str, Any]) -> dict[str, Any]:
    g = info.get("webgpu", {})
    return (
        {
            k: g.get(k)
            for k in ("vendor", "architecture", "device", "description", "isFallbackAdapter")
        }
        if g.get("available")
        else {}
    )


class _BrowserBackend(Backend):
    """What ``webgpu`` and ``webnn`` share: the browser, the session, the request cycle,
    :meth:`run` and :meth:`measure`; a subclass says what it sends (:meth:`_go`)."""

    extra = "browser"
    venue = "headless"
    capability: ClassVar[str]

    def __init__(
        self,
        *,
        browser: str | None = None,
        venue: str = "headless",
        transport: str = "auto",
        time_limit_s: float = 300.0,
        launch_timeout: float = 90.0,
    ):
        if venue != "headless":
            raise BackendUnavailableError(
                f"{self.name}: venue {venue!r} is not served by this class; it runs the "
                "'headless' venue (the live-tab venue comes from the notebook widget)."
            )
        _require_playwright()
        self.browser_spec = find_browser(browser or self._default_browser())
        self.time_limit_s = float(time_limit_s)
        self.session = HeadlessSession(
            self.browser_spec,
            transport=transport,
            launch_timeout=launch_timeout,
            webnn_device_types=self._device_types(),
        )
        try:
            self._info = self.session.info()
            reason = self._capability_reason(self._info)
            if reason:
                raise BackendUnavailableError(reason)
        except BaseException:
            self.session.close()
            raise

    # -- hooks -----------------------------------------------------------------------------
    @classmethod
    def _default_browser(cls) -> str | None:
        return None

    def _device_types(self) -> tuple[str, ...]:
        return ("cpu", "gpu", "npu")

    def _capability_reason(self, info: Mapping[str, Any]) -> str | None:
        raise NotImplementedError

    def _go(
        self,
        spec: KernelSpec,
        params: Mapping[str, Any],
        dtype: str,
        inputs: Mapping[str, np.ndarray],
        mode: Mode,
        settings: TimingSettings | None,
    ) -> Sent:
        """Build the configuration's request, send it and decode the outputs."""
        raise NotImplementedError

    def _measured_device(self, reply: RuntimeReply) -> dict[str, Any]:
        """Where a measurement ran (stored with its row)."""
        return self.device_info()

    # -- the backend interface ---------------------------------------------------------------
    def run(
        self,
        spec: KernelSpec,
        params: Mapping[str, Any],
        dtype: str,
        inputs: Mapping[str, np.ndarray],
    ) -> dict[str, np.ndarray]:
        return self._go(spec, params, dtype, inputs, "once", None)[0]

    def measure(
        self,
        spec: KernelSpec,
        params: Mapping[str, Any],
        dtype: str,
        inputs: Mapping[str, np.ndarray],
        settings: TimingSettings,
    ) -> Measurement:
        outputs, reply, rt = self._go(spec, params, dtype, inputs, "measure", settings)
        return Measurement(
            outputs, self._timing(reply, rt), self._measured_device(reply), self.venue
        )

    # -- shared machinery ------------------------------------------------------------------
    @classmethod
    def probe(cls, **options: Any) -> Availability:
        try:
            _require_playwright()
            be = cls(**options)
        except BackendUnavailableError as exc:
            return Availability(cls.name, False, str(exc))
        try:
            dev = be.device_info()
            return Availability(cls.name, True, be._available_text(), dev)
        finally:
            be.close()

    def _available_text(self) -> str:
        ad = _adapter_summary(self._info)
        gpu = (
            (
                f"WebGPU adapter {ad.get('vendor')}/{ad.get('architecture')}"
                + (" (fallback adapter)" if ad.get("isFallbackAdapter") else "")
            )
            if ad
            else "no WebGPU adapter"
        )
        nn = [
            k
            for k, v in self._info.get("webnn", {}).get("devices", {}).items()
            if v.get("available")
        ]
        return (
            f"{self.browser_spec.label} {self.session.version} ({self.browser_spec.source}: "
            f"{self.browser_spec.executable}); {gpu}" + (f"; WebNN {', '.join(nn)}" if nn else "")
        )

    @property
    def info(self) -> dict[str, Any]:
        """The runtime's full ``info()`` (browser, adapter limits/features, WebNN per device)."""
        return self._info

    def _request(
        self, request: RunRequest, buffers: list[bytes], kernel: str
    ) -> tuple[RuntimeReply, list[bytes], float]:
        if not self.session.alive():  # crashed earlier: relaunch instead of failing again
            self.recover()
        t0 = time.perf_counter()
        # the page stops itself at time_limit_s; past this hard limit the browser is killed
        hard = self.time_limit_s + min(30.0, max(5.0, self.time_limit_s))
        sent: RunRequest = {**request, "time_limit_s": self.time_limit_s}
        reply, out = self.session.request(sent, buffers, timeout=hard)
        rt = time.perf_counter() - t0
        if not reply.get("ok"):
            self._raise(reply.get("error") or {}, kernel)
        return reply, out, rt

    def _raise(self, err: Mapping[str, Any], kernel: str) -> None:
        kind = err.get("type", "KernelExecutionError")
        msg = (
            f"{self.name} ({self.browser_spec.label}) {kernel}: "
            f"{err.get('message', 'unknown error')}"
        )
        exc: Exception
        if kind == "ShaderCompileError":
            where = ":".join(
                str(err[k]) for k in ("shader", "line", "column") if err.get(k) is not None
            )
            exc = ShaderCompileError(f"{msg}" + (f" (at {where})" if where else ""))
            for k in ("shader", "line", "column"):
                setattr(exc, k, err.get(k))
            exc.kernel = kernel  # type: ignore[attr-defined]
        elif kind == "ResourceLimitError":
            exc = ResourceLimitError(msg + ". Use smaller parameters.")
        elif kind == "UnsupportedKernelError":
            exc = UnsupportedKernelError(msg)
        elif kind == "Timeout":
            self.session.kill()
            exc = BrowserCrashedError(
                msg + f" (time limit {self.time_limit_s:.0f} s; the browser was "
                "killed and is relaunched by recover())"
            )
        elif kind == "DeviceLost":
            exc = KernelExecutionError(
                msg + " (the device was lost; it is recreated for the next request)"
            )
        else:
            exc = KernelExecutionError(msg)
        raise exc

    def _timing(self, reply: Mapping[str, Any], round_trip: float) -> TimingResult:
        extra = {
            k: reply[k]
            for k in (
                "compile_s",
                "cached",
                "handle_s",
                "wall_s",
                "pass_s",
                "weights",
                "upload_bytes",
                "readbacks",
            )
            if k in reply
        }
        extra.update(round_trip_s=round_trip, transport=self.session.transport)
        return TimingResult(
            samples=np.asarray(reply.get("samples") or [], dtype=float),
            inner_loops=int(reply.get("inner_loops", 1)),
            first_run_s=float(reply.get("first_run_s", float("nan"))),
            warmup_s=float(reply.get("warmup_s", 0.0)),
            timer=str(reply.get("timer", "")),
            extra=extra,
        )

    def _base_device(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "venue": self.venue,
            **_browser_summary(self._info, self.browser_spec, self.session.version),
            "transport": self.session.transport,
        }

    def recover(self) -> None:
        """Relaunch the browser (after a crash, a hang or a lost device)."""
        self.session.relaunch()
        self._info = self.session.info()

    def close(self) -> None:
        self.session.close()

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.name!r} {self.browser_spec.label} "
            f"{self.session.version}>"
        )


class WebGPUBackend(_BrowserBackend):
    """The WGSL shaders of ``shaders/`` run by Chromium's WebGPU.

    Parameters
    ----------
    browser : str, optional
        Path or name of the Chromium to use (default: discovery order, preferring the
        ``@sparticuz/chromium`` build), e.g. ``get_backend("webgpu", browser="/usr/bin/chromium")``.
    variant : str, optional
        The WGSL variant (e.g. ``"naive"``, ``"tiled"``); default: the plan builder's choice,
        or for a tunable kernel (matmul) the knobs ``accel_toolkit.tuning`` stored for this
        adapter and the shape's bucket, else its default knobs (docs/tuning.md).
    tuning : bool, str or Store
        Where tuned knobs are looked up (``True``: the default results database, if it
        exists; ``False``: never).
    transport : str
        How bytes travel to and from the page: ``"auto"`` (default; inline base64 up to
        16 KiB, else one GET/POST to the local page server), ``"http"`` or ``"base64"``.
    time_limit_s : float
        Per-request limit; past it the browser is killed and the request fails.
    """

    name = "webgpu"
    capability = "webgpu"

    def __init__(self, *, variant: str | None = None, tuning: Any = True, **options: Any):
        self.variant = variant
        self.tuning = tuning
        self._choices: dict[Any, Any] = {}
        self._last: dict[str, Any] = {}
        self._tuning: dict[str, Any] = {}
        super().__init__(**options)

    def _device_types(self) -> tuple[str, ...]:
        return ()

    def _capability_reason(self, info: Mapping[str, Any]) -> str | None:
        g = info.get("webgpu", {})
        if not g.get("available"):
            return (
                f"{self.browser_spec.label} at {self.browser_spec.executable} "
                f"has no usable WebGPU: {g.get('reason', 'unknown')}. "
                "Use a Chromium with WebGPU (make install) and keep "
                "--enable-unsafe-webgpu."
            )
        return None

    @staticmethod
    def _wgsl() -> Any:
        try:
            from .. import _wgsl
        except ImportError as exc:
            raise UnsupportedKernelError(
                f"the WGSL plan builder (accel_toolkit.backends._wgsl) is not available: {exc}"
            ) from exc
        return _wgsl

    def device_info(self) -> dict[str, Any]:
        g = self._info.get("webgpu", {})
        ad = _adapter_summary(self._info)
        name = f"{ad.get('vendor') or '?'} {ad.get('architecture') or ''}".strip()
        if ad.get("description"):
            name += f" ({ad['description']})"
        return {
            "name": f"{name} via WebGPU in {self.browser_spec.label} {self.session.version}",
            **self._base_device(),
            "adapter": ad,
            "limits": g.get("limits", {}),
            "features": g.get("features", []),
        }

    def supports(self, spec: KernelSpec, params: Mapping[str, Any], dtype: str) -> str | None:
        try:
            w = self._wgsl()
        except UnsupportedKernelError as exc:
            return str(exc)
        g = self._info.get("webgpu", {})
        feats = [*g.get("features", []), *g.get("wgslLanguageFeatures", [])]
        reason = w.supports(spec, params, dtype, feats, self.variant)
        return reason or None

    def tuning_choice(self, spec: KernelSpec, params: Mapping[str, Any], dtype: str) -> Any:
        """The :class:`accel_toolkit.tuning.Choice` used for a configuration (``None``: a
        variant was asked for, or the kernel is not tunable)."""
        from ...tuning._lookup import backend_choice

        return backend_choice(self, spec, params, dtype, self.variant, self.tuning, self._choices)

    def _plan(self, spec: KernelSpec, params: Mapping[str, Any], dtype: str) -> Any:
        w = self._wgsl()
        choice = self.tuning_choice(spec, params, dtype)
        if choice is not None:
            plan = w.build_plan(spec, params, dtype, variant=choice.variant, knobs=choice.knobs)
        else:
            plan = w.build_plan(spec, params, dtype, variant=self.variant)
        w.check_limits(plan, self._info.get("webgpu", {}).get("limits", {}))
        return plan

    def _timing(self, reply: Mapping[str, Any], round_trip: float) -> TimingResult:
        timing = super()._timing(reply, round_trip)
        return replace(timing, extra={**timing.extra, **self._last, **self._tuning})

    def run_plan(
        self,
        plan: Any,
        inputs: Mapping[str, np.ndarray],
        *,
        settings: TimingSettings | None = None,
        weights: Mapping[str, Any] | None = None,
    ) -> tuple[dict[str, np.ndarray], TimingResult]:
        """Run a ComputePlan as it is (any variant, or an edited shader) and return its
        outputs and timing (measured when ``settings`` is given, else run once).

        ``weights`` (``{"model": key, "blobs": manifest}``, see
        :func:`accel_toolkit.models._blobs.write_blobs`, served by ``self.session.server``)
        names plan inputs the page takes from its IndexedDB weight cache instead of the
        request; ``inputs`` need not hold them. The timing's ``extra["weights"]`` says how
        the page loaded them.
        """
        self._tuning = {}
        outputs, reply, rt = self._send(
            plan, inputs, "measure" if settings else "once", settings, weights
        )
        return outputs, self._timing(reply, rt)

    def _send(
        self,
        plan: Any,
        inputs: Mapping[str, np.ndarray],
        mode: Mode,
        settings: TimingSettings | None,
        weights: Mapping[str, Any] | None = None,
    ) -> Sent:
        self._last = {"variant": plan.variant, "knobs": dict(plan.knobs)}
        req, buffers = plan_request(plan, inputs, mode, settings, weights)
        reply, out, rt = self._request(req, buffers, plan.kernel)
        return plan.decode_outputs(out), reply, rt

    def _go(
        self,
        spec: KernelSpec,
        params: Mapping[str, Any],
        dtype: str,
        inputs: Mapping[str, np.ndarray],
        mode: Mode,
        settings: TimingSettings | None,
    ) -> Sent:
        plan = self._plan(spec, params, dtype)
        choice = self.tuning_choice(spec, params, dtype)
        self._tuning = {"tuning": choice.as_dict()} if choice is not None else {}
        return self._send(plan, inputs, mode, settings)

    def _measured_device(self, reply: RuntimeReply) -> dict[str, Any]:
        return {**self.device_info(), "variant": reply.get("variant") or self.variant}


class WebNNBackend(_BrowserBackend):
    """WebNN graphs built with ``MLGraphBuilder`` in a Chromium that has WebNN.

    Parameters
    ----------
    device_type : str
        The WebNN ``deviceType``: ``"cpu"`` (default), ``"gpu"`` or ``"npu"``.
    browser, transport, time_limit_s
        As for :class:`WebGPUBackend`.
    """

    name = "webnn"
    capability = "webnn"

    def __init__(self, *, device_type: str = "cpu", **options: Any):
        if device_type not in ("cpu", "gpu", "npu"):
            from ...exceptions import ConfigError

            raise ConfigError(f"webnn: device_type must be cpu, gpu or npu, got {device_type!r}.")
        self.device_type = device_type
        super().__init__(**options)

    def _device_types(self) -> tuple[str, ...]:
        return (self.device_type,)

    def _capability_reason(self, info: Mapping[str, Any]) -> str | None:
        nn = info.get("webnn", {})
        dev = nn.get("devices", {}).get(self.device_type, {})
        if not dev.get("available"):
            why = dev.get("reason") or nn.get("reason") or "unknown"
            return (
                f"{self.browser_spec.label} at {self.browser_spec.executable} has no WebNN "
                f"{self.device_type} device: {why}. Use the WebNN-capable @sparticuz/chromium "
                "(`make install`, or browser='sparticuz') or point ACCEL_TOOLKIT_BROWSER at a "
                "Chromium with WebNN."
            )
        return None

    def run_graph(
        self,
        graph: Any,
        inputs: Mapping[str, np.ndarray],
        *,
        settings: TimingSettings | None = None,
    ) -> tuple[dict[str, np.ndarray], TimingResult]:
        """Run a ``GraphSpec`` as it is (any graph, e.g. a whole model's) on this backend's
        device and return its outputs and timing (measured when ``settings`` is given, else
        run once)."""
        req = RunRequest(
            op="run",
            backend="webnn",
            graph=graph.to_json(),
            device_type=self.device_type,
            mode="measure" if settings else "once",
            timing=(settings or TimingSettings.quick()).as_dict(),
        )
        reply, out, rt = self._request(req, graph.encode_inputs(inputs), graph.kernel)
        return graph.decode_outputs(out), self._timing(reply, rt)

    @property
    def op_support_limits(self) -> dict[str, Any]:
        """``MLContext.opSupportLimits()`` of this backend's device type."""
        limits: dict[str, Any] = (
            self._info.get("webnn", {})
            .get("devices", {})
            .get(self.device_type, {})
            .get("opSupportLimits", {})
        )
        return limits

    def device_info(self) -> dict[str, Any]:
        return {
            "name": f"WebNN {self.device_type} in {self.browser_spec.label} {self.session.version}",
            **self._base_device(),
            "webnn_device_type": self.device_type,
            "adapter": _adapter_summary(self._info),
        }

    def _graph(self, spec: KernelSpec, params: Mapping[str, Any], dtype: str) -> Any:
        from ._webnn_graphs import build_graph, limits_reason

        g = build_graph(spec, params, dtype)
        reason = limits_reason(g, self.op_support_limits)
        if reason:
            raise UnsupportedKernelError(
                f"webnn ({self.device_type}) cannot run {spec.name} ({dtype}): {reason}."
            )
        return g

    def supports(self, spec: KernelSpec, params: Mapping[str, Any], dtype: str) -> str | None:
        try:
            self._graph(spec, params, dtype)
        except UnsupportedKernelError as exc:
            return str(exc)
        return None

    def _go(
        self,
        spec: KernelSpec,
        params: Mapping[str, Any],
        dtype: str,
        inputs: Mapping[str, np.ndarray],
        mode: Mode,
        settings: TimingSettings | None,
    ) -> Sent:
        g = self._graph(spec, params, dtype)
        req = RunRequest(
            op="run",
            backend="webnn",
            graph=g.to_json(),
            device_type=self.device_type,
            mode=mode,
            timing=(settings or TimingSettings.quick()).as_dict(),
        )
        reply, out, rt = self._request(req, g.encode_inputs(inputs), spec.name)
        return g.decode_outputs(out), reply, rt
