"""The report's Tuning section: the autotuner's chosen configurations and their speedup.

A plug-in section (see :data:`._sections.PLUGINS`). It reads the ``tuning`` table of the
report's database (:mod:`accel_toolkit.tuning`): per adapter fingerprint, kernel, shape
bucket and dtype, the configuration the backends now use (the newest chosen point whose
status is ``ok``, as :func:`accel_toolkit.tuning.best` finds it), its time, and the time of
the default knobs measured in the same search at the same shape, with the speedup.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import StoreError
from ..store import Store
from ._blocks import Block, Table, Text
from ._sections import ReportContext, _fmt_time

__all__ = ["NOT_TUNED", "chosen_configurations", "tuning_section"]

#: the section's one line when the database holds no tuning results
NOT_TUNED = (
    "Not tuned: this database has no tuning results "
    "(`accel-toolkit tune --kernels matmul --backends wgpu --db DB` adds them)."
)

_KEYS = ["backend", "fingerprint", "kernel", "bucket", "dtype"]


def _tuning_rows(store: Store) -> pd.DataFrame:
    try:
        return store.query("SELECT * FROM tuning ORDER BY created_at")
    except StoreError as exc:  # a database written before the tuning table existed
        if "tuning" in str(exc).lower():
            return pd.DataFrame()
        raise


def _default_key(kernel: str) -> str | None:
    from ..tuning import SPACES, knobs_key

    space = SPACES.get(kernel)
    return knobs_key(space.default) if space is not None else None


def _adapter(text: Any) -> str:
    try:
        fp = json.loads(text) if isinstance(text, str) else dict(text or {})
    except (TypeError, ValueError):
        return ""
    words = [fp.get("driver") or fp.get("device") or fp.get("vendor") or "", fp.get("api", "")]
    label = ", ".join(str(w) for w in words if w)
    return label + (" (fallback)" if fp.get("fallback") else "")


def _shape(text: Any) -> str:
    try:
        params = json.loads(text) if isinstance(text, str) else dict(text or {})
    except (TypeError, ValueError):
        return str(text)
    return ", ".join(f"{k}={v}" for k, v in params.items())


def chosen_configurations(store: Store) -> pd.DataFrame:
    """One row per (backend, adapter fingerprint, kernel, bucket, dtype): the chosen point.

    Columns: the keys, ``adapter`` (driver and API of the fingerprint), ``shape`` (where the
    point was timed, ``name=value`` pairs), ``variant``, ``knobs``, ``tuned_s``,
    ``default_s`` (the default knobs in the same session, rung and shape; NaN where the
    search did not time them), ``speedup``
    (``default_s / tuned_s``), ``is_default``, ``points`` (points that session tried in the
    bucket), ``session_id``, ``created_at``. Empty without tuning results.
    """
    rows = _tuning_rows(store)
    cols = [
        *_KEYS,
        "adapter",
        "shape",
        "variant",
        "knobs",
        "tuned_s",
        "default_s",
        "speedup",
        "is_default",
        "points",
        "session_id",
        "created_at",
    ]
    if rows.empty:
        return pd.DataFrame(columns=cols)
    chosen = rows[rows["chosen"].fillna(False).astype(bool) & (rows["status"] == "ok")]
    newest = chosen.sort_values("created_at").groupby(_KEYS, sort=False).tail(1)
    out = []
    for _, r in newest.iterrows():
        dkey = _default_key(str(r["kernel"]))
        same = rows[
            (rows["session_id"] == r["session_id"])
            & (rows["backend"] == r["backend"])
            & (rows["fingerprint"] == r["fingerprint"])
            & (rows["kernel"] == r["kernel"])
            & (rows["bucket"] == r["bucket"])
            & (rows["dtype"] == r["dtype"])
        ]
        base = same[
            (same["rung"] == r["rung"]) & (same["knobs_key"] == dkey) & (same["status"] == "ok")
        ]
        tuned = float(r["median_s"]) if pd.notna(r["median_s"]) else np.nan
        default = float(base["median_s"].iloc[-1]) if len(base) else np.nan
        out.append(
            {
                **{k: r[k] for k in _KEYS},
                "adapter": _adapter(r["adapter"]),
                "shape": _shape(r["params"]),
                "variant": r["variant"],
                "knobs": r["knobs_key"],
                "tuned_s": tuned,
                "default_s": default,
                "speedup": default / tuned if tuned > 0 and np.isfinite(default) else np.nan,
                "is_default": r["knobs_key"] == dkey,
                "points": len(same),
                "session_id": r["session_id"],
                "created_at": r["created_at"],
            }
        )
    return pd.DataFrame(out, columns=cols).sort_values(["backend", "kernel", "fingerprint"])


def tuning_section(ctx: ReportContext) -> list[Block]:
    """Blocks of the Tuning section (one muted line when the database is not tuned)."""
    df = chosen_configurations(ctx.store)
    if df.empty:
        return [Text(NOT_TUNED, muted=True)]
    n_adapters = df[["backend", "fingerprint"]].drop_duplicates().shape[0]
    blocks: list[Block] = [
        Text(
            f"The configurations the wgpu and webgpu backends use, from the `tuning` table: "
            f"{len(df)} (kernel, shape bucket) choice(s) on {n_adapters} adapter(s). Each "
            "time is the tuner's screening figure at the bucket's shape (a warm call, then "
            "the median of up to three); the default is the kernel's default knobs timed in "
            "the same search step, '–' where the search did not time it there. "
            "`benchmarks/wgsl_tuned.py` re-measures both with the full protocol."
        )
    ]
    speedup = df["speedup"].map(lambda v: f"{v:.2f}x" if np.isfinite(v) else "–")
    table = pd.DataFrame(
        {
            "backend": df["backend"],
            "adapter": df["adapter"],
            "fingerprint": df["fingerprint"],
            "kernel": df["kernel"],
            "bucket": df["bucket"],
            "shape": df["shape"],
            "dtype": df["dtype"],
            "variant": df["variant"],
            "knobs": [
                k + (" (default)" if d else "")
                for k, d in zip(df["knobs"], df["is_default"], strict=True)
            ],
            "tuned": df["tuned_s"].map(_fmt_time),
            "default": df["default_s"].map(_fmt_time),
            "speedup": speedup,
            "points": df["points"],
        }
    )
    blocks.append(Table(table, "Chosen configuration per adapter and shape bucket"))
    return blocks
