"""The timing harness: how one configuration is measured and summarized."""

from ._env import cpu_caches, cpu_model, environment, environment_id, git_commit
from ._stats import Summary, median_ci, summarize
from ._timing import TimingResult, TimingSettings, time_batches, time_callable

__all__ = [
    "Summary",
    "TimingResult",
    "TimingSettings",
    "cpu_caches",
    "cpu_model",
    "environment",
    "environment_id",
    "git_commit",
    "median_ci",
    "summarize",
    "time_batches",
    "time_callable",
]
