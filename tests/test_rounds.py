"""Rounds as the unit: bench(rounds=K) measures every configuration K times, each round shuffled."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from interrupting import InterruptingCpu

import accel_toolkit as at
from accel_toolkit.backends._pool import BackendPool
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


def test_rounds_must_be_positive(tmp_path) -> None:
    with pytest.raises(ConfigError, match="rounds"):
        at.bench("softmax", db=tmp_path / "a.duckdb", rounds=0, progress=False)


def test_an_interrupted_run_of_rounds_resumes_with_the_rounds_it_lacks(tmp_path) -> None:
    db = tmp_path / "r.duckdb"
    sweep = {"preset": "tiny", "settings": TimingSettings.quick(), "db": db, "rounds": 3}
    n = len(at.bench("softmax,gelu", "cpu", **sweep, progress=False)) // 3  # per round
    stopped = n + 2  # all of round 0 and part of round 1
    with pytest.raises(KeyboardInterrupt):
        at.bench(
            "softmax,gelu",
            "cpu",
            **sweep,
            pool=BackendPool(instances={"cpu": InterruptingCpu(stopped)}),
            progress=False,
        )
    runs = open_store(db).runs()
    run = runs[runs["status"] == "interrupted"]["run_id"].iloc[0]
    assert len(open_store(db).results(run_ids=[run])) == stopped
    df = at.bench("softmax,gelu", "cpu", **sweep, resume=run, progress=False)
    assert len(df) == 3 * n and (df["status"] == "ok").all()
    # each configuration once in each round: the resume measured only what was missing
    assert df.groupby(["config_key", "round"]).size().eq(1).all()
    assert sorted(df["round"].unique()) == [0, 1, 2] and (df["rounds"] == 3).all()
    assert open_store(db).runs().set_index("run_id").loc[run, "status"] == "complete"


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


def _store_row(run: str, key: str, params: dict, m: float, r: int, **more) -> dict:
    """A row for ``Store.add_result``: an ok cpu matmul, round ``r`` of configuration ``key``,
    median ``m``."""
    return {
        "run_id": run,
        "kernel": "matmul",
        "params": params,
        "config_key": key,
        "dtype": "float32",
        "backend": "cpu",
        "venue": "process",
        "status": "ok",
        "median_s": m,
        "extra": {"round": r},
        **more,
    }


def _rounds_of(db, medians: dict[str, list[float]]) -> pd.DataFrame:
    """One run whose configuration ``key`` measured these medians, one per round."""
    st = open_store(db)
    run = st.start_run(tag="spread")
    for key, ms in medians.items():
        for r, m in enumerate(ms):
            st.add_result(_store_row(run, key, {"key": key}, m, r), [m] * 3)
    st.finish_run(run)
    return st.results().set_index("config_key").groupby(level=0).first()


def test_the_round_spread_follows_the_typical_round_not_one_burst(tmp_path) -> None:
    df = _rounds_of(
        tmp_path / "s.duckdb",
        {
            "burst": [1.00, 1.01, 0.99, 1.00, 1.50],  # four rounds agree, one ran in a burst
            "noisy": [0.80, 1.00, 1.20, 0.90, 1.10],  # every round lands somewhere else
        },
    )
    # 1.4826 x MAD / median: one round's standard deviation, robustly
    assert df.loc["burst", "round_spread"] == pytest.approx(0.014826, rel=1e-3)
    assert df.loc["noisy", "round_spread"] == pytest.approx(0.14826, rel=1e-3)
    assert (df["rounds"] == 5).all()


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
            row = _store_row(
                run,
                f"k{i}",
                {"M": i},
                m,
                r,
                ci_low_s=m * 0.99,
                ci_high_s=m * 1.01,
                min_s=m * 0.98,
                flops=1.0,
                bytes=1.0,
                **({"env_id": "m1"} if commit else {}),
            )
            st.add_result(row, [m * 0.99, m, m * 1.01] * 4)
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


def test_blocks_of_whole_runs_do_not_quote_the_history_of_single_rounds(tmp_path) -> None:
    from accel_toolkit.analysis._rounds import compare_rounds, rounds_markdown

    db = tmp_path / "c.duckdb"
    for i, tag in enumerate(("base", "cand", "base", "cand")):
        _stored(db, tag, 3, seed=30 + i, commit="a" * 40)
    by_round = rounds_markdown(compare_rounds(db, baseline="base", candidate="cand"))
    assert "Noise learned from history" in by_round
    for unit in ("run", "pair"):
        md = rounds_markdown(compare_rounds(db, baseline="base", candidate="cand", unit=unit))
        assert "Noise learned from history" not in md and "rounds per side" not in md
        assert "these blocks are whole runs" in md


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


def _row(tag: str, run: int, r: int, i: int, t: pd.Timestamp, m: float) -> dict:
    """One ``ok`` result row: round ``r`` of run ``run`` of ``tag``, configuration ``k{i}``
    (a matmul of M=i on cpu), measured ``m`` seconds (median and min) at ``t``."""
    return {
        "tag": tag,
        "run_id": f"{tag}-{run}",
        "round": r,
        "created_at": t,
        "status": "ok",
        "kernel": "matmul",
        "params": {"M": i},
        "dtype": "float32",
        "config_key": f"k{i}",
        "backend": "cpu",
        "venue": "process",
        "device": "cpu0",
        "median_s": m,
        "min_s": m,
    }


def _runs_with_bursts(
    tag: str, runs: int, passes: int, *, seed: int, slow: dict[int, float] | None = None
) -> pd.DataFrame:
    """Result rows of ``runs`` processes of ``passes`` rounds each, as a shared machine gives
    them: every process has its own speed, and in each process one pass of every
    configuration is caught by a burst of contention (1.2-1.8x slower)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    rows = []
    t = pd.Timestamp("2026-01-01") + pd.Timedelta(hours=seed)
    for run in range(runs):
        speed = float(np.exp(rng.normal(0, 0.1)))
        burst = {i: int(rng.integers(passes)) for i in range(6)}
        for r in range(passes):
            for i in range(6):
                m = 1e-4 * (i + 1) * speed * float(np.exp(rng.normal(0, 0.01)))
                m *= (slow or {}).get(i, 1.0) * (rng.uniform(1.2, 1.8) if burst[i] == r else 1.0)
                t += pd.Timedelta(milliseconds=10)
                rows.append(_row(tag, run, r, i, t, m))
    return pd.DataFrame(rows)


