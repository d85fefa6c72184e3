"""``TabRunner``: run kernels in the JupyterLab tab that shows the notebook (venue ``tab``).

Display the widget; its front end (``widgets/runner.js``) opens the tab's WebGPU adapter and
WebNN contexts with the shared runtime and answers kernel requests sent from Python. Calls
that talk to the tab are coroutines: **await** them (top-level ``await`` in a cell), because a
cell that blocks keeps the kernel from receiving the tab's replies::

    runner = TabRunner()
    runner                                   # shows the tab's adapter and WebNN devices
    r = await runner.run("matmul", backend="webgpu", M=64, N=64, K=64)
    df = await runner.bench(["matmul", "softmax"], backends=["webgpu", "webnn"], tag="tab")
    h = runner.start_bench("matmul")        # returns at once; results stored as they arrive
    await h                                  # or h.done(), h.rows, h.missing(), h.result()
    e = await runner.embed(["a sentence"])   # MiniLM on the tab's WebGPU; weights sent once
    m = await runner.measure_model("minilm-l6", batch=1, seq=32)   # output, timing, device
    df = await runner.bench_model("minilm-l6", seq=[32, 128])     # stored rows, venue 'tab'

Without a front end (papermill, a plain kernel, a closed tab) the calls raise
:class:`~accel_toolkit.exceptions.NoFrontendError` within ``frontend_timeout`` seconds, or, with
``venue="auto"``, run in the headless browser instead (rows say ``venue='headless'``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any

import anywidget
import numpy as np
import pandas as pd
import traitlets

from .._api import RunResult, SweepOptions
from .._api import bench as blocking_bench
from .._assets import widget_path
from ..exceptions import (
    BackendUnavailableError,
    BrowserCrashedError,
    ConfigError,
    NoFrontendError,
    UnsupportedKernelError,
)
from ..harness import TimingSettings
from ..kernels import get_kernel
from ..models._inputs import ModelInputs
from ..store import Store, open_store
from ._bundle import runtime_modules
from ._channel import HEADLESS_HINT, Channel, Reply, raise_for_reply
from ._models import (
    ModelRun,
    bench_in_tab,
    length_groups,
    model_output,
    model_request,
    model_timing,
)
from ._protocols import PingRequest, RuntimeRequest
from ._requests import TAB_BACKENDS, build_request, device_of, supports
from ._sweep import BenchHandle, OnResult, Planned, sweep

__all__ = ["TabRunner"]

VENUES = ("tab", "auto", "headless")


def _modules_or_empty() -> list[dict[str, Any]]:
    try:
        return runtime_modules()
    except (FileNotFoundError, ValueError):
        return []  # the front end reports "runtime unavailable" in its ready message


class TabRunner(anywidget.AnyWidget):
    """Runs kernel requests in the live notebook tab (see the module docstring).

    Parameters
    ----------
    frontend_timeout : float
        Seconds to wait for the tab to load the widget before deciding there is no front end.
    ready_timeout : float
        Seconds the tab may take to open WebGPU and WebNN once it loaded the widget.
    webnn_device_types : sequence of str
        WebNN device types to open (``cpu``, ``gpu``, ``npu``).
    reply_grace_s : float
        Seconds a reply may arrive after a request's time limit before the tab counts as gone.
    """

    _esm = widget_path("runner.js")
    _runtime_modules: traitlets.List[Any] = traitlets.List().tag(sync=True)
    runtime_options = traitlets.Dict().tag(sync=True)
    #: what the tab reported: browser, webgpu (adapter, features, limits), webnn (devices), page
    info = traitlets.Dict().tag(sync=True)
    #: one line about the sweep in progress, shown by the widget
    status = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        *,
        frontend_timeout: float = 5.0,
        ready_timeout: float = 60.0,
        webnn_device_types: Sequence[str] = ("cpu", "gpu", "npu"),
        reply_grace_s: float = 10.0,
        **kwargs: Any,
    ):
        super().__init__(
            _runtime_modules=_modules_or_empty(),
            runtime_options={"webnnDeviceTypes": list(webnn_device_types)},
            **kwargs,
        )
        self.frontend_timeout = float(frontend_timeout)
        self.ready_timeout = float(ready_timeout)
        self._channel = Channel(
            lambda content, buffers: self.send(content, buffers),
            grace_s=reply_grace_s,
            on_ready=self._on_ready,
        )
        self.on_msg(lambda _w, content, buffers: self._channel.receive(content, buffers))
        self._handles: list[BenchHandle] = []

    # -- the front end ------------------------------------------------------------------
    def _on_ready(self, info: dict[str, Any]) -> None:
        if info != self.info:
            self.info = dict(info)

    @property
    def tab_info(self) -> dict[str, Any]:
        """What the answering tab reported when it opened the runtime (empty before)."""
        return dict(self._channel.info or {})

    @property
    def session(self) -> str | None:
        """The id of the page that answers (changes when the tab is reloaded)."""
        return self._channel.session

    @property
    def ready(self) -> bool:
        return self._channel.ready

    async def wait_ready(self, timeout: float | None = None) -> dict[str, Any]:
        """Wait for the tab's runtime and return its info.

        Raises
        ------
        NoFrontendError
            No tab loaded the widget within ``frontend_timeout`` (papermill, plain kernel,
            closed tab), or it never finished opening the runtime.
        BackendUnavailableError
            The tab loaded the widget but could not open the runtime.
        """
        ch = self._channel
        if not ch.ready:
            if not await ch.wait_for(
                "hello", self.frontend_timeout if timeout is None else timeout
            ):
                raise NoFrontendError(
                    f"No notebook front end answered the TabRunner within "
                    f"{self.frontend_timeout:g} s: the notebook runs without a live tab "
                    f"(papermill, nbconvert, a console or a closed tab), or the runner was not "
                    f"displayed and awaited. {HEADLESS_HINT}"
                )
            if not await ch.wait_for("ready", self.ready_timeout):
                raise NoFrontendError(
                    f"The tab loaded the TabRunner but did not open WebGPU/WebNN within "
                    f"{self.ready_timeout:g} s. Reload the tab, or {HEADLESS_HINT[0].lower()}"
                    f"{HEADLESS_HINT[1:]}"
                )
        if ch.error:
            raise BackendUnavailableError(
                f"The tab could not open the accel_toolkit runtime: {ch.error}. Use a browser "
                f"with WebGPU (Chrome/Edge 113+), or {HEADLESS_HINT[0].lower()}{HEADLESS_HINT[1:]}"
            )
        return dict(ch.info or {})

    async def request(
        self, request: RuntimeRequest, buffers: Sequence[Any] = (), *, time_limit_s: float = 60.0
    ) -> Reply:
        """Send one runtime request (``widgets/runtime/PROTOCOL.md``) and await its reply."""
        await self.wait_ready()
        return await self._channel.request(request, buffers, time_limit_s=time_limit_s)

    async def alive(self, timeout: float | None = None) -> bool:
        """Whether the tab still answers (a ``ping`` request within ``timeout`` seconds;
        default: the reply grace, between 1 and 5 s)."""
        if not self._channel.ready:
            return False
        if timeout is None:
            timeout = min(5.0, max(1.0, self._channel.grace_s))
        try:
            r = await self._channel.request(
                PingRequest(op="ping"), time_limit_s=timeout, grace_s=1.0
            )
            return r.ok
        except (BrowserCrashedError, NoFrontendError):
            return False

    async def ping(self, n: int = 1) -> list[float]:
        """Round-trip seconds of ``n`` empty requests (``ping``, answered by the widget
        without touching WebGPU/WebNN): the transport's own overhead."""
        await self.wait_ready()
        out = []
        for _ in range(n):
            t0 = time.perf_counter()
            await self._channel.request(PingRequest(op="ping"), time_limit_s=10.0)
            out.append(time.perf_counter() - t0)
        return out

    # -- one kernel -----------------------------------------------------------------------
    async def run(
        self,
        kernel: str,
        backend: str = "webgpu",
        *,
        dtype: str = "float32",
        seed: int = 0,
        params: Mapping[str, Any] | None = None,
        options: Mapping[str, Any] | None = None,
        time_limit_s: float = 60.0,
        **kwargs: Any,
    ) -> RunResult:
        """Run ``kernel`` once in the tab and check it against the numpy reference.

        ``backend`` is ``webgpu`` or ``webnn``; ``options`` e.g. ``{"variant": "naive"}`` or
        ``{"device_type": "gpu"}``. Returns the same :class:`~accel_toolkit.RunResult` as
        :func:`accel_toolkit.run`.
        """
        if backend not in TAB_BACKENDS:
            raise ConfigError(f"The tab runs {', '.join(TAB_BACKENDS)}, not {backend!r}.")
        spec = get_kernel(kernel)
        p = spec.resolve(params, **kwargs)
        dtype = spec.check_dtype(dtype)
        info = await self.wait_ready()
        reason = supports(backend, spec, p, dtype, info, options)
        if reason:
            raise UnsupportedKernelError(
                f"The tab cannot run {spec.name} ({dtype}) on {backend}: {reason}"
            )
        inputs = spec.make_inputs(p, dtype, seed)
        req = build_request(
            backend, spec, p, dtype, inputs, mode="once", info=info, options=options
        )
        reply = await self._channel.request(req.request, req.buffers, time_limit_s=time_limit_s)
        raise_for_reply(reply.reply, f"{spec.name} on {backend} in the tab")
        index = [o.get("index", i) for i, o in enumerate(reply.reply.get("outputs") or [])]
        outputs = req.decode([reply.buffers[i] for i in index] if index else reply.buffers)
        ref = spec.reference(inputs, p)
        return RunResult(
            spec.name,
            backend,
            p,
            dtype,
            outputs,
            ref,
            spec.check(outputs, ref, p, dtype),
            device_of(backend, info, reply.reply.get("device"), options),
        )

    # -- whole models -------------------------------------------------------------------
    async def forward(
        self, model: str, inputs: ModelInputs, *, time_limit_s: float = 600.0
    ) -> np.ndarray:
        """The output of ``model`` for a prepared batch (``ModelInputs``), run on the tab's
        WebGPU: one ComputePlan request per distinct length, as the headless ``webgpu``
        backend runs it. Weights the page has neither on the GPU nor in its IndexedDB are
        sent from this kernel over the comm, once per browser profile."""
        from ..models._spec import get_model_spec

        spec = get_model_spec(model)
        info = await self.wait_ready()
        out: np.ndarray | None = None
        for rows, sub in length_groups(spec, inputs):
            req, buffers, plan, _ = model_request(spec, sub, info, self._channel.weights)
            reply = await self._channel.request(req, buffers, time_limit_s=time_limit_s)
            raise_for_reply(reply.reply, f"{spec.name} on webgpu in the tab")
            got = model_output(plan, reply.reply, reply.buffers)
            if out is None:
                out = np.empty((inputs.batch, *got.shape[1:]), np.float32)
            out[rows] = got
        assert out is not None  # length_groups gives at least one group
        return out

    async def embed(
        self, texts: Any, *, model: str = "minilm-l6", time_limit_s: float = 600.0
    ) -> np.ndarray:
        """Sentence embeddings computed in the tab (as :func:`accel_toolkit.embed`, on the
        tab's WebGPU): ``[len(texts), hidden]``, unit rows."""
        from ..models._inputs import tokenize
        from ..models._spec import get_model_spec

        spec = get_model_spec(model)
        if spec.front != "text":
            raise ConfigError(f"embed() takes sentences, and {model!r} is not a text model.")
        return await self.forward(model, tokenize(spec, texts), time_limit_s=time_limit_s)

    async def measure_model(
        self,
        model: str = "minilm-l6",
        *,
        batch: int = 1,
        seq: int = 32,
        seed: int = 0,
        settings: TimingSettings | None = None,
        time_limit_s: float = 600.0,
    ) -> ModelRun:
        """Time one forward of ``model`` on seeded inputs (``batch`` x ``seq``) in the tab.

        ``timing.first_run_s`` holds loading and uploading weights not yet on the GPU,
        compiling and the first forward; ``timing.extra["weights"]`` says how the page got
        them (``resident``, ``cached``, ``fetched``: sent by this kernel).
        """
        from ..models._inputs import synthetic_inputs
        from ..models._spec import get_model_spec

        spec = get_model_spec(model)
        x = synthetic_inputs(spec, batch, seq, seed)
        info = await self.wait_ready()
        settings = settings or TimingSettings.quick()
        req, buffers, plan, kinds = model_request(
            spec, x, info, self._channel.weights, mode="measure", settings=settings
        )
        reply = await self._channel.request(req, buffers, time_limit_s=time_limit_s)
        raise_for_reply(reply.reply, f"{spec.name} on webgpu in the tab")
        device = device_of("webgpu", info, reply.reply.get("device"))
        return ModelRun(
            model_output(plan, reply.reply, reply.buffers),
            model_timing(reply.reply, reply.elapsed_s),
            device,
            kinds,
        )

    async def bench_model(
        self,
        model: str = "minilm-l6",
        *,
        batch: int | Sequence[int] = 1,
        seq: int | Sequence[int] = 32,
        seed: int = 0,
        time_budget: float | None = 2.0,
        settings: TimingSettings | None = None,
        db: Store | str | None = None,
        tag: str | None = None,
        breakdown: bool = True,
        venue: str = "tab",
        time_limit_s: float = 600.0,
    ) -> pd.DataFrame:
        """Benchmark a whole model on the tab's WebGPU; store a row per batch x sequence.

        The rows are :func:`accel_toolkit.bench_model`'s (``kernel = 'model:<name>'``, cosine
        to the float64 forward, ``first_run_s`` apart from the steady state) with
        ``venue='tab'`` and the tab's adapter; each is committed as it is measured. The first
        configuration also loads the weights (IndexedDB, else sent from this kernel over the
        comm) and uploads them; later ones bind them as they are on the GPU
        (``extra.weight_cache``). With ``breakdown`` the per-op rows come from the page's
        timestamp queries around every pass (``df.attrs["breakdown"]``).

        Parameters
        ----------
        venue : {"tab", "auto", "headless"}
            ``tab``: raise :class:`NoFrontendError` if no tab answers; ``auto``: fall back to
            the headless browser (:func:`accel_toolkit.bench_model` on ``webgpu``, rows say
            ``venue='headless'``); ``headless``: skip the tab.

        Raises
        ------
        NoFrontendError
            No tab (``venue="tab"``), or the tab was lost mid-run: the run is marked
            ``interrupted`` and the rows already measured stay stored.
        """
        from ..models._bench import bench_model as headless_bench_model

        if venue not in VENUES:
            raise ConfigError(f"venue must be one of {', '.join(VENUES)}, not {venue!r}.")
        args: dict[str, Any] = {
            "batch": batch,
            "seq": seq,
            "seed": seed,
            "time_budget": time_budget,
            "settings": settings,
            "db": db,
            "tag": tag,
            "breakdown": breakdown,
        }
        if venue != "headless":
            try:
                await self.wait_ready()
            except NoFrontendError:
                if venue == "tab":
                    raise
                venue = "headless"
        if venue == "headless":
            self.status = f"{model}: no live tab, measuring in the headless browser"
            return await asyncio.to_thread(
                headless_bench_model,
                model,
                "webgpu",
                command="TabRunner.bench_model",
                **args,
            )
        return await bench_in_tab(self, model, time_limit_s=time_limit_s, **args)

    # -- sweeps --------------------------------------------------------------------------
    def start_bench(
        self,
        kernels: str | Sequence[str],
        backends: str | Sequence[str] = TAB_BACKENDS,
        *,
        db: Store | str | None = None,
        venue: str = "tab",
        time_limit_s: float | None = None,
        on_result: OnResult | Sequence[OnResult] | None = None,
        **options: Any,
    ) -> BenchHandle:
        """Start a sweep in the background and return its :class:`BenchHandle` at once.

        Needs a running event loop (a notebook cell has one). Each result is committed to the
        database as it arrives; ``await handle`` gives the DataFrame. Arguments as
        :meth:`bench`.
        """
        if venue not in VENUES:
            raise ConfigError(f"venue must be one of {', '.join(VENUES)}, not {venue!r}.")
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = asyncio.get_event_loop_policy().get_event_loop()
        opts = SweepOptions.from_kwargs(
            **{"command": "TabRunner.bench", **options, "kernels": kernels, "backends": backends}
        )
        plan = opts.plan()
        if opts.rounds > 1:
            raise ConfigError(
                "The tab measures one round per sweep; for rounds=K use "
                "accel_toolkit.bench(..., rounds=K), or start K tab sweeps "
                "with the same tag."
            )
        if any(b not in TAB_BACKENDS for b in plan.backends):
            raise ConfigError(
                f"The tab runs {', '.join(TAB_BACKENDS)}; got backends={plan.backends!r}."
            )
        store = open_store(db)
        run_id, done, env_id = plan.start(store, venue=venue)
        planned = [
            Planned(spec, dict(p), dt, b) for spec, p, dt in plan.configs for b in plan.backends
        ]
        handle = BenchHandle(run_id=run_id, store=store, planned=planned, venue=venue)
        callbacks = [on_result] if callable(on_result) else list(on_result or [])
        headless = {
            **opts.as_kwargs(),
            "backends": plan.backends,
            "settings": plan.timing,
            "db": store,
            "resume": run_id,
            "shuffle": False if plan.order_seed is None else plan.order_seed,
        }

        async def main() -> pd.DataFrame:
            if venue == "headless":
                return await self._headless(handle, headless)
            try:
                await self.wait_ready()
            except NoFrontendError:
                if venue == "auto":
                    return await self._headless(handle, headless)
                store.finish_run(run_id, "interrupted")
                handle.status = "interrupted"
                raise
            return await sweep(
                self,
                handle,
                env_id=env_id,
                seed=opts.seed,
                timing=plan.timing,
                done=done,
                progress=opts.progress,
                time_limit_s=time_limit_s,
                backend_options=opts.backend_options,
                on_result=callbacks,
            )

        handle._task = loop.create_task(main())
        self._handles.append(handle)
        return handle

    async def _headless(self, handle: BenchHandle, args: dict[str, Any]) -> pd.DataFrame:
        handle.venue = "headless"
        self.status = f"run {handle.run_id}: no live tab, measuring in the headless browser"
        try:
            df = await asyncio.to_thread(blocking_bench, **args)
        except BaseException:
            handle.status = "failed"
            raise
        handle.rows = [dict(r) for r in df.to_dict("records")]
        handle.status = "complete"
        return df

    async def bench(
        self,
        kernels: str | Sequence[str],
        backends: str | Sequence[str] = TAB_BACKENDS,
        **kwargs: Any,
    ) -> pd.DataFrame:
        """Benchmark kernels x configurations x backends in the tab; store each result as it
        arrives; return the run's rows of the ``results`` view.

        Parameters
        ----------
        kernels, backends
            As :func:`accel_toolkit.bench`; backends are ``webgpu`` and/or ``webnn``.
        db, preset, grid, params, dtypes, seed, time_budget, settings, tag, resume, ...
            Every other keyword of :func:`accel_toolkit.bench` (the fields of
            :class:`~accel_toolkit._api.SweepOptions`; ``resume=run_id`` measures only what
            that run has not stored).
        venue : {"tab", "auto", "headless"}
            ``tab``: raise :class:`NoFrontendError` if no tab answers; ``auto``: fall back to
            the headless browser (rows record ``venue='headless'``); ``headless``: skip the tab.
        time_limit_s : float, optional
            Seconds one configuration may take in the tab (default from the timing budget).
        backend_options : dict, optional
            ``{"webgpu": {"variant": ...}, "webnn": {"device_type": "gpu"}}``.
        on_result : callable or list, optional
            Called with each stored row (a dict), e.g. to update a chart.
        progress : bool
            Show a progress bar.

        Raises
        ------
        NoFrontendError
            No tab (``venue="tab"``), or the tab was lost mid-sweep: the run is marked
            ``interrupted``, stored results stay, and the message says how to resume.
        """
        return await self.start_bench(kernels, backends, **kwargs)

    def close(self) -> None:
        for h in self._handles:
            if not h.done():
                h.cancel()
        super().close()
