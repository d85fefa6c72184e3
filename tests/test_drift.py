"""The machine's drift between the rounds of a run: the shift every configuration shares."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from accel_toolkit.analysis import round_drift
from accel_toolkit.analysis._drift import drift_line
from accel_toolkit.cli import main
from accel_toolkit.store import open_store


def _rounds(shifts: list[float], configs: int = 15, seed: int = 0) -> pd.DataFrame:
    """``configs`` configurations over len(shifts) rounds of one run: each round scaled by its
    shift, 1% noise of their own, and one configuration 50% slower in the last round alone."""
    rng = np.random.default_rng(seed)
    base = np.exp(rng.uniform(np.log(1e-5), np.log(1e-2), configs))
    rows = []
    for r, s in enumerate(shifts):
        for j in range(configs):
            own = 1.5 if (j == 0 and r == len(shifts) - 1) else 1.0
            t = base[j] * (1 + s) * own * np.exp(rng.normal(0, 0.01))
            rows.append(
                {"run_id": "r1", "round": r, "status": "ok", "config_key": f"c{j}", "median_s": t}
            )
    return pd.DataFrame(rows)


def test_the_shift_of_each_round_is_recovered_and_one_changed_configuration_does_not_move_it():
    truth = [0.0, 0.10, -0.05, -0.12]
    drift = round_drift(_rounds(truth))
    assert list(drift["round"]) == [0, 1, 2, 3] and (drift["configs"] == 15).all()
    assert np.allclose(drift["shift"], truth, atol=0.015), drift
    line = drift_line(drift)
    assert line is not None
    moved = float(re.search(r"moved by ([\d.]+)%", line).group(1))
    assert 20.5 <= moved <= 23.5, line  # 10% - (-12%) = 22%


def test_too_few_configurations_or_a_single_round_give_no_drift():
    few = round_drift(_rounds([0.0, 0.2], configs=2))
    assert few["shift"].isna().all() and drift_line(few) is None
    one = round_drift(_rounds([0.0]))
    assert one.empty and drift_line(one) is None
    failed = _rounds([0.0, 0.2]).assign(status="error")
    assert round_drift(failed).empty


def test_bench_prints_how_far_the_machine_moved_or_that_one_round_cannot_say(tmp_path, capsys):
    db = tmp_path / "d.duckdb"
    args = ["bench", "--kernels", "softmax,layernorm", "--time-budget", "0.01", "--db", str(db)]
    assert main(args) == 0  # three rounds unless told otherwise
    out = capsys.readouterr().out
    assert "the rounds ran +0.0%, " in out and "The machine's speed moved by" in out
    assert "One round:" not in out
    assert open_store(db).results()["round"].max() == 2
    assert main([*args, "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    assert "The machine's speed moved by" not in out
    # one round cannot say how well its figures reproduce, and the output says so
    assert "One round: each 99% CI says how precise this run was" in out and "--rounds 3" in out
