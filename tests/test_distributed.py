"""Sweeps on a real Dask cluster: a scheduler and cpu-only workers started as processes on
127.0.0.1, killed mid-sweep; every configuration stored exactly once."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("distributed")

from interrupting import InterruptingCpu  # noqa: E402

import accel_toolkit as at  # noqa: E402
from accel_toolkit.backends._pool import BackendPool  # noqa: E402
from accel_toolkit.distributed import (  # noqa: E402
    ClusterError,
    RefusedWorkerWarning,
    VersionMismatchError,
    cluster_info,
)
from accel_toolkit.harness import TimingSettings  # noqa: E402
from accel_toolkit.store import Store  # noqa: E402

#: a few milliseconds of sampling per configuration
FAST = TimingSettings(
    warmup_time=0.002, target_sample_time=0.001, min_time=0.01, max_time=0.02, min_samples=3
)
#: about 0.15 s per configuration, so a kill lands mid-sweep
SLOWER = TimingSettings(
    warmup_time=0.01,
    target_sample_time=0.005,
    min_time=0.12,
    max_time=0.15,
    min_samples=5,
    noise_target=1e-9,
)
ROOT = Path(__file__).resolve().parents[1]


def grid(n: int) -> list[dict[str, int]]:
    return [{"n": 64 + 8 * i} for i in range(n)]


class Cluster:
    """A ``dask scheduler`` and ``dask worker`` processes on 127.0.0.1."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.procs: list[subprocess.Popen[bytes]] = []
        self.workers: list[subprocess.Popen[bytes]] = []
        self.scheduler: subprocess.Popen[bytes] | None = None
        self.address = ""

    def _spawn(
        self, args: list[str], env: dict[str, str] | None = None, log: str = "log"
    ) -> subprocess.Popen[bytes]:
        out = open(self.tmp / f"{log}-{len(self.procs)}.txt", "wb")  # noqa: SIM115
        p = subprocess.Popen(
            [sys.executable, "-m", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
        )
        self.procs.append(p)
        return p

    def start_scheduler(self, port: int = 0) -> str:
        sfile = self.tmp / f"scheduler-{len(self.procs)}.json"
        self.scheduler = self._spawn(
            [
                "distributed.cli.dask_scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-dashboard",
                "--scheduler-file",
                str(sfile),
            ],
            log="scheduler",
        )
        deadline = time.monotonic() + 60
        while not sfile.exists():
            assert time.monotonic() < deadline, "the scheduler did not start"
            assert self.scheduler.poll() is None, "the scheduler exited"
            time.sleep(0.2)
        time.sleep(0.2)
        self.address = json.loads(sfile.read_text())["address"]
        return self.address

    def start_worker(self, preload: str = "accel_toolkit.distributed") -> None:
        self.workers.append(
            self._spawn(
                [
                    "distributed.cli.dask_worker",
                    self.address,
                    "--host",
                    "127.0.0.1",
                    "--nthreads",
                    "2",
                    "--no-nanny",
                    "--no-dashboard",
                    "--preload",
                    preload,
                ],
                env={"ACCEL_TOOLKIT_WORKER_BACKENDS": "cpu"},
                log="worker",
            )
        )

    def wait_for_workers(self, n: int) -> None:
        from distributed import Client

        with Client(self.address, timeout=30, set_as_default=False) as c:
            c.wait_for_workers(n, timeout=120)
            deadline = time.monotonic() + 60  # and for their plugins' resources
            while (
                sum(
                    1
                    for w in c.scheduler_info(n_workers=-1)["workers"].values()
                    if w.get("resources")
                )
                < n
            ):
                assert time.monotonic() < deadline, "workers did not advertise resources"
                time.sleep(0.2)

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
        for p in self.procs:
            p.wait(10)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path)
    try:
        c.start_scheduler()
        c.start_worker()
        c.start_worker()
        c.wait_for_workers(2)
        yield c
    finally:
        c.stop()