def test_a_run_is_one_block_whose_figure_is_the_median_of_its_rounds() -> None:
    from accel_toolkit.analysis._rounds import round_rows

    res = pd.concat([_runs_with_bursts("a", 3, 5, seed=1), _runs_with_bursts("b", 3, 5, seed=2)])
    rows = round_rows(res, by="tag", baseline="a", candidate="b", unit="run")
    assert len(rows) == 2 * 3 * 6 and sorted(rows["block"].unique()) == [0, 1, 2]
    want = res.groupby(["tag", "run_id", "config_key"])["median_s"].median()
    for side, tag in (("baseline", "a"), ("candidate", "b")):
        got = rows[rows["side"] == side]
        for block, run in enumerate(sorted(res.loc[res["tag"] == tag, "run_id"].unique())):
            g = got[got["block"] == block].set_index("config_key")["median_s"]
            assert np.allclose(g.sort_index(), want[tag][run].sort_index())
    with pytest.raises(ConfigError, match="unit"):
        round_rows(res, by="tag", baseline="a", candidate="b", unit="pass")


def test_the_median_of_a_runs_passes_outvotes_bursts_that_hide_a_slowdown() -> None:
    from accel_toolkit.analysis._rounds import compare_rounds

    res = pd.concat(
        [
            _runs_with_bursts("a", 8, 5, seed=3),
            _runs_with_bursts("b", 8, 5, seed=4, slow={2: 1.1}),
        ]
    )
    kw = dict(results=res, baseline="a", candidate="b", alpha=0.01, suite_gates=True)
    per_run = compare_rounds(**kw, unit="run").table.set_index("config")
    per_round = compare_rounds(**kw, unit="round").table.set_index("config")
    slowed = "matmul(M=2) float32 on cpu/process"
    assert list(per_run.index[per_run["verdict"] == "slower"]) == [slowed]
    assert per_round.loc[slowed, "verdict"] != "slower"  # 40 noisy rounds miss it
    assert (per_run["spread"] < per_round["spread"].reindex(per_run.index)).all()


