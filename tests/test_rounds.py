"""Rounds as the unit: bench(rounds=K) measures every configuration K times, each round shuffled."""

from __future__ import annotations

import json

import pytest

import accel_toolkit as at
from accel_toolkit.exceptions import ConfigError
from accel_toolkit.harness import TimingSettings
from accel_toolkit.store import open_store


def test_every_configuration_is_measured_once_per_round(tmp_path) -> None:
    db = tmp_path / "r.duckdb"
    df = at.bench("softmax,matmul", "cpu", preset="tiny", settings=TimingSettings.quick(),
                  db=db, rounds=3, progress=False, shuffle=7)
    per = df.groupby("config_key")["round"].apply(sorted)
    assert len(per) >= 4 and all(r == [0, 1, 2] for r in per)
    assert (df["rounds"] == 3).all()
    assert (df["round_spread"] >= 0).all()
    # the stored CI of one round and the spread across rounds sit side by side
    assert {"ci_low_s", "ci_high_s", "round_spread", "steal_fraction"} <= set(df.columns)
    st = open_store(db)
    run = st.runs().iloc[0]
    settings = json.loads(run["settings"])
    assert settings["rounds"] == 3 and settings["order_seed"] == 7
    assert int(run["planned"]) == len(df)
    # rounds are measured in different orders, each a fresh calibration
    order = df.sort_values("created_at")
    firsts = [list(g["config_key"]) for _, g in order.groupby("round", sort=True)]
    assert len({tuple(f) for f in firsts}) > 1


def test_rounds_must_be_positive_and_not_resumed(tmp_path) -> None:
    with pytest.raises(ConfigError, match="rounds"):
        at.bench("softmax", db=tmp_path / "a.duckdb", rounds=0, progress=False)
    with pytest.raises(ConfigError, match="cannot be resumed"):
        at.bench("softmax", db=tmp_path / "a.duckdb", rounds=2, resume="abc", progress=False)


def test_a_single_round_run_records_round_zero(tmp_path) -> None:
    df = at.bench("softmax", "cpu", preset="tiny", settings=TimingSettings.quick(),
                  db=tmp_path / "s.duckdb", progress=False)
    assert (df["round"] == 0).all() and (df["rounds"] == 1).all()
    assert df["round_spread"].isna().all()