def after_tasks(address: str, n: int, action: object) -> threading.Thread:
    """Run ``action()`` in a thread once the workers at ``address`` have run ``n`` tasks
    (asked through a client of our own: the sweep's database stays the sweep's)."""
    from distributed import Client

    def watch() -> None:
        deadline = time.monotonic() + 300
        with Client(address, timeout=30, set_as_default=False) as c:
            while time.monotonic() < deadline:
                # a lambda travels by value (workers cannot import this test module)
                done = c.run(
                    lambda dask_worker: dask_worker.state.executed_count, on_error="ignore"
                )
                if sum(v for v in done.values() if isinstance(v, int)) >= n:
                    break
                time.sleep(0.2)
        action()  # type: ignore[operator]

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    return t


def exactly_once(db: Path, run_id: str, n: int) -> None:
    rows = Store(db).query(
        "SELECT config_key, backend, status FROM measurements WHERE run_id = ?", [run_id]
    )
    assert len(rows) == n, rows.groupby("status").size()
    assert not rows.duplicated(["config_key", "backend"]).any()
    assert (rows["status"] == "ok").all(), rows["status"].value_counts()


def test_a_bad_scheduler_address_is_a_clear_error(db_path):
    with pytest.raises(ClusterError, match="Cannot reach a Dask scheduler.*tcp://HOST:8786"):
        at.bench("add_mul_relu", "cpu", cluster="tcp://127.0.0.1:1", db=db_path, progress=False)
    with pytest.raises(ClusterError, match="Cannot reach"):
        cluster_info("no-such-host.invalid:8786")


def test_sweep_on_the_cluster_records_the_machine_and_cuda_is_unavailable_at_once(cluster, db_path):
    t0 = time.monotonic()
    df = at.bench(
        "add_mul_relu",
        "cpu,cuda",
        grid=grid(6),
        settings=FAST,
        db=db_path,
        cluster=cluster.address,
        progress=False,
    )
    assert time.monotonic() - t0 < 60
    cuda = df[df["backend"] == "cuda"]
    assert len(cuda) == 6 and (cuda["status"] == "unavailable").all()
    assert cuda["error"].str.contains("no worker of the cluster .* offers cuda").all()
    cpu = df[df["backend"] == "cpu"]
    assert len(cpu) == 6 and (cpu["status"] == "ok").all()
    info = cluster_info(cluster.address)
    assert len(info) == 2 and info["compatible"].all()
    assert (info["backends"] == "cpu:1").all()
    # the rows name the machine that measured them, which is in the environments table
    assert set(cpu["env_id"]) <= set(info["env_id"])
    assert set(cpu["env_id"]) <= set(Store(db_path).environments()["env_id"])


def test_where_all_measures_once_per_machine_and_the_cli_drives_the_cluster(
    cluster, db_path, capsys
):
    from accel_toolkit.cli import main

    # both workers run on this machine: one env_id, so each configuration is measured once
    df = at.bench(
        "add_mul_relu",
        "cpu",
        grid=grid(3),
        settings=FAST,
        db=db_path,
        cluster=cluster.address,
        where="all",
        progress=False,
    )
    assert len(df) == 3 and df["env_id"].nunique() == 1 and (df["status"] == "ok").all()
    assert main(["cluster", "--scheduler", cluster.address]) == 0
    out = capsys.readouterr().out
    assert out.count("cpu:1") == 2 and "compatible" in out
    assert (
        main(
            [
                "bench",
                "--kernels",
                "add_mul_relu",
                "--cluster",
                cluster.address,
                "--time-budget",
                "0.02",
                "--db",
                str(db_path),
            ]
        )
        == 0
    )
    assert "results stored" in capsys.readouterr().out
    assert main(["cluster", "--scheduler", "tcp://127.0.0.1:1", "--timeout", "1"]) == 2
    assert "Cannot reach a Dask scheduler" in capsys.readouterr().err


