"""Sweeps in the live tab: measure, check, store each result as it arrives, report what is left.

:func:`measure_one_tab` is the awaiting shell around the measuring core that the blocking
:func:`accel_toolkit.harness.measure_one` also wraps (:class:`~accel_toolkit.harness.Attempt`:
the same row, the same status for the same exception); :func:`sweep` is the counterpart of
the loop in :func:`accel_toolkit.bench` (same run bookkeeping and ``resume``), but awaits the
tab instead of blocking the kernel, so the widget's replies can arrive. :class:`BenchHandle`
is what a non-awaiting ``runner.start_bench(...)`` returns.
"""

from __future__ import annotations

import asyncio
import html
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..exceptions import AccelToolkitError, BrowserCrashedError, NoFrontendError
from ..harness import Attempt, Outcome, TimingSettings, inputs_or_reason, refused_row
from ..kernels import KernelSpec, config_key
from ..store import Store
from ._channel import raise_for_reply
from ._protocols import Frontend
from ._requests import build_request, device_of, measurement_from_reply, supports

if TYPE_CHECKING:
    from .._api import Done

__all__ = ["BenchHandle", "Planned", "measure_one_tab", "sweep", "time_limit_for"]

OnResult = Callable[[dict[str, Any]], Any]


def time_limit_for(timing: TimingSettings) -> float:
    """Seconds one measure request may take in the tab: compilation, warm-up, calibration and
    sampling (``max_time``), with room for a slow emulated adapter."""
    return 30.0 + 3.0 * (timing.max_time + timing.warmup_time)


async def measure_one_tab(
    runner: Frontend,
    attempt: Attempt,
    *,
    time_limit_s: float | None = None,
    options: Mapping[str, Any] | None = None,
) -> Outcome:
    """Measure ``attempt`` (one configuration, one backend) in the tab; the row
    :func:`~accel_toolkit.harness.measure_one` stores, with the same status for the same
    exception.

    Failures of the configuration (unsupported, compile error, mismatch, a kernel that does
    not answer while the tab does) become rows with their ``status``. Losing the tab raises
    :class:`NoFrontendError`: the sweep stops, it cannot continue without a front end.
    """
    name, spec, p, dtype = attempt.name, attempt.spec, attempt.params, attempt.dtype
    timing = attempt.timing
    info = runner.tab_info
    dev = device_of(name, info, None, options)
    what = f"{spec.name} on {name} in the tab"
    try:
        reason = supports(name, spec, p, dtype, info, options)
        if reason:
            return attempt.unsupported(reason, venue="tab", device=dev)
        req = build_request(
            name,
            spec,
            p,
            dtype,
            attempt.inputs,
            mode="measure",
            timing=timing,
            info=info,
            options=options,
        )
        reply = await runner.request(
            req.request, req.buffers, time_limit_s=time_limit_s or time_limit_for(timing)
        )
        raise_for_reply(reply.reply, what)
        dev = device_of(name, info, reply.reply.get("device"), options)
        m = measurement_from_reply(req, reply.reply, reply.buffers, dev, reply.elapsed_s)
    except Exception as exc:
        if isinstance(exc, BrowserCrashedError) and not await runner.alive():
            raise NoFrontendError(f"The tab stopped answering during {what}: {exc}") from exc
        return attempt.failed(exc, venue="tab", device=dev)
    return attempt.measured(m)


@dataclass(frozen=True)
class Planned:
    """One (configuration, backend) of a sweep."""

    spec: KernelSpec
    params: dict[str, Any]
    dtype: str
    backend: str

    @property
    def key(self) -> str:
        return config_key(self.spec.name, self.params, self.dtype)


@dataclass
class BenchHandle:
    """A sweep running in the background on the kernel's event loop.

    ``await handle`` (or ``handle.result()`` once :meth:`done`) gives the run's rows;
    :meth:`missing` lists what has not been stored yet; ``rows`` grows as results arrive.
    """

    run_id: str
    store: Store
    planned: list[Planned]
    venue: str = "tab"
    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: set[tuple[str, str]] = field(default_factory=set)
    status: str = "running"
    error: BaseException | None = None
    _task: asyncio.Future[pd.DataFrame] | None = field(default=None, repr=False)

    # -- state ---------------------------------------------------------------------------
    def done(self) -> bool:
        """True once the sweep finished, failed or was interrupted."""
        return self._task is not None and self._task.done()

    def result(self) -> pd.DataFrame:
        """The run's rows of the ``results`` view; raises what stopped the sweep, if anything."""
        if self._task is None or not self._task.done():
            raise AccelToolkitError(
                f"Run {self.run_id} is still running ({len(self.rows)} of {len(self.planned)} "
                f"stored); `await handle` to wait for it, or look at handle.rows."
            )
        return self._task.result()

    def __await__(self) -> Any:
        assert self._task is not None
        return self._task.__await__()

    def cancel(self) -> None:
        """Stop the sweep (the run is marked ``interrupted``; stored results stay)."""
        if self._task is not None:
            self._task.cancel()

    def missing(self) -> pd.DataFrame:
        """Configurations of the sweep with no stored result (yet): kernel, params, dtype,
        backend, config_key."""
        have = {(r["config_key"], r["backend"]) for r in self.rows} | self.skipped
        out = [
            {
                "kernel": q.spec.name,
                "params": q.params,
                "dtype": q.dtype,
                "backend": q.backend,
                "config_key": q.key,
            }
            for q in self.planned
            if (q.key, q.backend) not in have
        ]
        return pd.DataFrame(out, columns=["kernel", "params", "dtype", "backend", "config_key"])

    def _repr_html_(self) -> str:
        n_ok = sum(1 for r in self.rows if r.get("status") == "ok")
        left = len(self.missing())
        return (
            f"<div>accel_toolkit run <code>{html.escape(self.run_id)}</code> "
            f"(venue {html.escape(self.venue)}): <b>{html.escape(self.status)}</b>, "
            f"{len(self.rows)} stored ({n_ok} ok), {left} to go</div>"
        )

    def __repr__(self) -> str:
        return (
            f"<BenchHandle run_id={self.run_id!r} status={self.status!r} "
            f"stored={len(self.rows)} planned={len(self.planned)}>"
        )


