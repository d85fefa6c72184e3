"""accel_toolkit.report: a self-contained HTML report, escaped, that renders offline."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import accel_toolkit as at
from accel_toolkit.cli import main as cli_main
from accel_toolkit.exceptions import NotebookError
from accel_toolkit.report import ErrorBlock, Section, build_report, reproduce_command

EVIL_TAG = "<script>alert(1)</script>"
EVIL_ERROR = "bad <img src=x onerror=alert(2)> & worse"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> at.Store:
    """Real cpu runs (two, for a history) plus a backend that cannot run here (cuda)."""
    db = tmp_path_factory.mktemp("report") / "report.duckdb"
    quick = at.TimingSettings.quick()
    at.bench(
        "matmul,softmax",
        "cpu",
        preset="tiny",
        db=db,
        tag=EVIL_TAG,
        settings=quick,
        progress=False,
        notebook="notebooks/benchmark.ipynb",
        notebook_params={
            "kernels": ["matmul", "softmax"],
            "backends": ["cpu"],
            "tag": EVIL_TAG,
            "seed": 0,
        },
        notebook_output="/tmp/out/benchmark.ipynb",
    )
    at.bench(
        "matmul", "cpu,cuda", preset="tiny", db=db, tag=EVIL_TAG, settings=quick, progress=False
    )
    s = at.Store(db)
    # a failed row whose error text is hostile HTML (escaping is what is tested here)
    run = s.start_run(tag=EVIL_TAG)
    s.add_result(
        {
            "run_id": run,
            "kernel": "gelu",
            "params": {"n": 64},
            "dtype": "float32",
            "backend": "cpu",
            "venue": "process",
            "status": "error",
            "error": EVIL_ERROR,
            "config_key": "x",
        }
    )
    s.finish_run(run, "failed")
    return s


def test_missing_or_empty_database_says_what_to_run(tmp_path):
    with pytest.raises(NotebookError, match=r"No results in .*does not exist.*accel-toolkit bench"):
        build_report(tmp_path / "missing.duckdb")
    empty = at.Store(tmp_path / "empty.duckdb")
    with pytest.raises(NotebookError, match="No results in .*accel-toolkit bench"):
        build_report(empty)
    assert not (tmp_path / "report.html").exists()


def test_unknown_tag_or_run_is_an_error(store):
    with pytest.raises(NotebookError, match="tag 'nope'"):
        build_report(store, tag="nope")
    with pytest.raises(NotebookError, match="run\\(s\\) 0000"):
        build_report(store, run_ids=["0000"])


def test_report_escapes_every_user_string(store, tmp_path):
    path = build_report(store, tag=EVIL_TAG).write(tmp_path / "r.html")
    page = path.read_text()
    assert EVIL_TAG not in page
    assert "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "bad &lt;img src=x onerror=alert(2)&gt; &amp; worse" in page
    # inside the JSON chart specs the tag cannot close the <script> element either
    for spec in re.findall(r'<script type="application/json"[^>]*>(.*?)</script>', page, re.S):
        assert "<" not in spec


def test_report_sections_and_failures(store):
    report = build_report(store)
    titles = [t for _, t, _ in report.sections]
    assert titles[:4] == ["Summary", "Environment", "Kernel: matmul", "Kernel: softmax"]
    assert {"First run vs steady state", "Failures", "How to reproduce"} <= set(titles)
    assert "Kernel: gelu" in titles  # a kernel with only a failed row still gets its table
    html = report.html
    assert "unavailable" in html and "cuda" in html  # why cuda did not run
    assert "failed" in html  # the run that did not complete
    assert html.count('class="chart"') >= 4


def test_a_failing_section_shows_its_error_and_the_report_still_builds(store, tmp_path):
    def boom(ctx):
        raise RuntimeError("section exploded <b>")

    report = build_report(store, sections=[Section("boom", "Boom", boom)])
    blocks = dict((t, b) for _, t, b in report.sections)["Boom"]
    assert isinstance(blocks[0], ErrorBlock) and "section exploded" in blocks[0].error
    page = report.write(tmp_path / "boom.html").read_text()
    assert "section exploded &lt;b&gt;" in page


def test_a_predict_module_that_fails_to_import_shows_its_section_with_the_reason(
    store, monkeypatch
):
    import sys

    # None in sys.modules makes `import accel_toolkit.predict` raise ImportError, as a
    # broken import inside the package would; the report must not drop the section.
    monkeypatch.setitem(sys.modules, "accel_toolkit.predict", None)
    report = build_report(store)
    sections = {t: b for _, t, b in report.sections}
    assert "Predictions" in sections
    block = sections["Predictions"][0]
    assert isinstance(block, ErrorBlock)
    assert "ModuleNotFoundError" in block.error and "accel_toolkit.predict" in block.error


def test_report_charts_are_drawn_in_the_toolkit_theme(store):
    import json

    from accel_toolkit import charts

    page = build_report(store).html
    specs = [
        json.loads(t)
        for t in re.findall(r'<script type="application/json"[^>]*>(.*?)</script>', page, re.S)
    ]
    specs = [s for s in specs if isinstance(s, dict) and "$schema" in s]
    assert specs
    assert all(s["config"]["title"]["color"] == charts.PALETTE["ink"] for s in specs)


def test_static_report_inlines_svg_without_javascript(store, tmp_path):
    page = build_report(store, charts="static").write(tmp_path / "s.html").read_text()
    assert "<script" not in page
    assert page.count("<svg") >= 4
    assert "https://" not in page.split("<footer>")[0].replace("https://vega", "")


def test_reproduce_command_for_a_notebook_run(store):
    runs = store.runs()
    nb = runs[runs["notebook"].notna()].iloc[0].to_dict()
    cmd = reproduce_command(nb, str(store.path))
    assert cmd.startswith("accel-toolkit notebook run benchmark -p")
    assert "-p kernels matmul,softmax" in cmd
    assert "'<script>alert(1)</script>'" in cmd
    api = runs[runs["notebook"].isna() & runs["settings"].notna()].iloc[0].to_dict()
    cmd = reproduce_command(api, "/x.duckdb")
    assert "accel-toolkit bench --kernels matmul --backends cpu,cuda --preset tiny" in cmd


def test_cli_report(store, tmp_path, capsys):
    out = tmp_path / "cli.html"
    assert (
        cli_main(["report", "--db", str(store.path), "--baseline", "cpu", "--out", str(out)]) == 0
    )
    assert out.is_file() and "wrote" in capsys.readouterr().out
    assert cli_main(["report", "--db", str(tmp_path / "none.duckdb"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "No results database at" in err and "none.duckdb" in err and "--db" in err


@pytest.mark.slow
@pytest.mark.browser
def test_report_renders_offline_in_chromium(tmp_path, output_dir):
    """Every chart of a cpu + browser report draws marks, with the network blocked."""
    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.skip("no /usr/bin/chromium (apt-get install chromium)")
    db = tmp_path / "r.duckdb"
    backends = ["cpu"] + [a.name for a in at.doctor(["webgpu"]) if a.available]
    quick = at.TimingSettings.quick()
    at.bench(
        "matmul,softmax,add_mul_relu",
        backends,
        preset="tiny",
        db=db,
        settings=quick,
        progress=False,
        tag="ci",
    )
    at.bench("matmul", "cpu", preset="tiny", db=db, settings=quick, progress=False, tag="ci")
    path = build_report(db, tag="ci").write(tmp_path / "report.html")
    n_charts = path.read_text().count('class="chart"')
    url = path.resolve().as_uri()
    console, blocked = [], []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(chromium),
            args=[
                "--no-sandbox",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 1000})
            page.on("console", lambda m: console.append((m.type, m.text)))
            page.on("pageerror", lambda e: console.append(("pageerror", str(e))))

            def route(r):
                if r.request.url == url:
                    r.continue_()
                else:
                    blocked.append(r.request.url)
                    r.abort()

            page.route("**/*", route)
            page.goto(url)
            page.wait_for_selector("body[data-charts-rendered=true]", timeout=60_000)
            marks = page.eval_on_selector_all(
                "div.chart",
                "els => els.map(e => e.querySelectorAll("
                "'svg g.mark-symbol path, svg g.mark-line path, svg g.mark-rect path, "
                "svg g.mark-rule line, svg g.mark-area path, svg g.mark-text text').length)",
            )
            page.screenshot(path=str(output_dir / "report.png"))
            page.screenshot(path=str(output_dir / "report-full.png"), full_page=True)
        finally:
            browser.close()
    assert len(marks) == n_charts >= 5
    assert all(m > 0 for m in marks), marks
    assert not [c for c in console if c[0] in ("error", "pageerror")], console
    assert blocked == []  # the page asked for nothing but itself
