"""A sweep on a Dask cluster: one task per configuration x backend (x machine), one writer.

Every task requires its backend's Dask resource, so the scheduler sends it only to workers
that advertise the backend, and Dask's work stealing balances the load. Results stream back
as tasks finish; the client alone writes them to its DuckDB store, whose writes are
idempotent on (run, configuration, backend, machine), so a task re-run after a worker died
never adds a second row.
"""

from __future__ import annotations

import hashlib
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from distributed import Client, Future, as_completed
from distributed.client import ClosedClientError

from .._version import __version__
from ..exceptions import ClusterError, ConfigError, RefusedWorkerWarning, VersionMismatchError
from ..harness import error_text, measurement_row
from ..kernels import config_key
from ._cluster import connect, describe_workers, scheduler_address
from ._task import measure_task

if TYPE_CHECKING:
    from .._api import SweepPlan
    from ..kernels import KernelSpec
    from ..store import Store

__all__ = ["WHERE", "bench_on_cluster", "task_key"]

#: ``any``: each configuration on one worker offering the backend (throughput);
#: ``all``: on every machine offering it (a cross-machine comparison)
WHERE = ("any", "all")


@dataclass
class _Task:
    """What a submitted future measures, and the workers allowed to measure it."""

    spec: KernelSpec
    params: dict[str, Any]
    dtype: str
    key: str
    backend: str
    round: int
    workers: set[str]
    env: str | None


def _accepted(workers: Mapping[str, dict[str, Any] | None]) -> dict[str, dict[str, Any]]:
    """The workers a sweep may use; warns about the others (no plugin, another version)."""
    ok: dict[str, dict[str, Any]] = {}
    refused: list[str] = []
    for addr, info in sorted(workers.items()):
        if info is None:
            refused.append(
                f"{addr} has no accel_toolkit plugin (start it with "
                f"`accel-toolkit worker SCHEDULER`)"
            )
        elif info.get("version") != __version__:
            refused.append(
                f"{addr} ({info.get('hostname')}) runs accel-toolkit "
                f"{info.get('version')}, this client {__version__} (install "
                f"accel-toolkit=={__version__} there and restart the worker)"
            )
        else:
            ok[addr] = info
    if refused and ok:
        warnings.warn(
            "Refused worker(s): " + "; ".join(refused), RefusedWorkerWarning, stacklevel=4
        )
    if not ok:
        if any("runs accel-toolkit" in r for r in refused):
            raise VersionMismatchError(
                "No worker runs this client's accel-toolkit version; "
                "refused: " + "; ".join(refused) + "."
            )
        raise ClusterError(
            "The cluster has no usable worker"
            + (
                ": " + "; ".join(refused)
                if refused
                else "; start `accel-toolkit worker SCHEDULER` on each machine"
            )
            + "."
        )
    return ok


def task_key(run_id: str, *parts: Any) -> str:
    """The Dask key of a run's task: the same configuration, backend, round and machine
    give the same key, so a duplicate submission is one task."""
    digest = hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest()[:20]
    return f"accel-measure-{run_id}-{digest}"


def bench_on_cluster(
    plan: SweepPlan,
    store: Store,
    *,
    cluster: str | None = None,
    client: Client | None = None,
    parallel: int | None = None,
    where: str = "any",
    browsers: int | None = None,
    poll: float = 0.5,
) -> str:
    """Measure ``plan`` on a Dask cluster and store every result; return the run id.

    A configuration whose backend no worker offers is stored as ``unavailable`` at once,
    with the reason. Losing the scheduler raises :class:`ClusterError` (what finished is
    stored; ``resume=run_id`` measures the rest). See :func:`accel_toolkit.bench`.
    """
    if where not in WHERE:
        raise ConfigError(
            f"where must be 'any' (each configuration on one machine) or 'all' "
            f"(on every machine offering the backend), got {where!r}."
        )
    o = plan.options
    with connect(
        cluster=cluster,
        client=client,
        parallel=parallel,
        backends=plan.backends,
        browsers=browsers,
        backend_options=o.backend_options,
    ) as c:
        address = scheduler_address(c)
        workers = _accepted(describe_workers(c))
        for info in workers.values():
            store.add_environment(info["env"], info["env_id"])
        run_id, _done, env_id = plan.start(store, where=where)
        with store.recording(run_id):
            _Sweep(plan, store, c, address, workers, run_id, env_id, where, poll).run()
    return run_id


