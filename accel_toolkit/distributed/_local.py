"""A sweep in this process over a pool of several browsers: threads measure, one writes.

``bench(..., browsers=N)`` without a cluster: each configuration x backend is measured by
one of ``N`` threads on an instance leased from the
:class:`~accel_toolkit.backends.BackendPool` (``N`` browsers for ``webgpu``/``webnn``, one
instance of any other backend, so cpu configurations still run one at a time), and the
calling thread alone writes the results as they finish. Needs no Dask.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import TYPE_CHECKING, Any

from ..harness import TimingSettings, inputs_or_reason, refused_row
from ..kernels import config_key

if TYPE_CHECKING:
    from .._api import SweepPlan
    from ..backends._pool import BackendPool
    from ..harness import Outcome
    from ..kernels import KernelSpec
    from ..store import Store

__all__ = ["bench_in_threads"]


def _measure(
    pool: BackendPool,
    name: str,
    spec: KernelSpec,
    p: dict[str, Any],
    dtype: str,
    seed: int,
    timing: TimingSettings,
) -> Outcome:
    made = inputs_or_reason(spec, p, dtype, seed)
    if isinstance(made, str):
        return refused_row(name, spec, p, dtype, seed, made, venue=pool.venue_of(name)), None
    return pool.measure(name, spec, p, dtype, seed, made[0], made[1], timing)


def bench_in_threads(plan: SweepPlan, store: Store, pool: BackendPool, threads: int) -> str:
    """Measure ``plan`` with ``threads`` threads over ``pool``; store every result; return
    the run id (see :func:`accel_toolkit.bench`)."""
    from .._api import store_row

    o = plan.options
    run_id, done, env_id = plan.start(store)
    bar = None
    if o.progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=plan.total, desc="accel_toolkit", unit="cfg", leave=True)
    ex = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="accel_toolkit")
    futures: dict[Future[Outcome], tuple[str, int]] = {}
    try:
        with store.recording(run_id):
            for rnd, (spec, p, dtype) in plan.schedule():
                key = config_key(spec.name, p, dtype)
                for name in plan.backends:
                    if (rnd, key, name) in done:
                        if bar is not None:
                            bar.update(1)
                        continue
                    fut = ex.submit(_measure, pool, name, spec, dict(p), dtype, o.seed, plan.timing)
                    futures[fut] = (key, rnd)
            for fut in as_completed(futures):
                key, rnd = futures[fut]
                row, samples = fut.result()
                store_row(store, row, samples, run_id, env_id, key, rnd)
                if bar is not None:
                    bar.update(1)
    finally:
        ex.shutdown(wait=True, cancel_futures=True)
        if bar is not None:
            bar.close()
    return run_id
