"""The CI gate end to end on a real store: real timings of the cpu backend, one of them slowed.

``base`` and ``same`` are two runs of the same code; ``slow`` is the same kernels through a
test-only subclass of the cpu backend that sleeps 3 ms after each call (the timing is the
harness's real measurement of that slower code). Tiny kernels on this shared 2-core machine
can differ by 2x between two runs of the same code when other processes run, so the
"same code passes" checks use a 200 % threshold; the injected slowdown is ~100x.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

import accel_toolkit as at
from accel_toolkit.backends._base import Measurement
from accel_toolkit.backends._cpu import CpuBackend
from accel_toolkit.backends._pool import BackendPool
from accel_toolkit.cli import main
from accel_toolkit.harness import time_callable

KERNELS = "softmax"  # tiny preset: two configurations
SLEEP_S = 0.003


class SlowCpuBackend(CpuBackend):
    """The cpu backend with a deliberately slower kernel: each call also sleeps."""

    def measure(self, spec, params, dtype, inputs, settings):  # type: ignore[override]
        outputs = self.run(spec, params, dtype, inputs)

        def call() -> None:
            spec.impl(self._ops, inputs, params)
            time.sleep(SLEEP_S)

        return Measurement(
            outputs=outputs,
            timing=time_callable(call, settings),
            device=self.device_info(),
            venue="process",
        )


def slow_pool() -> BackendPool:
    """A pool whose ``cpu`` is :class:`SlowCpuBackend` (the pool's ``instances`` seam)."""
    return BackendPool(instances={"cpu": SlowCpuBackend()})


@pytest.fixture(scope="module")
def gate_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("gate") / "gate.duckdb"
    for tag, pool in (("base", None), ("same", None), ("slow", slow_pool())):
        df = at.bench(
            KERNELS, "cpu", db=str(db), tag=tag, time_budget=0.2, progress=False, pool=pool
        )
        assert (df["status"] == "ok").all()
    return db


def cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "accel_toolkit.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_injected_slowdown_fails_the_gate(gate_db):
    r = cli("check", "--db", str(gate_db), "--baseline", "base", "--candidate", "slow")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "configuration(s) slower by more than 5%" in r.stdout
    assert "softmax(" in r.stdout and "#### Slower" in r.stdout


def test_same_code_passes_the_gate(gate_db):
    r = cli(
        "check",
        "--db",
        str(gate_db),
        "--baseline",
        "base",
        "--candidate",
        "same",
        "--threshold",
        "200%",
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no configuration slower by more than 200%" in r.stdout


def test_slowdown_still_fails_at_the_loose_threshold(gate_db):
    # the same threshold that lets run-to-run noise pass still catches the injected slowdown
    assert (
        main(
            [
                "check",
                "--db",
                str(gate_db),
                "--baseline",
                "base",
                "--candidate",
                "slow",
                "--threshold",
                "200%",
            ]
        )
        == 1
    )


def test_unknown_tag_is_a_usage_error_listing_tags(gate_db):
    r = cli("check", "--db", str(gate_db), "--baseline", "base", "--candidate", "nope")
    assert r.returncode == 2
    assert "nope" in r.stderr and "base, same, slow" in r.stderr


def test_missing_database_is_a_usage_error(tmp_path, capsys):
    assert (
        main(
            ["check", "--db", str(tmp_path / "none.duckdb"), "--baseline", "a", "--candidate", "b"]
        )
        == 2
    )
    assert "No results database" in capsys.readouterr().err
    assert not (tmp_path / "none.duckdb").exists()


@pytest.mark.parametrize("command", ["compare", "check", "regressions"])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    assert "--db" in capsys.readouterr().out


def test_bad_threshold_is_a_usage_error(gate_db):
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "check",
                "--db",
                str(gate_db),
                "--baseline",
                "base",
                "--candidate",
                "slow",
                "--threshold",
                "lots",
            ]
        )
    assert exc.value.code == 2


def test_check_json(gate_db, capsys):
    assert (
        main(
            [
                "check",
                "--db",
                str(gate_db),
                "--baseline",
                "base",
                "--candidate",
                "slow",
                "--format",
                "json",
            ]
        )
        == 1
    )
    data = json.loads(capsys.readouterr().out)
    assert data["status"] == 1 and data["counts"]["slower"] == 2
    assert {r["test"] for r in data["rows"]} == {"mann-whitney"}
    assert all(r["ratio_ci_low"] > 10 for r in data["rows"])