def test_sigkill_a_worker_mid_sweep_stores_every_configuration_once(cluster, db_path):
    victim = cluster.workers[0]
    killed = threading.Event()

    def killer() -> None:
        victim.send_signal(signal.SIGKILL)
        killed.set()

    after_tasks(cluster.address, 10, killer)
    df = at.bench(
        "add_mul_relu",
        "cpu",
        grid=grid(100),
        settings=SLOWER,
        db=db_path,
        cluster=cluster.address,
        progress=False,
    )
    assert killed.is_set() and victim.poll() is not None, "the sweep ended before the kill"
    exactly_once(db_path, df["run_id"].iloc[0], 100)
    assert df["config_key"].is_unique


def test_losing_the_scheduler_keeps_what_finished_and_resume_completes(cluster, db_path):
    def stopper() -> None:
        assert cluster.scheduler is not None
        cluster.scheduler.send_signal(signal.SIGKILL)

    after_tasks(cluster.address, 10, stopper)
    t0 = time.monotonic()
    with pytest.raises(ClusterError, match="Lost the Dask scheduler.*resume") as info:
        at.bench(
            "add_mul_relu",
            "cpu",
            grid=grid(100),
            settings=SLOWER,
            db=db_path,
            cluster=cluster.address,
            progress=False,
        )
    assert time.monotonic() - t0 < 120
    store = Store(db_path)
    run_id = str(store.runs()["run_id"].iloc[0])
    assert run_id in str(info.value)
    kept = store.query("SELECT config_key FROM measurements WHERE run_id = ?", [run_id])
    assert 0 < len(kept) < 100 and kept["config_key"].is_unique

    cluster.stop()  # a fresh scheduler and workers, then resume
    cluster.start_scheduler()
    cluster.start_worker()
    cluster.wait_for_workers(1)
    at.bench(
        "add_mul_relu",
        "cpu",
        grid=grid(100),
        settings=SLOWER,
        db=db_path,
        cluster=cluster.address,
        resume=run_id,
        progress=False,
    )
    exactly_once(db_path, run_id, 100)


def test_a_run_of_rounds_resumes_on_the_cluster_with_the_rounds_it_lacks(cluster, db_path):
    sweep = {"grid": grid(4), "settings": FAST, "db": db_path, "rounds": 3, "progress": False}
    with pytest.raises(KeyboardInterrupt):  # stopped here in round 1, after 6 results
        at.bench(
            "add_mul_relu", "cpu", **sweep, pool=BackendPool(instances={"cpu": InterruptingCpu(6)})
        )
    run_id = str(Store(db_path).runs()["run_id"].iloc[0])
    at.bench("add_mul_relu", "cpu", **sweep, cluster=cluster.address, resume=run_id)
    rows = Store(db_path).query(
        "SELECT config_key, CAST(json_extract(extra, '$.round') AS INTEGER) AS round, status "
        "FROM measurements WHERE run_id = ?",
        [run_id],
    )
    # every configuration once in each of the 3 rounds: the cluster measured the 6 missing
    assert len(rows) == 12 and (rows["status"] == "ok").all()
    assert not rows.duplicated(["config_key", "round"]).any()
    assert sorted(rows["round"].unique()) == [0, 1, 2]


def test_cleanup_after_the_client_gave_up_on_the_scheduler_does_not_hide_the_loss(cluster):
    """The client closes itself some seconds after its scheduler dies; the sweep's cleanup
    (cancelling what is still queued) must not then raise over the ClusterError that says
    how to resume (CI once saw ClosedClientError instead)."""
    from distributed import Client

    from accel_toolkit.distributed._sweep import _Sweep

    client = Client(cluster.address, timeout=30, set_as_default=False)
    try:
        fut = client.submit(time.sleep, 60, pure=False)
        assert cluster.scheduler is not None
        cluster.scheduler.send_signal(signal.SIGKILL)
        deadline = time.monotonic() + 90
        while client.status != "closed" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert client.status == "closed"
        sweep = _Sweep.__new__(_Sweep)
        sweep.client, sweep.pending = client, {fut: None}
        sweep._cancel_pending()  # raised ClosedClientError before the fix
    finally:
        client.close()


