"""Statistics of raw timing samples: median, distribution-free CI, IQR.

The confidence interval of the median comes from binomial order statistics (as in asv's
``asv_runner/statistics.py``): with ``n`` sorted samples, the interval
``[x_(j), x_(k)]`` covers the true median with probability
``P(j <= B(n, 1/2) < k)``. We pick the narrowest symmetric ``j, k`` reaching 99%. With fewer
than 9 samples no pair reaches 99%, and the interval is ``[min, max]`` with its actual
(lower) confidence recorded; a single sample has no interval (NaN).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["Summary", "median_ci", "summarize"]


@dataclass(frozen=True)
class Summary:
    """Statistics of one configuration's steady-state samples (seconds per call)."""

    median: float
    ci_low: float
    ci_high: float
    ci_level: float
    iqr: float
    mean: float
    std: float
    min: float
    max: float
    n: int

    @property
    def rel_iqr(self) -> float:
        return self.iqr / self.median if self.median > 0 else float("inf")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def median_ci(samples: np.ndarray, level: float = 0.99) -> tuple[float, float, float]:
    """Distribution-free CI of the median: ``(low, high, achieved_level)``."""
    x = np.sort(np.asarray(samples, dtype=float))
    n = x.size
    if n == 0:
        return float("nan"), float("nan"), 0.0
    if n == 1:  # one sample bounds nothing
        return float("nan"), float("nan"), 0.0
    # [x_(j), x_(n-1-j)] covers the median iff j+1 <= B <= n-1-j, B ~ Binomial(n, 1/2)
    # counting samples below it.
    from scipy import stats as _st  # lazily: importing the harness needs no scipy

    def coverage(j: int) -> float:
        return float(_st.binom.cdf(n - 1 - j, n, 0.5) - _st.binom.cdf(j, n, 0.5))

    j = 0
    while j + 1 <= (n - 1) // 2 and coverage(j + 1) >= level:
        j += 1
    k = n - 1 - j
    achieved = coverage(j)
    return float(x[j]), float(x[k]), achieved


def summarize(samples: Any, level: float = 0.99) -> Summary:
    """Median, CI of the median, IQR, mean, std, min, max and count of ``samples``."""
    x = np.asarray(samples, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        nan = float("nan")
        return Summary(nan, nan, nan, 0.0, nan, nan, nan, nan, nan, 0)
    lo, hi, achieved = median_ci(x, level)
    q1, q3 = np.percentile(x, [25, 75])
    return Summary(
        median=float(np.median(x)),
        ci_low=lo,
        ci_high=hi,
        ci_level=achieved,
        iqr=float(q3 - q1),
        mean=float(x.mean()),
        std=float(x.std(ddof=1)) if x.size > 1 else 0.0,
        min=float(x.min()),
        max=float(x.max()),
        n=int(x.size),
    )
