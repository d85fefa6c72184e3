"""The notebook API: run, bench sweeps, failure handling, interruption and resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
from interrupting import InterruptingCpu

import accel_toolkit as at
from accel_toolkit.backends._cpu import CpuBackend
from accel_toolkit.backends._pool import BackendPool
from accel_toolkit.exceptions import ConfigError, UnknownBackendError
from accel_toolkit.harness import TimingSettings
from accel_toolkit.store import Store

QUICK = TimingSettings.quick()


def test_run_checks_against_reference():
    r = at.run("matmul", "cpu", M=8, N=4, K=3)
    assert r.passed and r.outputs["c"].shape == (8, 4)
    assert "ok" in r._repr_html_()


def test_list_kernels():
    df = at.list_kernels()
    assert {"matmul", "attention", "reduce"} <= set(df["kernel"])


def test_bench_stores_every_configuration(db_path):
    df = at.bench(
        "matmul,softmax", "cpu", preset="tiny", settings=QUICK, db=db_path, tag="t", progress=False
    )
    assert len(df) == 4
    assert (df["status"] == "ok").all()
    assert df["venue"].eq("process").all() and df["device"].notna().all()
    assert (df["ci_low_s"] <= df["median_s"]).all() and (df["median_s"] <= df["ci_high_s"]).all()
    s = Store(db_path)
    assert s.count("samples") == int(df["n_samples"].sum())
    run = s.runs().iloc[0]
    assert run["status"] == "complete" and run["tag"] == "t"


def test_bench_shuffle_measures_in_a_seeded_random_order(db_path):
    grid = [{"M": m, "N": 4, "K": 4} for m in range(1, 9)]
    df = at.bench("matmul", "cpu", grid=grid, settings=QUICK, db=db_path, progress=False, shuffle=3)
    measured = [p["M"] for p in df.sort_values("created_at")["params"]]
    assert measured == [grid[i]["M"] for i in np.random.default_rng(3).permutation(8)]
    assert sorted(measured) == list(range(1, 9))
    s = Store(db_path)
    settings = s.runs()["settings"].map(lambda v: json.loads(v) if isinstance(v, str) else v)
    assert settings.iloc[0]["order_seed"] == 3
    df2 = at.bench(
        "matmul", "cpu", grid=grid, settings=QUICK, db=db_path, progress=False, shuffle=True
    )
    assert sorted(p["M"] for p in df2["params"]) == list(range(1, 9))
    with pytest.raises(ConfigError, match="shuffle"):
        at.bench("matmul", "cpu", grid=grid, settings=QUICK, db=db_path, progress=False, shuffle=-1)


def test_pinned_params_and_unknown_names(db_path):
    df = at.bench("matmul", "cpu", params={"K": 5}, settings=QUICK, db=db_path, progress=False)
    assert all(p["K"] == 5 for p in df["params"])
    with pytest.raises(UnknownBackendError, match="Did you mean 'webgpu'"):
        at.bench("matmul", "webgpo", db=db_path, progress=False)
    with pytest.raises(ConfigError, match="belong to none"):
        at.bench("softmax", "cpu", params={"K": 5}, db=db_path, progress=False)


class WrongCpu(CpuBackend):
    """A backend that returns wrong numbers for softmax (a fake at the backend seam)."""

    def measure(self, spec, params, dtype, inputs, settings):
        m = super().measure(spec, params, dtype, inputs, settings)
        if spec.name == "softmax":
            m.outputs["y"] = m.outputs["y"] + 1.0
        return m


class ExplodingCpu(CpuBackend):
    def measure(self, spec, params, dtype, inputs, settings):
        if spec.name == "softmax":
            raise RuntimeError("driver fell over")
        return super().measure(spec, params, dtype, inputs, settings)


def test_failures_are_stored_and_the_sweep_continues(db_path):
    pool = BackendPool(instances={"cpu": WrongCpu(), "boom": ExplodingCpu()})
    df = at.bench(
        "softmax,matmul", ["cpu", "boom"], settings=QUICK, db=db_path, pool=pool, progress=False
    )
    by = df.set_index(["kernel", "backend"])["status"]
    assert set(by.loc[("softmax", "cpu")]) == {"mismatch"}
    assert set(by.loc[("softmax", "boom")]) == {"error"}
    assert set(by.loc[("matmul", "cpu")]) == {"ok"} and set(by.loc[("matmul", "boom")]) == {"ok"}
    err = df[(df.kernel == "softmax") & (df.backend == "boom")]["error"].iloc[0]
    assert "driver fell over" in err


def test_interrupted_sweep_keeps_results_and_resumes(db_path):
    pool = BackendPool(instances={"cpu": InterruptingCpu(after=3)})
    with pytest.raises(KeyboardInterrupt):
        at.bench(
            "matmul,softmax,gelu", "cpu", settings=QUICK, db=db_path, pool=pool, progress=False
        )
    s = Store(db_path)
    assert s.count() == 3
    run = s.runs().iloc[0]
    assert run["status"] == "interrupted"
    df = at.bench(
        "matmul,softmax,gelu",
        "cpu",
        settings=QUICK,
        db=db_path,
        resume=run["run_id"],
        progress=False,
    )
    assert len(df) == 6 and df["status"].eq("ok").all()
    assert df["config_key"].nunique() == 6  # nothing measured twice
    assert s.runs().iloc[0]["status"] == "complete"


def test_unavailable_backend_is_stored_with_the_reason(db_path):
    df = at.bench("matmul", ["cpu", "cuda"], settings=QUICK, db=db_path, progress=False)
    cuda = df[df.backend == "cuda"]
    assert len(cuda) == 2
    assert cuda["status"].isin(["unavailable", "error"]).all()
    assert cuda["error"].str.len().gt(10).all()


def test_same_seed_same_inputs_across_sweeps(db_path):
    a = at.bench("matmul", "cpu", settings=QUICK, db=db_path, seed=3, progress=False)
    b = at.bench("matmul", "cpu", settings=QUICK, db=db_path, seed=3, progress=False)
    assert a["config_key"].tolist() == b["config_key"].tolist()
    assert np.allclose(a["max_abs_err"], b["max_abs_err"])


def test_bench_takes_exactly_the_sweep_options_plus_db_and_pool():
    """``SweepOptions`` defines the sweep's keywords once; ``bench`` spells them out with the
    same defaults, and ``TabRunner.bench`` passes them through."""
    import dataclasses
    import inspect

    from accel_toolkit._api import SweepOptions

    sig = inspect.signature(at.bench).parameters
    opts = {f.name: f.default for f in dataclasses.fields(SweepOptions)}
    assert set(sig) == {*opts, "db", "pool", "cluster", "client", "parallel", "where", "browsers"}
    for name, default in opts.items():
        if default is not dataclasses.MISSING:
            assert sig[name].default == default, name


def test_unknown_sweep_option_says_which_exist():
    from accel_toolkit._api import SweepOptions

    with pytest.raises(ConfigError, match="time_budget"):
        SweepOptions.from_kwargs(kernels="matmul", time_bugdet=1.0)