def _pairs_taking_turns(
    runs: int, passes: int, *, seed: int, slow: dict[int, float] | None = None
) -> pd.DataFrame:
    """Result rows of ``runs`` blocks of two processes (tags ``a``, ``b``) taking turns, as
    ``ab`` measures them: a configuration's pass on one side, then at once on the other, so
    both members of a pair meet the same state of the machine (a factor drawn anew for every
    pair, log-normal with sd 0.25); a quarter of the members also meet a burst of their own
    (1.2-1.8x), and each has 1% noise."""
    import numpy as np

    rng = np.random.default_rng(seed)
    rows = []
    t = pd.Timestamp("2026-01-01")
    for run in range(runs):
        for r in range(passes):
            for i in rng.permutation(6):
                state = float(np.exp(rng.normal(0, 0.25)))
                for tag in ("a", "b") if (run + r + i) % 2 == 0 else ("b", "a"):
                    m = 1e-4 * (i + 1) * state * float(np.exp(rng.normal(0, 0.01)))
                    m *= rng.uniform(1.1, 1.4) if rng.random() < 0.1 else 1.0
                    m *= (slow or {}).get(int(i), 1.0) if tag == "b" else 1.0
                    t += pd.Timedelta(milliseconds=10)
                    rows.append(_row(tag, run, r, int(i), t, m))
    return pd.DataFrame(rows)


def test_a_pair_block_is_the_median_of_its_passes_paired_ratios() -> None:
    from accel_toolkit.analysis._rounds import round_rows

    res = _pairs_taking_turns(3, 3, seed=5)
    rows = round_rows(res, by="tag", baseline="a", candidate="b", unit="pair")
    assert len(rows) == 2 * 3 * 6 and sorted(rows["block"].unique()) == [0, 1, 2]
    wide = res.pivot_table(
        index=["run_id", "round", "config_key"], columns="tag", values="median_s"
    )
    for block in range(3):
        got = rows[rows["block"] == block].pivot(
            index="config_key", columns="side", values="median_s"
        )
        a = res[res["run_id"] == f"a-{block}"].groupby("config_key")["median_s"].median()
        assert np.allclose(got["baseline"], a.reindex(got.index))  # the measured median
        pairs = wide.xs(f"a-{block}", level="run_id")["a"].to_frame()
        b = res[res["run_id"] == f"b-{block}"].set_index(["round", "config_key"])["median_s"]
        d = np.log(b.reindex(pairs.index) / pairs["a"]).groupby(level="config_key").median()
        assert np.allclose(np.log(got["candidate"] / got["baseline"]), d.reindex(got.index))


def test_pairs_see_a_slowdown_that_states_hide_from_the_medians_of_passes() -> None:
    """Ten comparisons (seeds 0-9) of 10 blocks, one configuration really 10% slower: the
    paired ratios flag it in at least 8 (measured: 8) and the medians of passes, whose
    members a burst reorders, in at most 6 (measured: 4); neither flags anything else."""
    from accel_toolkit.analysis._blocks import compare_blocks
    from accel_toolkit.analysis._rounds import round_rows

    slowed = "matmul(M=2) float32 on cpu/process"
    found = {"pair": 0, "run": 0}
    spread: dict[str, list[float]] = {"pair": [], "run": []}
    for seed in range(10):
        res = _pairs_taking_turns(10, 3, seed=seed, slow={2: 1.1})
        for unit in found:
            rows = round_rows(res, by="tag", baseline="a", candidate="b", unit=unit)
            table = compare_blocks(rows, alpha=0.01, rule="estimate").table.set_index("config")
            found[unit] += table.loc[slowed, "verdict"] == "slower"
            assert not (table.drop(slowed)["verdict"] == "slower").any()
            spread[unit].append(float(table["spread"].median()))
    assert found["pair"] >= 8 and found["run"] <= 6
    assert np.median(spread["pair"]) < np.median(spread["run"]) / 2


def test_a_shuffled_grid_run_resumes_in_any_order_but_not_with_another_grid(tmp_path) -> None:
    db = tmp_path / "g.duckdb"
    grid = [{"n": 64 + 8 * i} for i in range(6)]
    sweep = {"settings": TimingSettings.quick(), "db": db, "rounds": 2, "progress": False}
    with pytest.raises(KeyboardInterrupt):
        at.bench(
            "gelu",
            "cpu",
            grid=grid,
            **sweep,
            pool=BackendPool(instances={"cpu": InterruptingCpu(3)}),
        )
    run = open_store(db).runs()["run_id"].iloc[0]
    with pytest.raises(ConfigError, match="different plan"):
        at.bench("gelu", "cpu", grid=[*grid[:5], {"n": 1000}], **sweep, resume=run)
    # the run recorded its grid in the order it drew; the same configurations resume
    df = at.bench("gelu", "cpu", grid=grid[::-1], **sweep, resume=run)
    assert len(df) == 12 and df.groupby(["config_key", "round"]).size().eq(1).all()
