"""Exactly once: the store drops a retried or duplicated result; the pool retries a crashed
browser with backoff and quarantines a configuration that keeps crashing it (no Dask here)."""

from __future__ import annotations

import threading

import pytest

from accel_toolkit.backends._cpu import CpuBackend
from accel_toolkit.backends._pool import BackendPool, default_browsers
from accel_toolkit.exceptions import BrowserCrashedError
from accel_toolkit.harness import TimingSettings, inputs_or_reason
from accel_toolkit.kernels import get_kernel
from accel_toolkit.store import Store

QUICK = TimingSettings(
    warmup_time=0.002, target_sample_time=0.001, min_time=0.01, max_time=0.02, min_samples=3
)


def row(status: str = "ok", env: str = "machine-a", rnd: int = 0) -> dict:
    return {
        "run_id": "r1",
        "config_key": "add_mul_relu|n=64|float32",
        "kernel": "add_mul_relu",
        "backend": "cpu",
        "env_id": env,
        "status": status,
        "median_s": 1e-6,
        "extra": {"round": rnd},
    }


def test_a_duplicated_result_is_dropped(db_path):
    store = Store(db_path)
    first = store.add_result(row(), [1e-6, 2e-6])
    assert store.add_result(row(), [3e-6]) == first  # a task re-run after a worker died
    assert store.count() == 1 and store.count("samples") == 2
    # another machine, another round: their own rows
    store.add_result(row(env="machine-b"))
    store.add_result(row(rnd=1))
    assert store.count() == 3


def test_a_resumed_success_is_kept_after_a_failure_but_not_a_second_failure(db_path):
    store = Store(db_path)
    failed = store.add_result(row("error"))
    assert store.add_result(row("unavailable")) == failed
    ok = store.add_result(row("ok"))
    assert ok != failed and store.count() == 2
    assert store.add_result(row("ok")) == ok and store.add_result(row("error")) == ok
    assert store.count() == 2


class CrashingCpu(CpuBackend):
    """A backend whose "browser" dies on the first ``crashes`` measurements."""

    name = "cpu"

    def __init__(self, crashes: int, log: list[str]):
        super().__init__()
        self.crashes, self.log = crashes, log

    def measure(self, spec, params, dtype, inputs, settings):  # type: ignore[no-untyped-def]
        if self.crashes > 0:
            self.crashes -= 1
            self.log.append("crash")
            raise BrowserCrashedError("the browser died (pid 1234)")
        return super().measure(spec, params, dtype, inputs, settings)

    def recover(self) -> None:
        self.log.append("relaunch")


def measure(pool: BackendPool) -> dict:
    spec = get_kernel("add_mul_relu")
    p = spec.preset("tiny")[0]
    made = inputs_or_reason(spec, p, "float32", 0)
    assert not isinstance(made, str)
    row, _ = pool.measure("cpu", spec, p, "float32", 0, *made, QUICK)
    return row


def test_a_crashed_browser_is_relaunched_and_the_configuration_retried():
    log: list[str] = []
    pool = BackendPool(instances={"cpu": CrashingCpu(2, log)}, max_crashes=3, backoff=0.01)
    assert measure(pool)["status"] == "ok"
    assert log == ["crash", "relaunch", "crash", "relaunch"] and pool.relaunches == 2


def test_a_configuration_that_keeps_crashing_browsers_is_quarantined():
    log: list[str] = []
    pool = BackendPool(instances={"cpu": CrashingCpu(10, log)}, max_crashes=3, backoff=0.01)
    r = measure(pool)
    assert r["status"] == "error" and "quarantined after 3 browser crashes" in r["error"]
    assert log.count("crash") == 3


def test_one_crash_is_an_error_at_once_by_default():
    pool = BackendPool(instances={"cpu": CrashingCpu(10, [])}, backoff=0.01)
    r = measure(pool)
    assert r["status"] == "error" and "BrowserCrashedError" in r["error"]


def test_a_lease_waits_for_a_free_instance():
    """One browser in the pool: two threads take turns with it, never use it at once."""
    shared = CpuBackend()  # stands in for a browser: no Chromium needed
    pool = BackendPool(instances={"webgpu": shared}, browsers=1)
    inside: list[int] = []
    overlap: list[bool] = []

    def use() -> None:
        for _ in range(3):
            with pool.lease("webgpu") as lease:
                assert lease.get("webgpu") is shared
                inside.append(1)
                overlap.append(len(inside) > 1)
                threading.Event().wait(0.02)
                inside.pop()

    threads = [threading.Thread(target=use) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(overlap) == 6 and not any(overlap)


@pytest.mark.parametrize(("cores", "browsers"), [(1, 1), (2, 1), (8, 4)])
def test_default_pool_size_follows_the_cores(cores: int, browsers: int):
    assert default_browsers(cores) == browsers


def test_several_browsers_in_process_store_every_configuration_once(db_path):
    import accel_toolkit as at

    df = at.bench(
        "add_mul_relu,softmax", "cpu", settings=QUICK, db=db_path, browsers=2, progress=False
    )
    assert len(df) == 4 and df["config_key"].is_unique and (df["status"] == "ok").all()


def test_import_accel_toolkit_does_not_import_dask():
    import subprocess
    import sys

    code = (
        "import sys, accel_toolkit, accel_toolkit.distributed as d; d.ClusterError; "
        "print(any(m.split('.')[0] in ('dask', 'distributed') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_instance_get_opened_is_the_one_leases_use():
    pool = BackendPool()
    be = pool.get("cpu")
    with pool.lease("cpu") as lease:
        assert lease.get("cpu") is be
    pool.close()
