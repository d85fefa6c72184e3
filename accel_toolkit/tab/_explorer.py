"""``Explorer``: pick a kernel and backends, run them in the tab, watch a chart and a table fill.

The explorer is three widgets stacked: the :class:`TabRunner` (the tab's adapter), the panel
(``widgets/explorer.js``: controls, hardware side by side, results table) and an output area
holding the Altair chart, redrawn as each result arrives. Run from the panel's button or
from code (``await explorer.run("softmax", preset="small")``); both store every result in
DuckDB as it arrives, in a run tagged ``tag``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import anywidget
import ipywidgets
import pandas as pd
import traitlets

from .._assets import widget_path
from ..exceptions import AccelToolkitError, ConfigError
from ..store import Store, open_store
from ._requests import TAB_BACKENDS
from ._runner import TabRunner
from ._sweep import BenchHandle

__all__ = ["Explorer", "hardware_cards"]

COLUMNS = [
    "kernel",
    "params",
    "backend",
    "venue",
    "device",
    "median_s",
    "ci_low_s",
    "ci_high_s",
    "gflops",
    "status",
]


def _kernel_choices() -> dict[str, Any]:
    from ..kernels import KERNELS

    return {
        n: {"params": {p.name: p.default for p in s.params}, "presets": list(s.presets)}
        for n, s in KERNELS.items()
    }


def hardware_cards(
    tab_info: Mapping[str, Any] | None, process: Sequence[Any] | None = None
) -> list[dict[str, Any]]:
    """Cards for the hardware panel: CPU and CUDA (from :func:`accel_toolkit.doctor`), the
    tab's WebGPU adapter and its WebNN devices."""
    from ..backends import doctor

    cards = []
    for a in process if process is not None else doctor(["cpu", "cuda"]):
        dev = a.device or {}
        lines = [str(dev.get("name") or "")] if a.available else [a.reason]
        lines += [
            f"{k}: {dev[k]}"
            for k in ("cores", "blas", "compute_capability", "memory")
            if dev.get(k)
        ]
        cards.append(
            {"title": a.name.upper(), "ok": bool(a.available), "lines": [x for x in lines if x]}
        )
    info = dict(tab_info or {})
    gpu = info.get("webgpu") or {}
    if not info:
        cards.append({"title": "WebGPU (tab)", "ok": False, "lines": ["waiting for the tab…"]})
        cards.append({"title": "WebNN (tab)", "ok": False, "lines": ["waiting for the tab…"]})
        return cards
    if gpu.get("available"):
        lines = [
            " / ".join(str(gpu[k]) for k in ("vendor", "architecture", "device") if gpu.get(k))
            or "adapter",
            str(gpu.get("description") or ""),
        ]
        lines.append("fallback adapter" if gpu.get("isFallbackAdapter") else "hardware adapter")
        if "shader-f16" in (gpu.get("features") or []):
            lines.append("shader-f16")
    else:
        lines = [str(gpu.get("reason") or info.get("error") or "no WebGPU")]
    cards.append(
        {
            "title": "WebGPU (tab)",
            "ok": bool(gpu.get("available")),
            "lines": [x for x in lines if x],
        }
    )
    nn = info.get("webnn") or {}
    devs = nn.get("devices") or {}
    lines = [f"{dt}: {'yes' if d.get('available') else 'no'}" for dt, d in devs.items()] or [
        str(nn.get("reason") or "no WebNN")
    ]
    browser = info.get("browser") or {}
    if browser.get("name"):
        lines.append(f"{browser['name']} {browser.get('version', '')}")
    cards.append({"title": "WebNN (tab)", "ok": bool(nn.get("available")), "lines": lines})
    return cards


class ExplorerPanel(anywidget.AnyWidget):
    """The controls, hardware cards and results table (``widgets/explorer.js``)."""

    _esm = widget_path("explorer.js")
    kernels = traitlets.Dict().tag(sync=True)
    kernel = traitlets.Unicode("matmul").tag(sync=True)
    preset = traitlets.Unicode("tiny").tag(sync=True)
    params = traitlets.Unicode("").tag(sync=True)
    backends = traitlets.List(traitlets.Unicode()).tag(sync=True)
    backend_choices = traitlets.List(traitlets.Unicode()).tag(sync=True)
    hardware: traitlets.List[Any] = traitlets.List().tag(sync=True)
    columns = traitlets.List(traitlets.Unicode()).tag(sync=True)
    rows: traitlets.List[Any] = traitlets.List().tag(sync=True)
    status = traitlets.Unicode("").tag(sync=True)
    running = traitlets.Bool(False).tag(sync=True)