def test_a_worker_of_another_version_is_refused(tmp_path, db_path):
    preload = tmp_path / "other_version.py"
    preload.write_text(
        "from accel_toolkit.distributed import AcceleratorPlugin\n\n\n"
        "async def dask_setup(worker):\n"
        "    await worker.plugin_add(AcceleratorPlugin(backends=['cpu'], version='0.0.1'),\n"
        "                            name='accel_toolkit')\n"
    )
    c = Cluster(tmp_path)
    try:
        c.start_scheduler()
        c.start_worker(preload=str(preload))
        c.wait_for_workers(1)
        with pytest.raises(
            VersionMismatchError, match="runs accel-toolkit 0.0.1.*install accel-toolkit=="
        ):
            at.bench(
                "add_mul_relu",
                "cpu",
                grid=grid(2),
                settings=FAST,
                db=db_path,
                cluster=c.address,
                progress=False,
            )
        assert not cluster_info(c.address)["compatible"].any()
        c.start_worker()  # a worker of this version joins: the sweep runs there only
        c.wait_for_workers(2)
        with pytest.warns(RefusedWorkerWarning, match="0.0.1"):
            df = at.bench(
                "add_mul_relu",
                "cpu",
                grid=grid(4),
                settings=FAST,
                db=db_path,
                cluster=c.address,
                progress=False,
            )
        assert (df["status"] == "ok").all() and len(df) == 4
        ok = cluster_info(c.address).query("compatible")
        assert set(df["env_id"]) <= set(ok["env_id"])
        assert {
            json.loads(e)["worker"]
            for e in Store(db_path).query("SELECT extra FROM measurements WHERE status = 'ok'")[
                "extra"
            ]
        } <= set(ok["address"])
    finally:
        c.stop()


def test_parallel_starts_a_local_cluster(db_path):
    df = at.bench(
        "add_mul_relu", "cpu", grid=grid(4), settings=FAST, db=db_path, parallel=2, progress=False
    )
    assert len(df) == 4 and (df["status"] == "ok").all()
    extra = Store(db_path).query("SELECT extra FROM measurements")["extra"].map(json.loads)
    assert all(e["where"] == "any" and e["worker"].startswith("tcp://") for e in extra)


@pytest.mark.slow
@pytest.mark.browser
def test_browsers_killed_in_a_workers_pool_lose_and_duplicate_nothing(tmp_path, db_path):
    """One worker with a browser, one cpu-only; the browser is SIGKILLed every few seconds."""
    from distributed import Client

    c = Cluster(tmp_path)
    try:
        c.start_scheduler()
        c.start_worker()
        c.workers.append(
            c._spawn(
                [
                    "distributed.cli.dask_worker",
                    c.address,
                    "--host",
                    "127.0.0.1",
                    "--nthreads",
                    "2",
                    "--no-nanny",
                    "--no-dashboard",
                    "--preload",
                    "accel_toolkit.distributed",
                ],
                env={
                    "ACCEL_TOOLKIT_WORKER_BACKENDS": "cpu,webnn",
                    "ACCEL_TOOLKIT_WORKER_BROWSERS": "1",
                },
                log="worker",
            )
        )
        c.wait_for_workers(2)
        if not cluster_info(c.address)["backends"].str.contains("webnn").any():
            pytest.skip("webnn unavailable on this machine")
        kills: list[int] = []
        stop = threading.Event()

        def killer() -> None:
            def pick(dask_worker: Any) -> list[int]:  # runs on the workers
                pool = dask_worker.plugins["accel_toolkit"].pool
                return [
                    b.session.pid
                    for b in pool._open.values()
                    if getattr(b, "session", None) is not None and b.session.pid
                ]

            with Client(c.address, timeout=30, set_as_default=False) as client:
                while not stop.wait(4.0) and len(kills) < 3:
                    pids = [
                        p
                        for v in client.run(pick, on_error="ignore").values()
                        if isinstance(v, list)
                        for p in v
                    ]
                    for pid in pids:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGKILL)
                            kills.append(pid)

        t = threading.Thread(target=killer, daemon=True)
        t.start()
        try:
            df = at.bench(
                "add_mul_relu",
                "cpu,webnn",
                grid=grid(20),
                settings=SLOWER,
                db=db_path,
                cluster=c.address,
                progress=False,
            )
        finally:
            stop.set()
            t.join(30)
        assert kills, "no browser was killed"
        rows = Store(db_path).query(
            "SELECT config_key, backend, status, error FROM measurements WHERE run_id = ?",
            [df["run_id"].iloc[0]],
        )
        assert len(rows) == 40 and not rows.duplicated(["config_key", "backend"]).any()
        bad = rows[rows["status"] != "ok"]
        # a configuration is an error only when it crashed its browser max_crashes times
        assert bad["error"].str.contains("quarantined").all(), bad
    finally:
        c.stop()


