"""Whether a stored run may be resumed with a given plan, and why not.

A resumed sweep must measure what the run planned, so that one run never mixes presets,
kernels, timing or seeds: :func:`check_resume` compares the plan of the call with the one the
run recorded (its ``settings`` and ``seed``) and refuses a run that is complete.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..exceptions import ConfigError
from ._store import FINAL_STATUSES

if TYPE_CHECKING:
    from ._store import Store

__all__ = ["check_resume"]

#: settings that may differ on resume: a shuffled order is drawn afresh, and does not change
#: what is measured
FREE = frozenset({"order_seed"})


def _canonical(key: str, value: Any) -> str:
    """``value`` as JSON; a grid's configurations in a fixed order, since a shuffled run
    records them in the order it drew, which a resume draws afresh."""
    if key == "grid" and isinstance(value, Mapping):
        value = {
            k: sorted(json.dumps(c, sort_keys=True, default=str) for c in v)
            for k, v in value.items()
        }
    return json.dumps(value, sort_keys=True, default=str)


def _plan_differences(recorded: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    out = []
    for key in sorted(set(recorded) & set(wanted) - FREE):
        a, b = recorded[key], wanted[key]
        if _canonical(key, a) != _canonical(key, b):
            out.append(f"{key} {json.dumps(a, default=str)} (now {json.dumps(b, default=str)})")
    return out


def check_resume(
    store: Store, run_id: str, settings: Mapping[str, Any] | None, seed: int | None
) -> None:
    """Raise :class:`ConfigError` unless ``run_id`` can be resumed with this plan.

    Refused: an unknown run; a ``complete`` run all of whose planned configurations are
    stored with a final status; a plan (kernels, backends, preset, grid, pinned parameters,
    dtypes, timing) or seed that differs from what the run recorded.
    """
    runs = store.query(
        "SELECT status, settings, seed, planned FROM runs WHERE run_id = ?", [run_id]
    )
    if runs.empty:
        raise ConfigError(f"No run {run_id!r} in {store.path} to resume.")
    run = runs.iloc[0]
    again = shlex.join(["accel-toolkit", "bench", "--resume", run_id, "--db", str(store.path)])
    if run["status"] == "complete":
        done = int(
            store.query(
                f"SELECT count(*) AS n FROM measurements WHERE run_id = ? AND status IN "
                f"{FINAL_STATUSES}",
                [run_id],
            )["n"].iloc[0]
        )
        planned = run["planned"]
        if planned is None or planned != planned or done >= int(planned):
            raise ConfigError(
                f"Run {run_id} is complete ({done} of {planned} planned results stored); there "
                f"is nothing to resume. Start a new run (leave out resume) to measure again."
            )
    recorded = json.loads(run["settings"]) if isinstance(run["settings"], str) else {}
    diffs = _plan_differences(recorded, settings or {})
    old_seed = run["seed"]
    if (
        seed is not None
        and old_seed == old_seed
        and old_seed is not None
        and int(old_seed) != int(seed)
    ):
        diffs.append(f"seed {int(old_seed)} (now {seed})")
    if diffs:
        raise ConfigError(
            f"Cannot resume run {run_id} with a different plan; it recorded "
            f"{'; '.join(diffs)}. Resume with the run's own arguments (`{again}`), or start "
            f"a new run."
        )
