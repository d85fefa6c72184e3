"""``tune()``: search each tunable kernel's knobs on each WGSL backend, store every point.

>>> import accel_toolkit as at
>>> report = at.tune(kernels="matmul", backends="wgpu", budget=120)   # doctest: +SKIP
>>> report.chosen            # one row per bucket: knobs, tuned vs default time, speedup

Per backend and kernel: the adapter's fingerprint is taken; a bucket with a stored winner is
only re-checked (its point is run against the numpy reference again; a wrong result
invalidates it and the bucket is searched afresh); the other buckets are searched
(:mod:`._search`). Every point is first checked against the numpy reference on shapes with
partial tiles, and only a correct point is timed; points over the adapter's limits, that do
not compile, that give a wrong result or fail are stored with that status.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..backends import check_backend_name
from ..exceptions import (
    AccelToolkitError,
    ConfigError,
    ResourceLimitError,
    ShaderCompileError,
)
from ..kernels import KernelSpec, get_kernel
from ..store import Store, open_store
from ._devices import TUNABLE_BACKENDS, TuneDevice
from ._records import Point, add_points, best, invalidate, tuning_table
from ._search import search
from ._space import SPACES, KnobSpace, knobs_key

__all__ = ["TuneReport", "check_point", "tune", "verify_shapes"]


@dataclass
class TuneReport:
    """What one ``tune`` call did.

    Attributes
    ----------
    session_id : str
        The ``session_id`` of its rows in the tuning table.
    chosen : DataFrame
        One row per (backend, kernel, bucket): the knobs used from now on, their time and the
        default's at the bucket's shape, the speedup, and how the bucket was settled.
    points : DataFrame
        Every row this call wrote to the tuning table.
    """

    session_id: str
    chosen: pd.DataFrame
    points: pd.DataFrame = field(repr=False)

    def _repr_html_(self) -> str:
        return str(self.chosen.to_html(index=False))


def verify_shapes(kernel: str) -> list[dict[str, int]]:
    """The shapes every point of ``kernel`` is checked on (partial tiles, odd sizes)."""
    return [dict(s) for s in SPACES[kernel].verify]


def check_point(
    dev: TuneDevice,
    spec: KernelSpec,
    space: KnobSpace,
    knobs: Mapping[str, Any],
    dtype: str = "float32",
) -> tuple[str, float | None, str | None]:
    """``(status, max_abs_err, error)`` of one point on ``dev``: ``ok``, ``limits``,
    ``compile_error``, ``wrong_result`` or ``error``."""
    from ..backends._wgsl import build_plan, check_limits

    why = space.limit_problem(knobs, dev.limits)
    if why:
        return "limits", None, why
    worst = 0.0
    for shape in verify_shapes(spec.name):
        p = spec.resolve(shape)
        try:
            plan = build_plan(spec, p, dtype, space.variant, knobs)
            check_limits(plan, dev.limits)
            inputs = spec.make_inputs(p, dtype)
            out = dev.run(plan, inputs)
        except ResourceLimitError as exc:
            return "limits", None, str(exc)
        except ShaderCompileError as exc:
            return "compile_error", None, str(exc)
        except (AccelToolkitError, Exception) as exc:  # one point's failure costs that point
            if "lost" in str(exc).lower():
                dev.recover()
            return "error", None, f"{type(exc).__name__}: {exc}"
        res = spec.check(out, spec.reference(inputs, p), p, dtype)
        worst = max(worst, float(res.max_abs_err or 0.0))
        if not res.passed:
            return "wrong_result", worst, f"{shape}: {res.describe()}"
    return "ok", worst, None


def _names(value: str | Sequence[str] | None, what: str) -> list[str]:
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    return [v.strip() for v in items if v and v.strip()]


def _check_args(kernels: list[str], backends: list[str], budget: float) -> None:
    if not isinstance(budget, (int, float)) or not budget > 0:
        raise ConfigError(
            f"tune budget must be a positive number of seconds, got {budget!r}; "
            f"e.g. budget=120 (--budget 120)."
        )
    if not kernels:
        raise ConfigError(
            f"name the kernels to tune, e.g. kernels='matmul'; tunable kernels: "
            f"{', '.join(SPACES)}."
        )
    for k in kernels:
        get_kernel(k)  # unknown names: UnknownKernelError with "did you mean"
        if k not in SPACES:
            raise ConfigError(
                f"kernel {k!r} has no tunable WGSL variant yet; tunable kernels: "
                f"{', '.join(SPACES)}."
            )
    if not backends:
        raise ConfigError(
            f"name the backends to tune on, e.g. backends='wgpu'; tunable: "
            f"{', '.join(TUNABLE_BACKENDS)}."
        )
    for b in backends:
        check_backend_name(b)
        if b not in TUNABLE_BACKENDS:
            raise ConfigError(
                f"backend {b!r} runs no WGSL, so it has nothing to tune; tune "
                f"one of {', '.join(TUNABLE_BACKENDS)}."
            )


def tune(
    kernels: str | Sequence[str] = "matmul",
    backends: str | Sequence[Any] = "wgpu",
    budget: float = 120.0,
    *,
    db: Store | str | None = None,
    dtype: str = "float32",
    buckets: Sequence[str] | None = None,
    force: bool = False,
    seed: int = 0,
    progress: bool = True,
) -> TuneReport:
    """Tune the WGSL knobs of ``kernels`` on ``backends`` within ``budget`` seconds.

    Parameters
    ----------
    kernels, backends : str or list of str
        Comma-separated names or lists (``"matmul"``, ``["wgpu", "webgpu"]``); a backend may
        also be an open ``wgpu``/``webgpu`` backend or a :class:`TuneDevice`.
    budget : float
        Seconds of search in all, shared equally by every (backend, kernel).
    db : Store or path, optional
        Where the tuning table lives (default: the results database).
    dtype : str
        The dtype tuned (``float32``).
    buckets : list of str, optional
        Only these shape buckets (``small``, ``medium``, ``large``); default all.
    force : bool
        Search again even where a stored winner still checks out.
    seed : int
        Order in which the search screens points.
    progress : bool
        Show a progress bar (seconds of budget spent).
    """
    ks = _names(kernels, "kernels")
    items: list[Any] = (
        _names(backends, "backends")
        if isinstance(backends, str)
        else [b.strip() if isinstance(b, str) else b for b in backends]
    )
    bs = [b if isinstance(b, str) else getattr(b, "name", "") for b in items]
    _check_args(ks, bs, budget)
    if buckets is not None:
        known = SPACES[ks[0]].bucket_names
        unknown = [b for b in buckets if b not in known]
        if unknown or not buckets:
            raise ConfigError(f"buckets {list(buckets)}: use some of {', '.join(known)}.")
    store = open_store(db)
    session = uuid.uuid4().hex
    share = float(budget) / (len(ks) * len(bs))
    chosen: list[dict[str, Any]] = []
    bar = _bar(float(budget), progress)
    try:
        for b in items:
            dev = b if isinstance(b, TuneDevice) else TuneDevice(b)
            try:
                for k in ks:
                    chosen += _tune_one(
                        dev,
                        get_kernel(k),
                        SPACES[k],
                        store,
                        session,
                        share,
                        dtype,
                        force,
                        seed,
                        bar,
                        buckets,
                    )
            finally:
                dev.close()
    finally:
        if bar is not None:
            bar.close()
    return TuneReport(session, pd.DataFrame(chosen), tuning_table(store, session_id=session))


def _bar(total: float, on: bool) -> Any:
    if not on:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=round(total), unit="s", desc="tune", leave=False)


def _tune_one(
    dev: TuneDevice,
    spec: KernelSpec,
    space: KnobSpace,
    store: Store,
    session: str,
    budget: float,
    dtype: str,
    force: bool,
    seed: int,
    bar: Any,
    only: Sequence[str] | None,
) -> list[dict[str, Any]]:
    from ..backends._wgsl import build_plan

    rows: list[Point] = []
    t0 = time.monotonic()

    def point(
        knobs: Mapping[str, Any],
        rung: int,
        bucket: str,
        params: Mapping[str, Any],
        status: str,
        extra: Mapping[str, Any] | None = None,
        **kw: Any,
    ) -> Point:
        # extra.t_s: seconds into this (backend, kernel) search when the point was done
        p = Point(
            spec.name,
            space.variant,
            dev.name,
            dev.key,
            dev.fingerprint,
            bucket,
            dict(params),
            dtype,
            dict(knobs),
            knobs_key(knobs),
            rung,
            status,
            session_id=session,
            extra={"t_s": time.monotonic() - t0, **(extra or {})},
            **kw,
        )
        rows.append(p)
        return p

    out: list[dict[str, Any]] = []
    needs: list[str] = []
    buckets = [b for b in space.buckets if only is None or b[0] in only]
    default = space.default_for(dev.fingerprint)
    try:
        for name, _ in buckets:
            entry = None if force else best(store, spec.name, dev.name, dev.key, name, dtype)
            if entry is None:
                needs.append(name)
                continue
            status, err, why = check_point(dev, spec, space, entry.knobs, dtype)
            point(
                entry.knobs,
                -1,
                name,
                verify_shapes(spec.name)[0],
                status,
                max_abs_err=err,
                error=why,
                extra={"recheck_of": entry.tuning_id},
            )
            if status == "ok":
                out.append(_row(dev, spec, name, entry.knobs, entry.median_s, None, "rechecked"))
            else:
                invalidate(store, entry.tuning_id, f"re-check in session {session}: {why}")
                needs.append(name)
        if not needs:
            return out

        verified: dict[str, tuple[str, float | None, str | None]] = {}
        shapes = [dict(shape) for _, shape in buckets]
        inputs: dict[int, Any] = {}
        t_start = time.monotonic()
        by_rung: dict[tuple[int, str], Point] = {}

        def evaluate(knobs: dict[str, Any], rung: int) -> float | None:
            key = knobs_key(knobs)
            params = spec.resolve(shapes[rung])
            bucket = buckets[rung][0]
            if key not in verified:
                verified[key] = check_point(dev, spec, space, knobs, dtype)
            status, err, why = verified[key]
            if status != "ok":
                if rung == 0:  # an invalid point is recorded once, where it was found
                    point(
                        knobs,
                        rung,
                        bucket,
                        verify_shapes(spec.name)[0],
                        status,
                        max_abs_err=err,
                        error=why,
                    )
                return None
            if rung not in inputs:
                inputs[rung] = spec.make_inputs(params, dtype)
            try:
                plan = build_plan(spec, params, dtype, space.variant, knobs)
                secs, n = dev.time(plan, inputs[rung], 0.3)
            except Exception as exc:  # limits at this shape, a lost device: this point only
                if "lost" in str(exc).lower():
                    dev.recover()
                point(knobs, rung, bucket, params, "error", error=f"{type(exc).__name__}: {exc}")
                return None
            finally:
                if bar is not None:
                    bar.update(max(0, min(bar.total, round(time.monotonic() - t_start)) - bar.n))
            by_rung[(rung, key)] = point(
                knobs, rung, bucket, params, "ok", median_s=secs, n_samples=n, max_abs_err=err
            )
            return secs

        ok_points = []
        for knobs in space.points():
            why = space.limit_problem(knobs, dev.limits)
            if why:
                point(knobs, 0, buckets[0][0], {}, "limits", error=why)
            else:
                ok_points.append(knobs)
        work = [spec.cost(spec.resolve(sh), 4).flops for sh in shapes]

        def estimate(rung: int, best_s: float) -> float:
            # a warm call and a timed one at the new shape, scaled by the work
            return 2.0 * best_s * work[rung] / work[rung - 1]

        found = search(
            ok_points, default, len(buckets), evaluate, budget, seed=seed, estimate=estimate
        )
        default_key = knobs_key(default)
        for r, (name, _) in enumerate(buckets):
            if name not in needs:
                continue
            win = found.best(r)
            if win is None:
                tried = len(found.tried[r]) if r < len(found.tried) else 0
                how = "no valid point" if tried else "out of budget: default kept"
                out.append(_row(dev, spec, name, default, None, None, how, found.mode, tried))
                continue
            knobs, secs = win
            by_rung[(r, knobs_key(knobs))].chosen = True
            base = by_rung.get((r, default_key))
            out.append(
                _row(
                    dev,
                    spec,
                    name,
                    knobs,
                    secs,
                    base.median_s if base else None,
                    "searched",
                    found.mode,
                    len(found.tried[r]),
                )
            )
    finally:
        add_points(store, rows)
    return out


def _row(
    dev: TuneDevice,
    spec: KernelSpec,
    bucket: str,
    knobs: Mapping[str, Any],
    secs: float | None,
    default_s: float | None,
    how: str,
    mode: str = "",
    tried: int = 0,
) -> dict[str, Any]:
    shape = dict(SPACES[spec.name].buckets)[bucket]
    knobs = {**{k: knobs[k] for k in SPACES[spec.name].default if k in knobs}, **knobs}
    speedup = default_s / secs if secs and default_s else np.nan
    return {
        "backend": dev.name,
        "kernel": spec.name,
        "bucket": bucket,
        "shape": ",".join(f"{k}={v}" for k, v in shape.items()),
        "knobs": knobs_key(knobs),
        "tuned_s": secs,
        "default_s": default_s,
        "speedup": speedup,
        "how": how,
        "mode": mode,
        "points": tried,
        "fingerprint": dev.key,
    }