async def sweep(
    runner: Frontend,
    handle: BenchHandle,
    *,
    env_id: str,
    seed: int,
    timing: TimingSettings,
    done: Done,
    progress: bool = True,
    time_limit_s: float | None = None,
    backend_options: Mapping[str, Mapping[str, Any]] | None = None,
    on_result: Sequence[OnResult] = (),
) -> pd.DataFrame:
    """Measure ``handle.planned`` in the tab, committing each result as it arrives.

    The run ends ``complete``; ``interrupted`` when the tab is lost, the cell is interrupted
    or the handle cancelled (then :class:`NoFrontendError`, ``KeyboardInterrupt`` or
    ``CancelledError`` propagates, and ``handle.missing()`` says what is left to resume);
    ``failed`` on any other error.
    """
    store = handle.store
    handle.skipped = {(q.key, q.backend) for q in handle.planned if (0, q.key, q.backend) in done}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(
            total=len(handle.planned),
            desc=f"tab {handle.run_id[:8]}",
            unit="cfg",
            initial=len(handle.skipped),
            leave=True,
        )
    status = "complete"
    current: tuple[str, Any] | None = None
    key: str | None = None
    made: tuple[dict[str, np.ndarray], dict[str, np.ndarray]] | str = ""
    try:
        await runner.wait_ready()
        for q in handle.planned:
            if (q.key, q.backend) in handle.skipped:
                continue
            if key != q.key:  # planned configuration by configuration, backends inside
                key, made = q.key, inputs_or_reason(q.spec, q.params, q.dtype, seed)
            current = (q.spec.name, q.backend)
            text = f"{q.spec.name} {json.dumps(q.params)} {q.dtype} on {q.backend}"
            runner.status = (
                f"run {handle.run_id}: {len(handle.rows) + len(handle.skipped)}/"
                f"{len(handle.planned)} — {text}"
            )
            if bar is not None:
                bar.set_postfix_str(f"{q.spec.name} {q.backend}", refresh=False)
            if isinstance(made, str):  # refused before allocating, or out of memory
                row, samples = (
                    refused_row(q.backend, q.spec, q.params, q.dtype, seed, made, venue="tab"),
                    None,
                )
            else:
                attempt = Attempt(q.backend, q.spec, q.params, q.dtype, seed, *made, timing)
                row, samples = await measure_one_tab(
                    runner,
                    attempt,
                    time_limit_s=time_limit_s,
                    options=(backend_options or {}).get(q.backend),
                )
            row.update(run_id=handle.run_id, env_id=env_id, config_key=q.key)
            row["result_id"] = store.add_result(row, samples)
            handle.rows.append(row)
            if bar is not None:
                bar.update(1)
            for cb in on_result:
                cb(row)
        return store.results(run_ids=[handle.run_id])
    except (NoFrontendError, KeyboardInterrupt, asyncio.CancelledError) as exc:
        status = "interrupted"
        handle.error = exc
        if isinstance(exc, NoFrontendError):
            left = len(handle.missing())
            where = f" during {current[0]} on {current[1]}" if current else ""
            raise NoFrontendError(
                f"Run {handle.run_id} interrupted{where}: the tab is gone ({exc}). "
                f"{len(handle.rows)} result(s) are stored, {left} configuration(s) did not "
                f"finish (handle.missing()). Re-display the runner in an open tab and call "
                f"runner.bench(..., resume={handle.run_id!r}), or run them headless with "
                f"accel_toolkit.bench(..., resume={handle.run_id!r})."
            ) from exc
        raise
    except BaseException as exc:
        status = "failed"
        handle.error = exc
        raise
    finally:
        handle.status = status
        runner.status = f"run {handle.run_id}: {status}, {len(handle.rows)} stored"
        if bar is not None:
            bar.close()
        store.finish_run(handle.run_id, status)
