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
    df = at.bench(
        "softmax,matmul",
        "cpu",
        preset="tiny",
        settings=TimingSettings.quick(),
        db=db,
        rounds=3,
        progress=False,
        shuffle=7,
    )
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
    df = at.bench(
        "softmax",
        "cpu",
        preset="tiny",
        settings=TimingSettings.quick(),
        db=tmp_path / "s.duckdb",
        progress=False,
    )
    assert (df["round"] == 0).all() and (df["rounds"] == 1).all()
    assert df["round_spread"].isna().all()


def _stored(
    db,
    tag: str,
    rounds: int,
    *,
    machine: float = 1.0,
    slow: dict[int, float] | None = None,
    seed: int = 0,
    n_configs: int = 8,
    commit: str | None = None,
) -> None:
    """A run of ``rounds`` rounds written straight to the store: each round's medians share
    a random machine speed (and ``machine`` for the whole run); ``slow`` slows configs."""
    import numpy as np

    rng = np.random.default_rng(seed)
    st = open_store(db)
    run = st.start_run(tag=tag, git_commit=commit, env_id="m1" if commit else None)
    for r in range(rounds):
        speed = machine * float(np.exp(rng.normal(0, 0.15)))
        for i in range(n_configs):
            m = 1e-4 * (i + 1) * speed * float(np.exp(rng.normal(0, 0.01)))
            m *= (slow or {}).get(i, 1.0)
            st.add_result(
                {
                    "run_id": run,
                    "kernel": "matmul",
                    "params": {"M": i},
                    "config_key": f"k{i}",
                    "dtype": "float32",
                    "backend": "cpu",
                    "venue": "process",
                    "status": "ok",
                    "median_s": m,
                    "ci_low_s": m * 0.99,
                    "ci_high_s": m * 1.01,
                    "min_s": m * 0.98,
                    "flops": 1.0,
                    "bytes": 1.0,
                    "extra": {"round": r},
                    **({"env_id": "m1"} if commit else {}),
                },
                [m * 0.99, m, m * 1.01] * 4,
            )
    st.finish_run(run)


def test_check_with_rounds_ignores_a_slower_machine(tmp_path) -> None:
    db = tmp_path / "c.duckdb"
    _stored(db, "base", 5, seed=1)
    _stored(db, "cand", 5, machine=1.4, seed=2)  # same code, measured on a 40% slower day
    res = at.check(db, baseline="base", candidate="cand")
    assert res.blocks is not None and res.status == 0
    assert "Suite-wide shift" in res.markdown and "not gating" in res.markdown
    assert res.as_dict()["statistic"] == "blocks"


def test_check_with_rounds_finds_a_real_slowdown(tmp_path) -> None:
    db = tmp_path / "c.duckdb"
    _stored(db, "base", 6, seed=3)
    _stored(db, "cand", 6, machine=1.2, slow={2: 1.3}, seed=4)
    res = at.check(db, baseline="base", candidate="cand", alpha=0.01)
    assert res.status == 1
    assert list(res.slower["config"]) == ["matmul(M=2) float32 on cpu/process"]


def test_check_says_when_the_candidate_has_fewer_rounds(tmp_path) -> None:
    db = tmp_path / "c.duckdb"
    _stored(db, "base", 5, seed=5)
    _stored(db, "cand", 3, seed=6)
    res = at.check(db, baseline="base", candidate="cand")
    assert res.blocks is not None
    assert (res.comparison["n_blocks"] == 3).all()
    assert "baseline has 5 block(s) and the candidate 3" in res.markdown


def test_check_of_single_runs_keeps_the_sample_test(tmp_path) -> None:
    db = tmp_path / "c.duckdb"
    _stored(db, "base", 1, seed=7)
    _stored(db, "cand", 1, seed=8)
    res = at.check(db, baseline="base", candidate="cand")
    assert res.blocks is None and "test" in res.comparison


def test_the_tab_refuses_rounds_it_would_not_measure(tmp_path) -> None:
    from accel_toolkit.tab import TabRunner

    with pytest.raises(ConfigError, match="one round per sweep"):
        TabRunner().start_bench("softmax", "webgpu", db=tmp_path / "t.duckdb", rounds=3)


def test_rounds_can_be_compared_on_their_fastest_sample(tmp_path) -> None:
    from accel_toolkit.analysis._rounds import compare_rounds

    db = tmp_path / "c.duckdb"
    _stored(db, "base", 6, seed=3)
    _stored(db, "cand", 6, machine=1.2, slow={2: 1.3}, seed=4)
    res = compare_rounds(db, baseline="base", candidate="cand", value="min_s", alpha=0.01)
    assert list(res.table.loc[res.table["verdict"] == "slower", "config"]) == [
        "matmul(M=2) float32 on cpu/process"
    ]
    with pytest.raises(ConfigError, match="min_s"):
        compare_rounds(db, baseline="base", candidate="cand", value="p90_s")


def test_check_reports_the_rounds_the_history_says_a_threshold_needs(tmp_path) -> None:
    from accel_toolkit.analysis._rounds import compare_rounds

    db = tmp_path / "c.duckdb"
    _stored(db, "base", 5, seed=11, commit="a" * 40)
    _stored(db, "cand", 5, seed=12, commit="a" * 40)
    # the two runs are one commit on one machine: an A/A pair the history learns noise from
    res = compare_rounds(db, baseline="base", candidate="cand")
    assert res.table["history_noise"].between(0.002, 0.05).all()
    assert (res.table["history_blocks"] >= 3).all()
    md = at.check(db, baseline="base", candidate="cand").markdown
    assert "Noise learned from history" in md and "rounds per side" in md
    # runs of unknown code teach nothing, and the report says so
    db2 = tmp_path / "d.duckdb"
    _stored(db2, "base", 5, seed=11)
    _stored(db2, "cand", 5, seed=12)
    assert (
        "rounds a threshold needs here are unknown"
        in at.check(db2, baseline="base", candidate="cand").markdown
    )


def test_the_report_table_shows_the_round_spread_beside_the_ci(tmp_path) -> None:
    from accel_toolkit.report import results_table

    df = at.bench(
        "softmax",
        "cpu",
        preset="tiny",
        settings=TimingSettings.quick(),
        db=tmp_path / "r.duckdb",
        rounds=2,
        progress=False,
    )
    table = results_table(df)
    cols = list(table.columns)
    assert cols.index("round spread") == cols.index("99% CI") + 1
    assert table["round spread"].str.endswith("over 2 rounds").all()
    one = at.bench(
        "softmax",
        "cpu",
        preset="tiny",
        settings=TimingSettings.quick(),
        db=tmp_path / "s.duckdb",
        progress=False,
    )
    assert "round spread" not in results_table(one).columns  # one round: nothing to show


def test_single_runs_of_one_commit_teach_the_check_report_the_rounds_needed(tmp_path) -> None:
    db = tmp_path / "c.duckdb"
    for i, tag in enumerate(("base", "cand", "yesterday")):
        _stored(db, tag, 1, seed=20 + i, commit="b" * 40)
    res = at.check(db, baseline="base", candidate="cand")
    assert res.blocks is None and "test" in res.comparison  # still the sample test
    assert "Noise learned from history" in res.markdown and "rounds per side" in res.markdown
    assert "rounds per side" in res.as_dict()["history"]