class _Sweep:
    """Submits the tasks of one run and writes their results as they finish."""

    def __init__(
        self,
        plan: SweepPlan,
        store: Store,
        client: Client,
        address: str,
        workers: dict[str, dict[str, Any]],
        run_id: str,
        env_id: str,
        where: str,
        poll: float,
    ):
        self.plan, self.store, self.client, self.address = plan, store, client, address
        self.workers, self.run_id, self.env_id, self.where = workers, run_id, env_id, where
        self.poll = poll
        self.pending: dict[Future[Any], _Task] = {}
        self.stored = 0
        self.bar: Any = None

    # -- what to measure ------------------------------------------------------------------
    def _targets(self, backend: str) -> list[tuple[str | None, set[str]]]:
        """``(env_id or None for any machine, workers)`` a task of ``backend`` goes to."""
        holders = {a for a, i in self.workers.items() if backend in i["resources"]}
        if self.where == "any":
            return [(None, holders)] if holders else []
        by_env: dict[str | None, set[str]] = {}
        for a in holders:
            by_env.setdefault(self.workers[a]["env_id"], set()).add(a)
        return sorted(by_env.items(), key=lambda kv: str(kv[0]))

    def _offered(self) -> str:
        names = sorted({b for i in self.workers.values() for b in i["resources"]})
        return ", ".join(names) or "nothing"

    def _unavailable(
        self,
        spec: KernelSpec,
        p: dict[str, Any],
        dtype: str,
        key: str,
        backend: str,
        rnd: int,
        reason: str,
    ) -> None:
        row = measurement_row(backend, spec, p, dtype, self.plan.options.seed)
        venue = "headless" if backend in ("webgpu", "webnn") else "process"
        row.update(
            status="unavailable",
            error=reason,
            venue=venue,
            run_id=self.run_id,
            env_id=self.env_id,
            config_key=key,
            extra={"round": rnd, "where": self.where, "cluster": self.address},
        )
        self.store.add_result(row, None)
        self.stored += 1
        if self.bar is not None:
            self.bar.update(1)

    def _submit_all(self) -> int:
        done = self.store.finished(self.run_id)
        done_any = {(r, k, b) for r, k, b, _ in done}
        total = 0
        for rnd, (spec, p, dtype) in self.plan.schedule():
            key = config_key(spec.name, p, dtype)
            for backend in self.plan.backends:
                targets = self._targets(backend)
                if not targets:
                    total += 1
                    if (rnd, key, backend) not in done_any:
                        self._unavailable(
                            spec,
                            p,
                            dtype,
                            key,
                            backend,
                            rnd,
                            f"no worker of the cluster at {self.address} offers {backend} "
                            f"(its workers offer {self._offered()}); start `accel-toolkit "
                            f"worker {self.address}` on a machine with {backend} and resume "
                            f"run {self.run_id}",
                        )
                    continue
                for env, addrs in targets:
                    total += 1
                    if (rnd, key, backend, env) in done or (
                        env is None and (rnd, key, backend) in done_any
                    ):
                        if self.bar is not None:
                            self.bar.update(1)
                        continue
                    self._submit(_Task(spec, p, dtype, key, backend, rnd, set(addrs), env))
        return total

    def _submit(self, t: _Task) -> Future[Any]:
        """Send ``t`` to a worker that offers its backend (one of ``t.workers``)."""
        fut = self.client.submit(
            measure_task,
            t.spec.name,
            t.params,
            t.dtype,
            self.plan.options.seed,
            t.backend,
            self.plan.timing,
            __version__,
            key=task_key(self.run_id, t.key, t.backend, t.round, t.env),
            resources={t.backend: 1},
            workers=sorted(t.workers),
            allow_other_workers=False,
            pure=False,
        )
        self.pending[fut] = t
        return fut

    # -- results ----------------------------------------------------------------------------
    def _write(self, t: _Task, outcome: tuple[dict[str, Any], Any, str, str]) -> None:
        row, samples, env_id, worker = outcome
        row.update(
            run_id=self.run_id,
            env_id=env_id,
            config_key=t.key,
            extra={
                **(row.get("extra") or {}),
                "round": t.round,
                "worker": worker,
                "where": self.where,
                "cluster": self.address,
            },
        )
        self.store.add_result(row, samples)
        self.stored += 1
        if self.bar is not None:
            self.bar.update(1)

    def _failed(self, t: _Task, exc: BaseException, venue: str = "process") -> None:
        row = measurement_row(t.backend, t.spec, t.params, t.dtype, self.plan.options.seed)
        text = error_text(exc)
        if type(exc).__name__ == "KilledWorker":
            text = (
                f"the workers measuring it died repeatedly ({text}); it was quarantined "
                f"so the sweep could go on; measure it alone to investigate"
            )
        row.update(
            status="error",
            error=text,
            venue=venue,
            run_id=self.run_id,
            env_id=self.env_id,
            config_key=t.key,
            extra={"round": t.round, "where": self.where, "cluster": self.address},
        )
        self.store.add_result(row, None)
        self.stored += 1
        if self.bar is not None:
            self.bar.update(1)

    def _lost(self, total: int) -> ClusterError:
        return ClusterError(
            f"Lost the Dask scheduler at {self.address} mid-sweep; run {self.run_id} keeps the "
            f"{self.stored} of {total} results stored so far in {self.store.path}. Start the "
            f"scheduler and workers again, then resume: bench(..., resume='{self.run_id}', "
            f"cluster='{self.address}') or `accel-toolkit bench --resume {self.run_id} "
            f"--cluster {self.address} --db {self.store.path}`."
        )

    def _alive(self) -> set[str]:
        """The workers the scheduler has now, asked of it directly.

        Not ``client.scheduler_info()``: when the scheduler cannot be reached it returns the
        client's cached identity, whose periodic refresh carries no workers at all, so a
        lost scheduler would look like a cluster every worker had left. Raises ``OSError``
        (also ``TimeoutError``) when the scheduler is gone.
        """
        rpc = self.client.scheduler
        if rpc is None or self.client.status != "running":
            raise OSError(f"the scheduler at {self.address} went away")
        info = self.client.sync(rpc.identity, n_workers=-1, callback_timeout=10)
        return set(info.get("workers", {}))

    def _orphans(self) -> None:
        """Store as unavailable the tasks whose every allowed worker has left the cluster."""
        alive = self._alive()
        for fut, t in list(self.pending.items()):
            if t.workers & alive:
                continue
            del self.pending[fut]
            fut.cancel()
            self._unavailable(
                t.spec,
                t.params,
                t.dtype,
                t.key,
                t.backend,
                t.round,
                f"every worker offering {t.backend} for it "
                f"({', '.join(sorted(t.workers))}) left the cluster mid-sweep; "
                f"resume run {self.run_id} when one is back",
            )

    def _cancel_pending(self) -> None:
        """Cancel what is still queued; nothing to cancel once the scheduler is gone."""
        if not self.pending or self.client.status != "running":
            return
        try:
            self.client.cancel(list(self.pending))
        except (OSError, ClosedClientError):  # it went away between the check and the call
            pass

    def run(self) -> None:
        """Submit, then write results as they finish until every task is stored."""
        if self.plan.options.progress:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.plan.total, desc="accel_toolkit", unit="cfg")
        try:
            total = self._submit_all()
            if self.bar is not None:
                self.bar.total = total
                self.bar.refresh()
            checked = time.monotonic()
            stream = as_completed(list(self.pending), loop=self.client.loop)
            while self.pending:
                finished = stream.next_batch(block=False)
                if not finished:
                    time.sleep(self.poll)
                if self.client.status != "running":  # "connecting" once the scheduler is gone
                    raise self._lost(total)
                for fut in finished:
                    t = self.pending.pop(fut)
                    if fut.status == "finished":
                        try:
                            outcome = fut.result(timeout=30)
                        except Exception:
                            self.pending[fut] = t  # its data was lost with a worker: recomputed
                            stream.add(fut)
                            continue
                        self._write(t, outcome)
                        fut.release()  # stored: the worker may drop it (not recomputed)
                    elif fut.status == "error":
                        self._failed(t, fut.exception())
                        fut.release()
                    elif fut.status == "cancelled":
                        if self.client.status != "running":  # the scheduler went away
                            raise self._lost(total)
                        stream.add(self._submit(t))
                    else:  # lost with a worker: the scheduler computes it again
                        self.pending[fut] = t
                        stream.add(fut)
                if time.monotonic() - checked > 2.0:
                    try:
                        self._orphans()
                    except (OSError, ClosedClientError):  # the scheduler went away meanwhile
                        raise self._lost(total) from None
                    checked = time.monotonic()
        finally:
            self._cancel_pending()
            if self.bar is not None:
                self.bar.close()