class Explorer(ipywidgets.VBox):  # type: ignore[misc]
    """Interactive sweeps in the live tab with a live chart, table and hardware panel.

    Parameters
    ----------
    runner : TabRunner, optional
        The tab runner to use (a new one by default).
    db : Store or path, optional
        Where results go (default database otherwise).
    kernel, preset, backends
        The initial choices of the panel.
    tag : str
        Tag of the runs the explorer starts.
    time_budget : float, optional
        Seconds of sampling per configuration (see :func:`accel_toolkit.bench`).
    """

    def __init__(
        self,
        runner: TabRunner | None = None,
        *,
        db: Store | str | None = None,
        kernel: str = "matmul",
        preset: str = "tiny",
        backends: Sequence[str] = TAB_BACKENDS,
        tag: str = "explorer",
        time_budget: float | None = 0.5,
        **kwargs: Any,
    ):
        self.runner = runner or TabRunner()
        self.store = open_store(db)
        self.tag = tag
        self.time_budget = time_budget
        self.panel = ExplorerPanel(
            kernels=_kernel_choices(),
            kernel=kernel,
            preset=preset,
            backends=list(backends),
            backend_choices=list(TAB_BACKENDS),
            columns=COLUMNS,
        )
        self.chart_output = ipywidgets.Output()
        super().__init__([self.runner, self.panel, self.chart_output], **kwargs)
        self._process: list[Any] | None = None
        self.handle: BenchHandle | None = None
        self.results = pd.DataFrame()
        self.panel.hardware = hardware_cards(self.runner.info, self._process_cards())
        self.runner.observe(self._on_info, names="info")
        self.panel.on_msg(self._on_panel_msg)

    def _process_cards(self) -> list[Any]:
        if self._process is None:
            from ..backends import doctor

            self._process = doctor(["cpu", "cuda"])
        return self._process

    def _on_info(self, change: Mapping[str, Any]) -> None:
        self.panel.hardware = hardware_cards(change["new"], self._process_cards())

    def _on_panel_msg(self, _w: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("kind") == "run":
            try:
                self.start()
            except AccelToolkitError as exc:
                self.panel.status = f"cannot run: {exc}"

    # -- running ------------------------------------------------------------------------
    def _pinned(self) -> dict[str, Any]:
        text = self.panel.params.strip()
        if not text:
            return {}
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f'params must be a JSON object like {{"M": 64}}: {exc}') from exc
        if not isinstance(value, dict):
            raise ConfigError('params must be a JSON object like {"M": 64}.')
        return value

    def start(
        self,
        kernel: str | None = None,
        *,
        preset: str | None = None,
        backends: Sequence[str] | None = None,
        params: Mapping[str, Any] | None = None,
        **bench_kwargs: Any,
    ) -> BenchHandle:
        """Start a sweep of the panel's (or the given) choices; returns its handle at once."""
        if kernel is not None:
            self.panel.kernel = kernel
        if preset is not None:
            self.panel.preset = preset
        if backends is not None:
            self.panel.backends = list(backends)
        if params is not None:
            self.panel.params = json.dumps(dict(params))
        if self.handle is not None and not self.handle.done():
            raise ConfigError(
                f"A sweep is already running (run {self.handle.run_id}); wait for it."
            )
        self.panel.rows = []
        self.results = pd.DataFrame()
        with self.chart_output:
            self.chart_output.clear_output()
        self.panel.running = True
        self.panel.status = (
            f"{self.panel.kernel} ({self.panel.preset}) on {', '.join(self.panel.backends)}…"
        )
        handle = self.runner.start_bench(
            self.panel.kernel,
            self.panel.backends,
            preset=self.panel.preset,
            params=self._pinned() or None,
            db=self.store,
            tag=self.tag,
            on_result=self._on_result,
            **{"time_budget": self.time_budget, **bench_kwargs},
        )
        self.handle = handle
        assert handle._task is not None
        handle._task.add_done_callback(lambda _t: self._finished(handle))
        return handle

    async def run(self, kernel: str | None = None, **kwargs: Any) -> pd.DataFrame:
        """Like :meth:`start`, awaiting the sweep; returns its rows."""
        return await self.start(kernel, **kwargs)

    def _on_result(self, _row: dict[str, Any]) -> None:
        assert self.handle is not None
        self.results = self.store.results(run_ids=[self.handle.run_id])
        self.panel.rows = table_rows(self.results)
        self.panel.status = (
            f"run {self.handle.run_id}: {len(self.results)} of {len(self.handle.planned)} stored"
        )
        self.redraw()

    def _finished(self, handle: BenchHandle) -> None:
        self.panel.running = False
        err = handle.error
        self.panel.status = f"run {handle.run_id}: {handle.status}, {len(handle.rows)} stored" + (
            f" — {type(err).__name__}: {err}" if err is not None else ""
        )

    def chart(self) -> Any:
        """The Altair chart of the current results (``accel_toolkit.charts.latency``)."""
        from .. import charts

        return charts.latency(self.results)

    def redraw(self) -> None:
        """Redraw the chart from :attr:`results` (as SVG: it needs no vega in the page)."""
        with self.chart_output:
            self.chart_output.clear_output(wait=True)
            try:
                chart = self.chart()
            except ConfigError as exc:
                print(f"(chart: {exc})")
                return
            from IPython.display import SVG, display

            try:
                import vl_convert

                display(SVG(vl_convert.vegalite_to_svg(chart.to_json())))
            except ImportError:
                display(chart)


def table_rows(df: pd.DataFrame) -> list[dict[str, Any]]:
    """The explorer table's rows (JSON-ready) from rows of the ``results`` view."""
    if df.empty:
        return []
    cols = [c for c in COLUMNS if c in df.columns]
    out = df[cols].astype(object).where(pd.notna(df[cols]), None)
    rows: list[dict[str, Any]] = out.to_dict("records")
    for r in rows:
        if isinstance(r.get("params"), dict):
            r["params"] = ", ".join(f"{k}={v}" for k, v in r["params"].items())
    return rows
