"""accel-toolkit ab: two versions interleaved, both stored, clear errors, nothing half-written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from accel_toolkit._ab import PROCESS_COMMAND, ABResult, ab, git_side, wants_more_blocks
from accel_toolkit._check import check
from accel_toolkit.analysis._blocks import BlockComparison, compare_blocks
from accel_toolkit.cli import main
from accel_toolkit.exceptions import ConfigError
from accel_toolkit.store import Store

ROOT = Path(__file__).resolve().parents[1]


def _runs(db: Path) -> int:
    return 0 if not db.exists() else Store(db).count("runs")


def _two_envs(db: Path, **kw: Any) -> ABResult:
    """``ab`` of two environments that are both this interpreter: 2 blocks of softmax."""
    return ab(
        "env-a",
        "env-b",
        kernels="softmax",
        baseline_python=sys.executable,
        candidate_python=sys.executable,
        db=db,
        blocks=2,
        time_budget=0.01,
        **kw,
    )


def test_a_ref_that_does_not_exist_is_named_and_nothing_is_stored(tmp_path, capsys) -> None:
    db = tmp_path / "ab.duckdb"
    status = main(
        [
            "ab",
            "--baseline",
            "HEAD",
            "--candidate",
            "no-such-branch-xyz",
            "--kernels",
            "softmax",
            "--db",
            str(db),
            "--repo",
            str(ROOT),
        ]
    )
    err = capsys.readouterr().err
    assert status == 2
    assert "candidate 'no-such-branch-xyz' does not exist" in err
    assert _runs(db) == 0


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        env={
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@t",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t",
            "PATH": "/usr/bin:/bin:/usr/local/bin",
        },
    )


def test_a_ref_that_fails_to_import_is_named(tmp_path) -> None:
    repo = tmp_path / "repo"
    (repo / "accel_toolkit").mkdir(parents=True)
    (repo / "accel_toolkit" / "__init__.py").write_text("raise ImportError('broken on purpose')\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "broken")
    _git(repo, "tag", "v-broken")
    work = tmp_path / "trees"
    work.mkdir()
    with pytest.raises(ConfigError, match=r"baseline 'v-broken' fails to import.*broken on"):
        git_side(repo, "v-broken", work, what="baseline")


def test_a_side_that_fails_to_measure_leaves_the_store_untouched(tmp_path) -> None:
    # an interpreter that imports the toolkit but whose `bench` dies
    fake = tmp_path / "python"
    fake.write_text(
        f'#!/bin/sh\nif [ "$1" = "-m" ]; then echo \'boom: disk on fire\' >&2; '
        f'exit 3; fi\nexec {sys.executable} "$@"\n'
    )
    fake.chmod(0o755)
    db = tmp_path / "ab.duckdb"
    Store(db)
    with pytest.raises(ConfigError, match="candidate 'broken-env'.*disk on fire"):
        ab(
            "here",
            "broken-env",
            kernels="softmax",
            baseline_python=sys.executable,
            candidate_python=str(fake),
            db=db,
            blocks=2,
            time_budget=0.01,
        )
    assert _runs(db) == 0


def test_a_version_without_the_turn_taking_worker_is_named_with_the_way_out(tmp_path) -> None:
    old = tmp_path / "old" / "accel_toolkit"
    old.mkdir(parents=True)
    (old / "__init__.py").write_text("")
    (old / "cli.py").write_text("")
    python = tmp_path / "python-old"
    python.write_text(f'#!/bin/sh\nexport PYTHONPATH={old.parent}\nexec {sys.executable} "$@"\n')
    python.chmod(0o755)
    db = tmp_path / "ab.duckdb"
    with pytest.raises(ConfigError, match="candidate 'old-env'.*predates taking turns.*process"):
        ab(
            "here",
            "old-env",
            kernels="softmax",
            baseline_python=sys.executable,
            candidate_python=str(python),
            db=db,
            blocks=2,
            time_budget=0.01,
        )
    assert _runs(db) == 0


def test_two_environments_are_interleaved_and_stored_with_their_tags(tmp_path) -> None:
    db = tmp_path / "ab.duckdb"
    res = _two_envs(db, sequential="off", passes=3, tag_prefix="t")
    assert res.tags == {"baseline": "t:baseline:env-a", "candidate": "t:candidate:env-b"}
    st = Store(db)
    runs = st.runs().sort_values("created_at")
    # A B | B A
    assert list(runs["tag"]) == [
        res.tags[k] for k in ("baseline", "candidate", "candidate", "baseline")
    ]
    # each process made three shuffled passes; a block is a process, not a pass
    passes = st.query("SELECT run_id, count(DISTINCT round) AS n FROM results GROUP BY run_id")
    assert list(passes["n"]) == [3] * 4
    assert res.blocks == 2 and set(res.comparison.table["n_blocks"]) == {2}
    assert res.comparison.suite.gates
    assert "Measured taking turns configuration by configuration" in res.markdown
    assert "block(s) of one run per side, compared by the median of its rounds' paired" in (
        res.markdown
    )
    assert res.comparison.settings["unit"] == "pair"
    # `check` on the stored tags sees that the runs took turns and gives ab's verdicts
    again = check(db, baseline=res.tags["baseline"], candidate=res.tags["candidate"], alpha=0.01)
    assert again.blocks is not None and again.blocks.settings["unit"] == "pair"
    assert again.blocks.suite.gates and again.status == res.status
    cols = ["config", "verdict", "ratio"]
    pd.testing.assert_frame_equal(again.comparison[cols], res.comparison.table[cols])
    # both sides ran with one BLAS thread (the default), and the rows' environment says so
    prints = st.query(
        "SELECT DISTINCT e.fingerprint FROM results r JOIN environments e USING (env_id)"
    )["fingerprint"]
    threads = [json.loads(f)["threads"] for f in prints]
    assert threads and all(t.get("OPENBLAS_NUM_THREADS") == "1" for t in threads), threads


def test_threads_zero_keeps_the_environment_and_negative_is_refused(tmp_path) -> None:
    from accel_toolkit._ab import thread_env

    with pytest.raises(ConfigError, match="passes must be a positive integer"):
        ab("a", "b", kernels="softmax", db=tmp_path / "x.duckdb", passes=0)

    assert thread_env(0) == {} and thread_env(None) == {}
    assert thread_env(2)["OPENBLAS_NUM_THREADS"] == "2" and thread_env(2)["OMP_NUM_THREADS"] == "2"
    with pytest.raises(ConfigError, match="threads must be >= 0"):
        ab("a", "b", kernels="softmax", db=tmp_path / "x.duckdb", threads=-1)
    assert not (tmp_path / "x.duckdb").exists() or Store(tmp_path / "x.duckdb").count() == 0


def test_one_process_after_the_other_compares_the_medians_of_passes(tmp_path) -> None:
    res = _two_envs(tmp_path / "ab.duckdb", sequential="off", passes=2, interleave="process")
    # pairs of passes seconds apart share no state: each block is the ratio of the medians
    assert res.comparison.settings["unit"] == "run" and res.interleave == "process"
    assert "one process after the other" in res.markdown
    assert "block(s) of one run per side, each the median of its rounds" in res.markdown
    # `check` on the stored tags sees how they were measured and gives ab's verdicts
    again = check(
        tmp_path / "ab.duckdb",
        baseline=res.tags["baseline"],
        candidate=res.tags["candidate"],
        alpha=0.01,
    )
    assert again.blocks is not None and again.blocks.settings["unit"] == "run"
    assert again.blocks.suite.gates and again.status == res.status
    cols = ["config", "verdict", "ratio"]
    pd.testing.assert_frame_equal(again.comparison[cols], res.comparison.table[cols])
    # the runs keep the bench command line they ran, after the mark
    commands = Store(tmp_path / "ab.duckdb").runs()["command"]
    assert all(c.startswith(PROCESS_COMMAND + ": accel-toolkit bench ") for c in commands)


def _compared(n_blocks: int, noise: float, slow: dict[str, float], seed: int) -> BlockComparison:
    """``ab``'s comparison of synthetic blocks: 12 configurations, a machine shift per block
    and side shared by all of them, ``noise`` per round, ``slow`` the candidate's factors."""
    rng = np.random.default_rng(seed)
    rows = []
    for b in range(n_blocks):
        for side in ("baseline", "candidate"):
            shift = rng.normal(0, 0.2)
            for j in range(12):
                f = slow.get(f"cfg{j}", 1.0) if side == "candidate" else 1.0
                value = 1e-3 * (j + 1) * np.exp(shift + rng.normal(0, noise)) * f
                rows.append({"block": b, "side": side, "config": f"cfg{j}", "median_s": value})
    return compare_blocks(pd.DataFrame(rows), threshold=0.05, alpha=0.01, rule="strict")


