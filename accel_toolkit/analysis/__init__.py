"""Comparing runs and detecting regressions: statistics, change points, charts, CI gate."""

from ._history import NOISE_KINDS, synthetic_history
from ._steps import DEFAULT_GAMMA, DEFAULT_MIN_SIZE, Step, detect_steps

__all__ = [
    "DEFAULT_GAMMA",
    "DEFAULT_MIN_SIZE",
    "NOISE_KINDS",
    "Step",
    "detect_steps",
    "synthetic_history",
]