def test_when_every_worker_leaves_the_rest_is_unavailable_and_resume_completes(cluster, db_path):
    def kill_all() -> None:
        for w in cluster.workers:
            w.send_signal(signal.SIGKILL)

    after_tasks(cluster.address, 10, kill_all)
    t0 = time.monotonic()
    df = at.bench(
        "add_mul_relu",
        "cpu",
        grid=grid(40),
        settings=SLOWER,
        db=db_path,
        cluster=cluster.address,
        progress=False,
    )
    assert time.monotonic() - t0 < 120  # it does not wait for workers that will not come
    run_id = df["run_id"].iloc[0]
    assert len(df) == 40 and df["config_key"].is_unique
    left = df[df["status"] == "unavailable"]
    assert len(left) > 0 and left["error"].str.contains("left the cluster mid-sweep").all()
    assert set(df["status"]) <= {"ok", "unavailable"}

    cluster.start_worker()
    cluster.wait_for_workers(1)
    at.bench(
        "add_mul_relu",
        "cpu",
        grid=grid(40),
        settings=SLOWER,
        db=db_path,
        cluster=cluster.address,
        resume=run_id,
        progress=False,
    )
    rows = Store(db_path).query(
        "SELECT config_key, status FROM measurements WHERE run_id = ?", [run_id]
    )
    ok = rows[rows["status"] == "ok"]
    assert len(ok) == 40 and ok["config_key"].is_unique


class _UnreachableScheduler:
    """The Dask client seam as a scheduler killed mid-sweep leaves it, before the client
    notices: still "running", its cached identity (refreshed without per-worker detail)
    naming no worker, and the scheduler itself unreachable."""

    status = "running"

    class scheduler:  # noqa: N801 - the client's attribute
        @staticmethod
        async def identity(n_workers: int = -1) -> dict[str, object]:
            raise OSError("connection refused")

    def scheduler_info(self, n_workers: int = -1) -> dict[str, object]:
        return {"workers": {}}

    def sync(self, func, *args, callback_timeout=None, **kwargs):  # type: ignore[no-untyped-def]
        import asyncio

        return asyncio.run(func(*args, **kwargs))


class _PendingFuture:
    def cancel(self) -> None:
        pass


def test_an_unreachable_scheduler_is_lost_not_a_cluster_without_workers(db_path) -> None:
    from accel_toolkit._api import SweepOptions
    from accel_toolkit.distributed._sweep import _Sweep, _Task
    from accel_toolkit.kernels import get_kernel

    plan = SweepOptions(kernels="softmax", backends="cpu", progress=False).plan()
    store = Store(db_path)
    run_id, _, env_id = plan.start(store)
    sweep = _Sweep(
        plan, store, _UnreachableScheduler(), "tcp://x:1", {}, run_id, env_id, "any", 0.1
    )
    spec, p, dtype = get_kernel("softmax"), {"rows": 4, "cols": 16}, "float32"
    sweep.pending[_PendingFuture()] = _Task(spec, p, dtype, "k", "cpu", 0, {"tcp://w:1"}, None)
    # the sweep turns OSError into "lost the scheduler, resume": nothing stored as unavailable
    with pytest.raises(OSError):
        sweep._orphans()
    assert store.count() == 0 and len(sweep.pending) == 1
