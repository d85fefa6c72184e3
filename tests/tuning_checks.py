"""Shared by the tuning tests: a short tune on wgpu, then the backend runs its winner."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from accel_toolkit.tuning import SPACES, knobs_key


def check_tune_then_backend_uses_winner(
    be: Any, db_path: Path, kernel: str, variant: str, default_knobs: dict[str, Any]
) -> None:
    """``tune(kernel)`` on ``be`` times the default knobs first and only ``variant`` points,
    stores one winner for the ``small`` bucket, and a backend reading that database uses it."""
    from accel_toolkit.backends._wgpu import WgpuBackend
    from accel_toolkit.kernels import get_kernel
    from accel_toolkit.tuning import tune

    report = tune(kernel, [be], budget=6, db=str(db_path), buckets=["small"], progress=False)
    pts = report.points
    assert set(pts["variant"]) == {variant} and (pts["status"] == "ok").sum() >= 2
    assert knobs_key(default_knobs) in set(pts["knobs_key"])  # the default is timed first
    (win,) = report.chosen.to_dict("records")
    assert win["kernel"] == kernel and win["bucket"] == "small"
    tuned = WgpuBackend(tuning=str(db_path))
    try:
        p = get_kernel(kernel).resolve(SPACES[kernel].buckets[0][1])
        choice = tuned.tuning_choice(get_kernel(kernel), p, "float32")
        assert choice.source == "tuned"
        assert sorted(knobs_key(choice.knobs).split(",")) == sorted(win["knobs"].split(","))
    finally:
        tuned.close()
