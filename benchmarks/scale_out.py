"""Scale-out figures: sweep throughput with more browsers and more Dask workers, and what a
sweep loses when workers and browsers are killed under it.

Prints, for ``--configs`` tiny configurations (``add_mul_relu`` sizes, half on ``webgpu``
and half on ``webnn``; 200 by default, as issue 22 asks):

1. **Throughput** in configurations per second (wall time of ``bench``, browser launches
   included) for: today's single-process sweep (one browser per backend, one at a time);
   2 browsers in one process (``browsers=2``: threads over the pool); a LocalCluster of 1
   and of 2 workers (``parallel=1|2``, one browser each).
2. **Loss**: the 2-worker LocalCluster sweep again, with one worker SIGKILLed when a third of
   the configurations are stored and a random browser SIGKILLed every ``--kill-every``
   seconds. It reports lost and duplicated rows (both should be 0) and the time to recover:
   from the worker's SIGKILL until every configuration it was measuring is stored (measured
   again on the other worker or on the worker its nanny restarts).

    .venv/bin/python benchmarks/scale_out.py [--configs 200] [--min-time 0.02]
        [--modes today,browsers2,workers1,workers2,loss] [--kill-every 5] [--db PATH]

Every sweep writes a fresh run to a temporary database (or ``--db``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import accel_toolkit as at
from accel_toolkit.harness import TimingSettings
from accel_toolkit.store import Store

BACKENDS = ("webgpu", "webnn")


def grid(configs: int) -> list[dict[str, int]]:
    """``configs // 2`` distinct tiny sizes: each measured on both backends."""
    return [{"n": 64 + 16 * i} for i in range(max(1, configs // len(BACKENDS)))]


def sweep(
    db: Path, g: list[dict[str, int]], timing: TimingSettings, **where: Any
) -> tuple[float, str]:
    t0 = time.perf_counter()
    df = at.bench(
        "add_mul_relu", ",".join(BACKENDS), grid=g, settings=timing, db=db, progress=False, **where
    )
    return time.perf_counter() - t0, str(df["run_id"].iloc[0])


def counts(db: Path, run_id: str) -> tuple[int, int, dict[str, int]]:
    rows = Store(db).query(
        "SELECT config_key, backend, status FROM measurements WHERE run_id = ?", [run_id]
    )
    unique = len(rows.drop_duplicates(["config_key", "backend"]))
    return len(rows), unique, rows["status"].value_counts().to_dict()


def _browser_pids(dask_worker: Any) -> list[int]:
    pool = dask_worker.plugins["accel_toolkit"].pool
    return [
        b.session.pid
        for b in pool._open.values()
        if getattr(b, "session", None) is not None and b.session.pid
    ]


def recovery(db: Path, run_id: str, killed: dict[str, Any]) -> str:
    """Seconds from the worker's SIGKILL until the last configuration assigned to it was
    stored."""
    from accel_toolkit.distributed._sweep import task_key

    if not killed.get("keys"):
        return "n/a (no configuration was in flight on the killed worker)"
    rows = Store(db).query(
        "SELECT config_key, backend, created_at FROM measurements WHERE run_id = ?", [run_id]
    )
    by_task = {
        task_key(run_id, r.config_key, r.backend, 0, None): r.created_at for r in rows.itertuples()
    }
    stored = [by_task[k] for k in killed["keys"] if k in by_task]
    if not stored:
        return "n/a (the killed tasks are not in this run)"
    late = max(stored).to_pydatetime() - killed["at"]
    return f"{late.total_seconds():.1f} s for {len(stored)} configuration(s) assigned to it"


def faulty_sweep(
    db: Path, g: list[dict[str, int]], timing: TimingSettings, kill_every: float
) -> tuple[float, str, dict[str, Any]]:
    """The 2-worker sweep with a worker and browsers SIGKILLed under it."""
    from distributed import Client, LocalCluster

    from accel_toolkit.distributed import AcceleratorPlugin

    total = len(g) * len(BACKENDS)
    kills: dict[str, Any] = {"worker": 0, "browser": 0}
    stop = threading.Event()
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=2, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        client.register_plugin(
            AcceleratorPlugin(backends=list(BACKENDS), browsers=1), name="accel_toolkit"
        )

        def killer() -> None:
            with Client(cluster.scheduler_address, set_as_default=False) as spy:
                while not stop.wait(kill_every):
                    executed = spy.run(
                        lambda dask_worker: dask_worker.state.executed_count, on_error="ignore"
                    )
                    if not kills["worker"] and sum(executed.values()) >= total // 3:
                        pids = spy.run(os.getpid, on_error="ignore")
                        victim = random.choice(sorted(pids))
                        kills["keys"] = list(spy.processing(workers=[victim]).get(victim, []))
                        kills["at"] = datetime.now(timezone.utc)
                        with contextlib.suppress(Exception):
                            os.kill(pids[victim], signal.SIGKILL)
                            kills["worker"] += 1
                        continue
                    found = [
                        p
                        for v in spy.run(_browser_pids, on_error="ignore").values()
                        if isinstance(v, list)
                        for p in v
                    ]
                    if found:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(random.choice(found), signal.SIGKILL)
                            kills["browser"] += 1

        t = threading.Thread(target=killer, daemon=True)
        t.start()
        try:
            wall, run_id = sweep(db, g, timing, client=client)
        finally:
            stop.set()
            t.join(30)
    return wall, run_id, kills


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", type=int, default=200)
    ap.add_argument(
        "--min-time", type=float, default=0.02, help="seconds of sampling per configuration"
    )
    ap.add_argument("--modes", default="today,browsers2,workers1,workers2,loss")
    ap.add_argument("--kill-every", type=float, default=5.0)
    ap.add_argument("--db", type=Path, default=None)
    args = ap.parse_args()
    timing = TimingSettings(
        warmup_time=0.005,
        target_sample_time=0.002,
        min_time=args.min_time,
        max_time=2 * args.min_time,
        min_samples=3,
    )
    g = grid(args.configs)
    n = len(g) * len(BACKENDS)
    db = args.db or Path(tempfile.mkdtemp()) / "scale_out.duckdb"
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    where = {
        "today": {},
        "browsers2": {"browsers": 2},
        "workers1": {"parallel": 1, "browsers": 1},
        "workers2": {"parallel": 2, "browsers": 1},
    }
    print(
        f"{n} configurations (add_mul_relu x {len(g)} sizes x {', '.join(BACKENDS)}), "
        f"{os.cpu_count()} cores, database {db}"
    )
    print(f"{'sweep':<12} {'wall s':>8} {'cfg/s':>7} {'rows':>5} {'unique':>6}  statuses")
    walls: dict[str, float] = {}
    for mode in modes:
        if mode == "loss":
            continue
        wall, run_id = sweep(db, g, timing, **where[mode])
        rows, unique, statuses = counts(db, run_id)
        walls[mode] = wall
        print(f"{mode:<12} {wall:8.1f} {n / wall:7.2f} {rows:5d} {unique:6d}  {statuses}")
    if "loss" in modes:
        wall, run_id, kills = faulty_sweep(db, g, timing, args.kill_every)
        rows, unique, statuses = counts(db, run_id)
        recover = recovery(db, run_id, kills)
        print(f"{'loss':<12} {wall:8.1f} {n / wall:7.2f} {rows:5d} {unique:6d}  {statuses}")
        print(
            f"killed {kills['worker']} worker(s) and {kills['browser']} browser(s): "
            f"lost {n - unique}, duplicated {rows - unique}; time to recover {recover}"
        )


if __name__ == "__main__":
    main()
