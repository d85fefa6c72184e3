"""A browser that dies or hangs mid-sweep: the configuration in flight is stored as an error,
the browser is relaunched, the sweep goes on, and nothing completed is lost or duplicated."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

import accel_toolkit as at
from accel_toolkit._api import plan_configs
from accel_toolkit.backends._pool import BackendPool
from accel_toolkit.backends.browser import WebNNBackend
from accel_toolkit.exceptions import BackendUnavailableError, BrowserCrashedError
from accel_toolkit.harness import TimingSettings
from accel_toolkit.kernels import config_key, get_kernel
from accel_toolkit.store import Store

pytestmark = [pytest.mark.slow, pytest.mark.browser]

KERNELS = "matmul,softmax,gelu,add_mul_relu"
# every configuration samples for at least 0.6 s, so a kill lands inside a request
SLOW = TimingSettings(
    warmup_time=0.02,
    target_sample_time=0.005,
    min_time=0.6,
    max_time=0.8,
    min_samples=5,
    noise_target=1e-9,
)


def test_sigkill_mid_sweep_stores_the_error_and_continues(db_path):
    pool = BackendPool()
    try:
        be = pool.get("webnn")
    except BackendUnavailableError as exc:
        pytest.skip(f"webnn unavailable: {exc}")
    session = be.session
    first_pid = session.pid
    assert first_pid and session.alive()
    killed: dict = {}

    def killer():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if session.completed >= 3 and session.in_flight is not None:
                time.sleep(0.3)  # well inside the 4th configuration's sampling
                killed.update(session.in_flight or {}, pid=session.pid, completed=session.completed)
                os.kill(session.pid, signal.SIGKILL)
                return
            time.sleep(0.01)

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    try:
        df = at.bench(
            KERNELS, "webnn", preset="tiny", settings=SLOW, db=db_path, progress=False, pool=pool
        )
    finally:
        t.join(5)
        relaunched_pid = be.session.pid
        launches = be.session.launches
        pool.close()

    assert killed.get("pid") == first_pid and killed["completed"] == 3, killed
    configs = plan_configs(KERNELS, preset="tiny")
    keys = [config_key(s.name, p, d) for s, p, d in configs]
    stored = Store(db_path).results()
    # every configuration exactly once, none lost, none duplicated
    assert sorted(stored["config_key"]) == sorted(keys) == sorted(df["config_key"])
    by_key = stored.set_index("config_key")
    crashed = by_key.loc[keys[3]]
    assert crashed["kernel"] == killed["kernel"]
    assert crashed["status"] == "error" and "BrowserCrashedError" in crashed["error"]
    assert "died" in crashed["error"] and str(first_pid) in crashed["error"]
    others = by_key.drop(index=keys[3])
    assert (others["status"] == "ok").all(), others[["kernel", "status", "error"]]
    assert others["n_samples"].min() >= 1
    # the browser was relaunched once and the rest of the sweep ran in the new one
    assert launches == 2 and relaunched_pid != first_pid
    assert Store(db_path).count("samples") == int(others["n_samples"].sum())


def test_a_hung_browser_is_killed_and_relaunched():
    try:
        be = WebNNBackend(time_limit_s=1.0)
    except BackendUnavailableError as exc:
        pytest.skip(f"webnn unavailable: {exc}")
    spec = get_kernel("softmax")
    p = spec.preset("tiny")[0]
    x = spec.make_inputs(p)
    try:
        pid = be.session.pid
        os.kill(pid, signal.SIGSTOP)  # the browser stops answering
        t0 = time.monotonic()
        with pytest.raises(BrowserCrashedError, match="did not answer"):
            be.run(spec, p, "float32", x)
        assert time.monotonic() - t0 < 20
        assert not be.session.alive()
        be.recover()
        assert be.session.pid != pid and be.session.alive()
        out = be.run(spec, p, "float32", x)
        assert spec.check(out, spec.reference(x, p), p, "float32").passed
    finally:
        be.close()
