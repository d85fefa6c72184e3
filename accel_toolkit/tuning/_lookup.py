"""The look-up a backend makes before it builds a tunable kernel's plan.

:func:`lookup` returns the knobs to use for one adapter, kernel and shape: the stored winner
of the shape's bucket when there is one and it still gives the right result, else the
kernel's default point (``KnobSpace.default``, chosen from this project's measurements).
A stored winner is checked against the numpy reference before its first use
(``check(knobs) -> (status, max_abs_err, error)``); one that fails is invalidated in the
table, never used, and the next ``tune`` searches its bucket again.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..exceptions import AccelToolkitError
from ..store import Store, default_db_path
from ._records import best, invalidate
from ._space import SPACES, bucket

__all__ = ["Choice", "backend_choice", "lookup", "tuning_db", "tuning_status"]


@dataclass(frozen=True)
class Choice:
    """The knobs a backend uses for one configuration, and where they came from.

    ``source`` is ``tuned`` (a stored winner that checked out), ``default`` (nothing stored
    for this adapter and bucket) or ``invalidated`` (a stored winner gave a wrong result;
    the default is used).
    """

    kernel: str
    variant: str
    knobs: Mapping[str, Any]
    source: str
    bucket: str
    fingerprint: str
    tuning_id: str | None = None
    note: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "knobs": dict(self.knobs),
            "source": self.source,
            "bucket": self.bucket,
            "fingerprint": self.fingerprint,
            "tuning_id": self.tuning_id,
            "note": self.note,
        }


def tuning_db(tuning: bool | str | os.PathLike[str] | Store | None) -> Store | None:
    """The database a backend reads tuning from: ``True`` the default results database (if
    it exists), a path or Store that one, ``False``/``None`` none."""
    if tuning is None or tuning is False:
        return None
    if isinstance(tuning, Store):
        return tuning
    path = default_db_path() if tuning is True else Path(tuning).expanduser()
    if not path.exists():
        return None
    return Store(path, lock_timeout=2.0, create=False)


def lookup(
    kernel: str,
    backend: str,
    fingerprint: str,
    params: Mapping[str, Any],
    dtype: str,
    store: Store | None,
    check: Callable[[Mapping[str, Any]], tuple[str, float | None, str | None]],
    default: Mapping[str, Any] | None = None,
) -> Choice:
    """The knobs for ``kernel`` at ``params`` on the adapter ``fingerprint``; ``default``
    where nothing valid is stored (the adapter's default, ``KnobSpace.default_for``)."""
    space = SPACES[kernel]
    name = bucket(kernel, params)
    dflt = space.default if default is None else default

    def fallback(note: str) -> Choice:
        return Choice(kernel, space.variant, dflt, "default", name, fingerprint, note=note)

    if store is None:
        return fallback("no tuning database")
    try:
        entry = best(store, kernel, backend, fingerprint, name, dtype)
    except AccelToolkitError as exc:  # a locked or unreadable database: run the default
        return fallback(f"tuning table unreadable: {exc}")
    except Exception as exc:  # an older database without the table
        return fallback(f"tuning table unreadable: {type(exc).__name__}: {exc}")
    if entry is None:
        return fallback(
            f"not tuned: run `accel-toolkit tune --kernels {kernel} --backends {backend}`"
        )
    status, _, why = check(entry.knobs)
    if status != "ok":
        note = f"stored winner {entry.tuning_id} failed its check ({status}: {why})"
        try:
            invalidate(store, entry.tuning_id, note)
        except AccelToolkitError:
            pass  # still never used: this backend remembers the choice
        return Choice(
            kernel,
            space.variant,
            dflt,
            "invalidated",
            name,
            fingerprint,
            entry.tuning_id,
            note,
        )
    return Choice(
        kernel,
        space.variant,
        entry.knobs,
        "tuned",
        name,
        fingerprint,
        entry.tuning_id,
        extra={"tuned_s": entry.median_s},
    )


def tuning_status(
    backend: str,
    device: Mapping[str, Any],
    tuning: bool | str | os.PathLike[str] | Store | None = True,
) -> str:
    """One sentence for ``doctor``: which kernels and buckets are tuned for this adapter."""
    from ._fingerprint import fingerprint, fingerprint_key

    key = fingerprint_key(fingerprint(backend, device))
    fix = f"run `accel-toolkit tune --kernels matmul --backends {backend}`"
    try:
        store = tuning_db(tuning)
        if store is None:
            return f"tuning: adapter {key} not tuned (no results database); {fix}"
        df = store.query(
            "SELECT DISTINCT kernel, bucket FROM tuning WHERE backend = ? AND "
            "fingerprint = ? AND chosen AND status = 'ok' ORDER BY kernel, bucket",
            [backend, key],
        )
    except Exception as exc:  # doctor must not fail on the database
        return f"tuning: unknown ({type(exc).__name__}: {exc})"
    if df.empty:
        return f"tuning: adapter {key} not tuned; {fix}"
    tuned = "; ".join(f"{k} ({', '.join(g['bucket'])})" for k, g in df.groupby("kernel"))
    return f"tuning: adapter {key} tuned for {tuned}"


def backend_choice(
    backend: Any,
    spec: Any,
    params: Mapping[str, Any],
    dtype: str,
    explicit_variant: str | None,
    tuning: Any,
    cache: dict[tuple[str, str, str], Choice],
) -> Choice | None:
    """The :class:`Choice` a WGSL backend (``wgpu``/``webgpu`` instance) uses for one
    configuration, cached per (kernel, bucket, dtype) in ``cache``; ``None`` where a variant
    was asked for or the kernel has no tunable variant."""
    if explicit_variant is not None or spec.name not in SPACES:
        return None
    from ._devices import TuneDevice
    from ._fingerprint import fingerprint, fingerprint_key
    from ._tuner import check_point

    p = spec.resolve(params)
    key = (spec.name, bucket(spec.name, p), dtype)
    if key not in cache:
        fpd = fingerprint(backend.name, backend.device_info())
        fp = fingerprint_key(fpd)
        space = SPACES[spec.name]
        try:
            store = tuning_db(tuning)
        except AccelToolkitError:
            store = None
        cache[key] = lookup(
            spec.name,
            backend.name,
            fp,
            p,
            dtype,
            store,
            lambda knobs: check_point(TuneDevice(backend), spec, space, knobs, dtype),
            space.default_for(fpd),
        )
    return cache[key]
