"""Steal-aware sampling: a fake /proc/stat at the reader seam, the real timing loop."""

from __future__ import annotations

from pathlib import Path

import pytest

from accel_toolkit.harness import (
    StealPolicy,
    TimingSettings,
    proc_stat_reader,
    read_proc_stat,
    time_batches,
)

PROC_STAT = """cpu  155358 2163 12966 27533 1137 0 258 171 10 0
cpu0 77214 1184 6438 14236 554 0 88 95 0 0
intr 1202376 0 0
ctxt 5704823
"""


def test_read_proc_stat_takes_steal_and_the_eight_column_total() -> None:
    steal, total = read_proc_stat(PROC_STAT)  # type: ignore[misc]
    assert steal == 171
    assert total == 155358 + 2163 + 12966 + 27533 + 1137 + 0 + 258 + 171  # guest excluded


@pytest.mark.parametrize("text", ["", "cpu 1 2 3 4\n", "intr 1 2\n", "cpu a b c d e f g h\n"])
def test_read_proc_stat_says_none_when_it_cannot_tell(text: str) -> None:
    assert read_proc_stat(text) is None


def test_reader_of_a_missing_file_is_unknown(tmp_path: Path) -> None:
    assert proc_stat_reader(tmp_path / "nope")() is None
    (tmp_path / "stat").write_text(PROC_STAT)
    assert proc_stat_reader(tmp_path / "stat")() == read_proc_stat(PROC_STAT)


class FakeMachine:
    """A virtual clock and /proc/stat: each batch costs 10 ms of 2 CPUs (2 jiffies); the
    batches listed in ``stolen`` have one of their two jiffies stolen and run 30% slower."""

    def __init__(self, stolen: set[int] | None = None, *, known: bool = True):
        self.now = 0.0
        self.steal = 0
        self.total = 0
        self.stolen = stolen or set()
        self.known = known
        self.calls = 0  # sample-sized batches (n > 1) run so far

    def clock(self) -> float:
        return self.now

    def reader(self) -> tuple[int, int] | None:
        return (self.steal, self.total) if self.known else None

    def batch(self, n: int) -> float:
        slow = n > 1 and self.calls in self.stolen
        if n > 1:
            self.calls += 1
        took = n * 1e-4 * (1.3 if slow else 1.0)
        self.now += took
        self.total += 2
        self.steal += 1 if slow else 0
        return took


SETTINGS = TimingSettings(
    warmup_time=0.001,
    target_sample_time=0.01,
    min_time=0.05,
    max_time=1.0,
    min_samples=10,
    max_samples=10,
    noise_target=0.0,
)


def run(machine: FakeMachine, **policy: object) -> tuple[list[float], dict[str, object]]:
    res = time_batches(
        machine.batch,
        SETTINGS,
        clock=machine.clock,
        steal=StealPolicy(reader=machine.reader, **policy),
    )  # type: ignore[arg-type]
    return list(res.samples), res.extra["steal"]


def test_stolen_batches_are_retaken_and_leave_no_slow_sample() -> None:
    # the first sample batch is call 1 (call 0 is the calibration batch of 100 calls)
    samples, steal = run(FakeMachine(stolen={2, 5, 6}))
    assert len(samples) == 10
    assert max(samples) == pytest.approx(min(samples))  # no slow batch kept
    assert steal["retaken"] == 3 and steal["flagged"] == 0
    assert steal["source"] == "proc_stat"
    assert steal["fraction"] == pytest.approx(3 / (2 * 13))


def test_past_the_budget_stolen_batches_are_kept_and_flagged() -> None:
    samples, steal = run(FakeMachine(stolen={2, 3, 4, 5}), max_retakes=1)
    assert steal["retaken"] == 1 and steal["flagged"] == 3
    assert sum(s > min(samples) * 1.2 for s in samples) == 3


def test_a_steal_free_machine_changes_nothing() -> None:
    samples, steal = run(FakeMachine())
    assert len(samples) == 10 and steal["retaken"] == 0 and steal["fraction"] == 0.0


def test_without_proc_stat_the_steal_is_unknown() -> None:
    samples, steal = run(FakeMachine(stolen={2}, known=False))
    assert len(samples) == 10
    assert steal["source"] == "unknown" and steal["fraction"] is None
    assert steal["retaken"] == 0


def test_the_real_machine_gives_a_steal_fraction_or_unknown() -> None:
    from accel_toolkit.harness import time_callable

    res = time_callable(lambda: None, TimingSettings.quick())
    steal = res.extra["steal"]
    if Path("/proc/stat").exists():
        assert steal["source"] == "proc_stat" and 0.0 <= steal["fraction"] <= 1.0
    else:
        assert steal["source"] == "unknown"
