"""The benchmark/report notebooks: parameter checks (fast) and real papermill runs (slow)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import accel_toolkit as at
from accel_toolkit.exceptions import (
    NotebookError,
    ParameterError,
    UnknownBackendError,
    UnknownKernelError,
)
from accel_toolkit.notebooks import (
    benchmark_params,
    notebook_path,
    parse_value,
    report_params,
    run_notebook,
)

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = ("benchmark", "report", "explore")


# -- fast: the notebooks as files, the parameter checks --------------------------------


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_has_one_parameters_cell_and_no_outputs(name):
    nb = nbformat.read(notebook_path(name), as_version=4)
    nbformat.validate(nb)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    # the cell right after the parameters validates them (papermill injects its cell between)
    first = nb.cells[nb.cells.index(tagged[0]) + 1]
    assert first.cell_type == "code" and "_params(" in first.source


def test_benchmark_params_normalise_and_plan_deterministically():
    a = benchmark_params(
        kernels="matmul, softmax",
        backends=["cpu"],
        preset="tiny",
        time_budget="0.25",
        seed="3",
        tag="t",
    )
    b = benchmark_params(
        kernels=["matmul", "softmax"],
        backends="cpu",
        preset="tiny",
        time_budget=0.25,
        seed=3,
        tag="t",
    )
    assert a.kernels == ["matmul", "softmax"] and a.time_budget == 0.25 and a.seed == 3
    assert a.configs == b.configs and len(a.configs) > 0
    assert a.as_dict() == b.as_dict()
    kw = a.bench_kwargs()
    assert kw["notebook"] == "notebooks/benchmark.ipynb"
    assert kw["notebook_params"]["kernels"] == ["matmul", "softmax"]
    json.dumps(kw["notebook_params"])  # recorded as JSON in the runs table


def test_benchmark_params_accept_a_grid_as_json_text():
    p = benchmark_params(kernels="matmul", grid='[{"M": 8, "N": 4, "K": 2}]')
    assert p.preset is None
    assert p.configs == [("matmul", {"M": 8, "N": 4, "K": 2}, "float32")]


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"kernels": "matmull"}, UnknownKernelError, "Did you mean 'matmul'"),
        ({"kernels": 3}, ParameterError, "kernels must be"),
        ({"kernels": "matmul", "backends": "webgpuu"}, UnknownBackendError, "webgpu"),
        ({"kernels": "matmul", "time_budget": "fast"}, ParameterError, "time_budget"),
        ({"kernels": "matmul", "time_budget": -1}, ParameterError, "> 0"),
        ({"kernels": "matmul", "seed": 1.5}, ParameterError, "seed must be an integer"),
        ({"kernels": "matmul", "preset": "huge"}, ParameterError, "preset must be one of"),
        ({"kernels": "matmul", "grid": "[{M: 8}"}, ParameterError, "grid must be"),
        ({"kernels": "matmul", "grid": [{"Q": 3}]}, ParameterError, "Q"),
        ({"kernels": "matmul", "db_path": 5}, ParameterError, "db_path"),
    ],
)
def test_benchmark_params_fail_with_the_toolkits_error(kwargs, error, match):
    with pytest.raises(error, match=match):
        benchmark_params(**kwargs)


def test_report_params():
    p = report_params(run_ids="a, b", baseline="cpu")
    assert p.run_ids == ["a", "b"]
    with pytest.raises(UnknownBackendError):
        report_params(baseline="gpu9")


@pytest.mark.parametrize(
    "text, value",
    [
        ("3", 3),
        ("0.5", 0.5),
        ("true", True),
        ("None", None),
        ("matmul,softmax", "matmul,softmax"),
        ('[{"M": 4}]', [{"M": 4}]),
    ],
)
def test_parse_value(text, value):
    assert parse_value(text) == value


def test_unknown_notebook_or_parameter_is_refused(tmp_path):
    with pytest.raises(NotebookError, match="Unknown notebook"):
        notebook_path("benchmarks")
    with pytest.raises(NotebookError, match="no parameter.*kernel_list"):
        run_notebook("benchmark", {"kernel_list": "matmul"}, tmp_path)


# -- slow: real papermill runs ---------------------------------------------------------


def _cells(path: Path) -> list:
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def _errors(path: Path) -> list:
    return [o for c in _cells(path) for o in c.get("outputs", []) if o.output_type == "error"]


@pytest.mark.slow
@pytest.mark.notebook
def test_benchmark_and_report_notebooks_run_through_papermill(tmp_path):
    db = tmp_path / "nb.duckdb"
    backends = ["cpu"] + [a.name for a in at.doctor(["webgpu"]) if a.available][:1]
    run = run_notebook(
        "benchmark",
        {
            "kernels": "matmul,softmax",
            "backends": ",".join(backends),
            "preset": "tiny",
            "time_budget": 0.1,
            "seed": 7,
            "tag": "nb-test",
        },
        tmp_path / "out",
        db=db,
    )
    assert run.output.is_file() and run.output.parent == tmp_path / "out"
    assert len(run.run_ids) == 1
    # every configuration x backend is stored, with the notebook's provenance
    store = at.Store(db)
    rows = store.results(run_ids=run.run_ids)
    planned = benchmark_params(kernels="matmul,softmax", preset="tiny").configs
    assert len(rows) == len(planned) * len(backends)
    assert set(rows["backend"]) == set(backends)
    assert (rows["status"] == "ok").all(), rows[["backend", "status", "error"]]
    assert (rows["seed"] == 7).all()
    r = store.runs().set_index("run_id").loc[run.run_ids[0]]
    assert r["notebook"] == "notebooks/benchmark.ipynb"
    assert r["notebook_output"] == str(run.output)
    assert r["status"] == "complete" and r["git_commit"]
    params = json.loads(r["notebook_params"])
    assert params["kernels"] == ["matmul", "softmax"] and params["backends"] == backends
    # the executed notebook: no error, every code cell after the parameters has output
    assert _errors(run.output) == []
    cells = _cells(run.output)
    tags = [c.metadata.get("tags", []) for c in cells]
    assert ["injected-parameters"] in tags
    work = [
        c
        for c, t in zip(cells, tags, strict=True)
        if not {"parameters", "injected-parameters"} & set(t)
    ]
    assert all(c.get("outputs") for c in work)
    mimes = {k for c in work for o in c.outputs for k in o.get("data", {})}
    assert "image/svg+xml" in mimes and "text/html" in mimes

    html = tmp_path / "report.html"
    rep = run_notebook(
        "report",
        {"run_ids": run.run_ids[0], "out_html": str(html)},
        tmp_path / "report.ipynb",
        db=db,
    )
    assert _errors(rep.output) == []
    assert html.is_file() and "Kernel: matmul" in html.read_text()
    outputs = [o for c in _cells(rep.output) for o in c.get("outputs", [])]
    svgs = [o for o in outputs if "image/svg+xml" in o.get("data", {})]
    assert len(svgs) >= 3  # latency per kernel, roofline, first run (and heatmap with 2 backends)


@pytest.mark.slow
@pytest.mark.notebook
def test_bad_parameters_fail_in_the_first_cell(tmp_path):
    db = tmp_path / "bad.duckdb"
    with pytest.raises(NotebookError, match=r"failed in cell 3 .*ParameterError: time_budget"):
        run_notebook(
            "benchmark", {"kernels": "matmul", "time_budget": "fast"}, tmp_path / "bad.ipynb", db=db
        )
    # plain papermill: the unknown kernel fails in the same cell, nothing is measured
    out = tmp_path / "plain.ipynb"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "papermill",
            str(REPO / "notebooks" / "benchmark.ipynb"),
            str(out),
            "-p",
            "kernels",
            "matmull",
            "-p",
            "db_path",
            str(db),
            "-k",
            "python3",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0
    assert "UnknownKernelError" in proc.stderr and "Did you mean 'matmul'" in proc.stderr
    errs = _errors(out)
    assert len(errs) == 1 and errs[0]["ename"] == "UnknownKernelError"
    failing = next(
        i
        for i, c in enumerate(_cells(out))
        if any(o.output_type == "error" for o in c.get("outputs", []))
    )
    assert failing == 2  # parameters, injected-parameters, then the validation cell
    assert not db.exists() or at.Store(db).count() == 0


@pytest.mark.slow
@pytest.mark.notebook
def test_notebook_run_prints_no_kernel_transport_warning(tmp_path):
    # IPKernelApp warns "running over TCP without encryption" on every papermill kernel; the
    # toolkit starts that kernel, so it keeps the warning out of the user's terminal
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "accel_toolkit.cli",
            "notebook",
            "run",
            "benchmark",
            "-p",
            "kernels",
            "gelu",
            "-p",
            "time_budget",
            "0.05",
            "--db",
            str(tmp_path / "nb.duckdb"),
            "--output",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "without encryption" not in proc.stderr, proc.stderr
    assert "executed notebook:" in proc.stdout
