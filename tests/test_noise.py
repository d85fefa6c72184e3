"""Block-to-block noise learned from stored A/A rounds (analysis._noise)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from accel_toolkit.analysis._noise import history_noise, rounds_needed


def history(
    noise: dict[str, float],
    *,
    runs: int = 3,
    rounds: int = 4,
    commits: int = 2,
    drift: float = 0.3,
    seed: int = 0,
    commit_step: float = 0.5,
    dirty: bool = False,
) -> pd.DataFrame:
    """Rows of the results view: per (commit, run, round) a shared machine speed, per config
    its own noise (standard deviation of one round's log median = noise / sqrt 2)."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(commits):
        for r in range(runs):
            for k in range(rounds):
                shift = rng.normal(0, drift)
                for j, (name, sd) in enumerate(noise.items()):
                    x = math.log(1e-4 * (j + 1)) + c * commit_step + shift
                    x += rng.normal(0, sd / math.sqrt(2))
                    rows.append(
                        {
                            "run_id": f"c{c}r{r}",
                            "round": k,
                            "config_key": name,
                            "backend": "cpu",
                            "venue": "process",
                            "device": None,
                            "git_commit": f"{c:040d}" + ("+dirty" if dirty else ""),
                            "env_id": "m1",
                            "status": "ok",
                            "median_s": math.exp(x),
                        }
                    )
    return pd.DataFrame(rows)


NOISE = {"quiet": 0.01, "mid": 0.04, "loud": 0.15, **{f"c{i}": 0.03 for i in range(8)}}


def test_noise_is_recovered_despite_machine_drift_and_code_changes() -> None:
    got = history_noise(history(NOISE, runs=4, rounds=6)).set_index("config_key")
    for name, sd in NOISE.items():
        if sd >= 0.03:  # the quiet one also carries the noise of the shared-shift estimate
            assert got.loc[name, "noise"] == pytest.approx(sd, rel=0.3), name
    assert got.loc["quiet", "noise"] < 0.02 < got.loc["mid", "noise"] < got.loc["loud", "noise"]
    assert (got["n_groups"] == 2).all() and (got["n_rounds"] == 48).all()
    assert (got["dof"] == 46).all()


def test_different_commits_are_not_pooled_as_noise() -> None:
    # a 50% step between commits is a code change, not noise: it must not inflate the figure
    got = history_noise(history({"x": 0.02, "y": 0.02, "z": 0.02}, commit_step=0.5))
    assert (got["noise"] < 0.04).all()


def test_unknown_or_dirty_code_teaches_nothing_unless_asked() -> None:
    rows = history(NOISE, dirty=True)
    assert history_noise(rows).empty
    assert len(history_noise(rows, include_dirty=True)) == len(NOISE)
    unknown = history(NOISE).assign(git_commit=None)
    assert history_noise(unknown).empty
    one_round = history(NOISE, runs=1, rounds=1)
    assert history_noise(one_round).empty


def test_failed_rows_are_ignored() -> None:
    rows = history(NOISE)
    bad = rows.sample(frac=0.2, random_state=1).index
    rows.loc[bad, "status"] = "error"
    rows.loc[bad, "median_s"] = 100.0  # would be a huge outlier if used
    assert (history_noise(rows)["noise"] < 0.3).all()


def test_rounds_needed_grows_with_noise_and_shrinks_with_the_change() -> None:
    quiet, loud = rounds_needed(0.01, 0.05), rounds_needed(0.08, 0.05)
    assert 3 <= quiet < loud
    assert rounds_needed(0.08, 0.05, change=0.3) < loud
    assert rounds_needed(0.08, 0.05, n_tests=50) > loud
    assert rounds_needed(float("nan"), 0.05) == -1