def test_compare_command_prints_table(gate_db, capsys):
    assert main(["compare", "--db", str(gate_db), "--baseline", "base", "--candidate", "slow"]) == 0
    out = capsys.readouterr().out
    assert out.count("slower") == 2 and "mann-whitney" in out


def test_compare_by_run_id(gate_db, capsys):
    runs = at.Store(gate_db).runs().set_index("tag")["run_id"]
    assert (
        main(
            [
                "compare",
                "--db",
                str(gate_db),
                "--by",
                "run_id",
                "--baseline",
                runs["base"][:8],
                "--candidate",
                runs["slow"],
                "--format",
                "json",
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["counts"] == {"slower": 2}


def test_regressions_command_on_short_history(gate_db, capsys):
    # three runs are too few for a level of min_size=3 on each side: nothing to report
    assert main(["regressions", "--db", str(gate_db), "--no-save"]) == 0
    assert "No steps larger than 2%" in capsys.readouterr().out


def test_nothing_in_common_is_a_usage_error(tmp_path, capsys):
    db = tmp_path / "disjoint.duckdb"
    at.bench("softmax", "cpu", db=str(db), tag="a", time_budget=0.05, progress=False)
    at.bench("add_mul_relu", "cpu", db=str(db), tag="b", time_budget=0.05, progress=False)
    assert main(["check", "--db", str(db), "--baseline", "a", "--candidate", "b"]) == 2
    assert "Nothing to compare" in capsys.readouterr().err


# -- the threshold rule (a percent or a fraction; a bare number above 1 is refused) ------------
def test_a_bare_number_above_one_is_refused(gate_db):
    # `--threshold 5` used to mean 500%: a 5x slowdown passed the gate
    r = cli(
        "check",
        "--db",
        str(gate_db),
        "--baseline",
        "base",
        "--candidate",
        "slow",
        "--threshold",
        "5",
    )
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "ambiguous" in lines[0]
    assert "5%" in lines[0] and "0.05" in lines[0]


@pytest.mark.parametrize(
    "given, fraction",
    [("5%", 0.05), ("0.05", 0.05), (0.05, 0.05), ("12.5%", 0.125), (0, 0.0), ("1", 1.0)],
)
def test_parse_threshold(given, fraction):
    import warnings

    from accel_toolkit._check import parse_threshold

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert parse_threshold(given) == pytest.approx(fraction)


@pytest.mark.parametrize("given", [5, "5", 1.5, "-1%", "-0.1", "lots", "nan"])
def test_parse_threshold_refuses(given):
    from accel_toolkit._check import parse_threshold

    with pytest.raises(at.exceptions.ConfigError, match="threshold"):
        parse_threshold(given)


def test_a_large_fraction_warns():
    from accel_toolkit._check import parse_threshold

    with pytest.warns(UserWarning, match="read as a fraction"):
        assert parse_threshold(0.8) == 0.8


# -- at.check: the gate in Python, the same verdict as the command ------------------------------
def test_check_in_python_is_the_cli_verdict(gate_db, capsys):
    verdict = at.check(gate_db, baseline="base", candidate="slow", threshold="5%")
    assert isinstance(verdict, at.CheckResult)
    assert verdict.status == 1 and not verdict.passed and len(verdict.slower) == 2
    assert (
        main(
            [
                "check",
                "--db",
                str(gate_db),
                "--baseline",
                "base",
                "--candidate",
                "slow",
                "--format",
                "json",
            ]
        )
        == verdict.status
    )
    cli_json = json.loads(capsys.readouterr().out)
    ours = json.loads(json.dumps(verdict.as_dict(), default=str))
    assert cli_json["counts"] == ours["counts"] and cli_json["status"] == ours["status"]
    assert cli_json["threshold"] == ours["threshold"] == 0.05
    assert verdict.markdown.startswith("### :x: 2 configuration(s) slower by more than 5%")
    assert verdict._repr_markdown_() == verdict.markdown
    assert at.check(gate_db, baseline="base", candidate="same", threshold="200%").passed


def test_check_in_python_refuses_what_the_cli_refuses(gate_db, tmp_path):
    with pytest.raises(at.exceptions.ConfigError, match="ambiguous"):
        at.check(gate_db, baseline="base", candidate="slow", threshold=5)
    with pytest.raises(at.exceptions.MissingDatabaseError):
        at.check(tmp_path / "none.duckdb", baseline="base", candidate="slow")
    assert not (tmp_path / "none.duckdb").exists()
