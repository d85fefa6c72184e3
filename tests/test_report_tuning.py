"""The report's Tuning section: the chosen configurations and their speedup over the default,
read from a tuning table that a real (small) tune on wgpu filled; 'not tuned' without one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import accel_toolkit
from accel_toolkit.report import build_report
from accel_toolkit.report._blocks import Table, Text
from accel_toolkit.report._tuning import NOT_TUNED, chosen_configurations
from accel_toolkit.store import Store
from accel_toolkit.tuning import SPACES, knobs_key, tune, tuning_table


def _bench_cpu(db: Path) -> None:
    """A few cpu results: the report needs results to exist at all."""
    accel_toolkit.bench(
        "softmax", "cpu", grid=[{"rows": 64, "cols": 128}], db=str(db), time_budget=0.05
    )


def _section(db: Path) -> list[object]:
    rep = build_report(str(db), charts="static")
    return {sid: blocks for sid, _, blocks in rep.sections}["tuning"]


def test_an_untuned_database_says_so_in_one_line(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    _bench_cpu(db)
    blocks = _section(db)
    assert len(blocks) == 1 and isinstance(blocks[0], Text) and blocks[0].text == NOT_TUNED
    assert chosen_configurations(Store(db)).empty


@pytest.fixture(scope="module")
def tuned_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("wgpu", reason="wgpu-py is not installed: pip install accel-toolkit[wgpu]")
    from accel_toolkit.backends._wgpu import WgpuBackend

    avail = WgpuBackend.probe()
    if not avail.available:
        pytest.skip(avail.reason)
    db = tmp_path_factory.mktemp("tuned") / "t.duckdb"
    be = WgpuBackend(tuning=False)
    try:
        # softmax's 15 points, exhaustively, at the small bucket's shape; matmul's small rung
        tune(["softmax", "matmul"], [be], budget=30, db=str(db), buckets=["small"], progress=False)
    finally:
        be.close()
    _bench_cpu(db)
    return db


@pytest.mark.wgpu
def test_the_section_shows_each_chosen_point_against_the_default(tuned_db: Path) -> None:
    table = tuning_table(Store(tuned_db))
    df = chosen_configurations(Store(tuned_db))
    assert set(df["kernel"]) == {"softmax", "matmul"} and set(df["bucket"]) == {"small"}
    assert set(df["backend"]) == {"wgpu"}
    for _, row in df.iterrows():
        session = table[
            (table["kernel"] == row["kernel"]) & (table["session_id"] == row["session_id"])
        ]
        win = session[session["chosen"]]
        assert len(win) == 1 and win["knobs_key"].iloc[0] == row["knobs"]
        assert win["median_s"].iloc[0] == pytest.approx(row["tuned_s"])
        dkey = knobs_key(SPACES[row["kernel"]].default)
        base = session[
            (session["knobs_key"] == dkey)
            & (session["rung"] == win["rung"].iloc[0])
            & (session["status"] == "ok")
        ]
        assert len(base) == 1  # the search times the default point first
        assert row["default_s"] == pytest.approx(base["median_s"].iloc[0])
        assert row["speedup"] == pytest.approx(row["default_s"] / row["tuned_s"])
        assert row["speedup"] >= 1.0  # the winner is the fastest point timed, default included
        assert row["is_default"] == (row["knobs"] == dkey)
        assert row["points"] == len(session)
        shape = dict(SPACES[row["kernel"]].buckets)["small"]
        assert row["shape"] == ", ".join(f"{k}={v}" for k, v in sorted(shape.items()))
        assert row["adapter"]  # the driver and API of the fingerprint

    blocks = _section(tuned_db)
    tables = [b for b in blocks if isinstance(b, Table)]
    assert len(tables) == 1
    shown = tables[0].frame
    assert list(shown["kernel"]) == list(df["kernel"])
    for (_, r), (_, s) in zip(df.iterrows(), shown.iterrows(), strict=True):
        assert s["speedup"] == f"{r['speedup']:.2f}x"
        assert s["knobs"].startswith(r["knobs"])
        assert s["fingerprint"] == r["fingerprint"]
    page = build_report(str(tuned_db), charts="static").html
    assert 'id="tuning"' in page and "Chosen configuration per adapter and shape bucket" in page


@pytest.mark.wgpu
def test_an_invalidated_winner_is_no_longer_shown_as_chosen(tuned_db: Path, tmp_path: Path) -> None:
    import shutil

    from accel_toolkit.tuning import invalidate

    db = tmp_path / "copy.duckdb"
    shutil.copy(tuned_db, db)
    store = Store(db)
    before = chosen_configurations(store)
    soft = before[before["kernel"] == "softmax"].iloc[0]
    win = tuning_table(store, kernel="softmax")
    win = win[win["chosen"] & (win["session_id"] == soft["session_id"])]
    invalidate(store, str(win["tuning_id"].iloc[0]), "driver changed")
    after = chosen_configurations(store)
    assert list(after["kernel"]) == ["matmul"]
    assert np.isfinite(after["tuned_s"]).all()
    assert isinstance(after, pd.DataFrame)
