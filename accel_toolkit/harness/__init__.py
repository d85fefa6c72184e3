"""The timing harness: how one configuration is measured, summarized and stored as a row."""

from ._env import cpu_caches, cpu_model, environment, environment_id, git_commit
from ._measure import (
    STATUS_OF_ERROR,
    Attempt,
    Outcome,
    complete_row,
    error_text,
    inputs_or_reason,
    measure_one,
    measurement_row,
    refused_row,
    status_of,
)
from ._stats import Summary, median_ci, summarize
from ._steal import StealMeter, StealPolicy, proc_stat_reader, read_proc_stat
from ._timing import TimingResult, TimingSettings, time_batches, time_callable

__all__ = [
    "Attempt",
    "Outcome",
    "STATUS_OF_ERROR",
    "StealMeter",
    "StealPolicy",
    "Summary",
    "TimingResult",
    "TimingSettings",
    "complete_row",
    "cpu_caches",
    "cpu_model",
    "environment",
    "environment_id",
    "error_text",
    "git_commit",
    "inputs_or_reason",
    "measure_one",
    "measurement_row",
    "median_ci",
    "proc_stat_reader",
    "read_proc_stat",
    "refused_row",
    "status_of",
    "summarize",
    "time_batches",
    "time_callable",
]