def test_sequential_adds_blocks_only_while_a_configuration_leans_slower() -> None:
    # 9% slower at 3% noise: the estimate is above 5%, 10 blocks cannot prove it is
    leaning = _compared(10, 0.03, {"cfg3": 1.09}, seed=1)
    t = leaning.table.set_index("config")
    assert t.loc["cfg3", "ratio"] > 1.05 and t.loc["cfg3", "verdict"] == "ambiguous"
    assert wants_more_blocks(leaning, "leaning", 0.05)
    assert wants_more_blocks(leaning, "ambiguous", 0.05)
    assert not wants_more_blocks(leaning, "off", 0.05)
    # identical code, 3 blocks: some intervals are too wide to say, nothing leans slower
    few = _compared(3, 0.01, {}, seed=2)
    assert (few.table["verdict"] == "ambiguous").any() and few.table["ratio"].max() < 1.05
    assert wants_more_blocks(few, "ambiguous", 0.05)
    assert not wants_more_blocks(few, "leaning", 0.05)
    # once the slowdown is proven, nothing leans: the gate stops and fails
    proven = _compared(30, 0.01, {"cfg3": 1.10}, seed=3)
    assert proven.status == 1 and not wants_more_blocks(proven, "leaning", 0.05)


def test_sequential_adds_blocks_up_to_the_cap(tmp_path) -> None:
    with pytest.raises(ConfigError, match="sequential must be one of"):
        ab("a", "b", kernels="softmax", db=tmp_path / "x.duckdb", sequential="yes")
    # two blocks leave every configuration ambiguous: "ambiguous" measures up to the cap
    res = _two_envs(tmp_path / "ab.duckdb", max_blocks=4, sequential="ambiguous", passes=1)
    assert res.blocks == 4 and set(res.comparison.table["n_blocks"]) == {4}
    assert Store(tmp_path / "ab.duckdb").count("runs") == 8
