"""The WGSL autotuner: its space, search, table, and the wgpu backend's use of its choices.

The unmarked tests need no GPU. The ``wgpu`` tier runs on a real adapter (lavapipe on a
machine without a GPU); a device whose results are corrupted after the fact (``_Drifted``)
stands in for a driver that changed under a stored winner.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from accel_toolkit.backends._compute_plan import knob_names, render_shader
from accel_toolkit.backends._wgsl_plans import (
    GEMM_KNOBS,
    ROW_KNOBS,
    gemm_knob_problem,
    row_knob_problem,
)
from accel_toolkit.exceptions import ConfigError, ParameterError, UnknownKernelError
from accel_toolkit.store import Store
from accel_toolkit.tuning import (
    SPACES,
    best,
    bucket,
    invalidate,
    knobs_key,
    lookup,
    tune,
    tuning_table,
)
from accel_toolkit.tuning._records import Point, add_points
from accel_toolkit.tuning._search import EXHAUSTIVE_MAX, search

SPACE = SPACES["matmul"]
TUNE_NB = Path(__file__).resolve().parent.parent / "notebooks" / "tune.ipynb"


# -- the space ---------------------------------------------------------------------------------
def test_every_point_is_well_formed_and_the_default_is_one():
    points = SPACE.points()
    assert len(points) > EXHAUSTIVE_MAX
    assert all(gemm_knob_problem(p) is None for p in points)
    assert dict(GEMM_KNOBS) in points
    assert not any(p["vec4"] and p["tn"] % 4 for p in points)
    rows = SPACES["softmax"].points()
    assert dict(ROW_KNOBS) in rows and len(rows) <= EXHAUSTIVE_MAX
    assert all(row_knob_problem(p) is None and 16 <= p["tx"] * p["rpw"] <= 256 for p in rows)


def test_limits_rule_points_out():
    big = {**GEMM_KNOBS, "wg_x": 16, "wg_y": 16, "tm": 8, "tn": 8, "tk": 32}  # 32 KiB staged
    assert "maxComputeWorkgroupStorageSize" in SPACE.limit_problem(
        big, {"max-compute-workgroup-storage-size": 32767}
    )
    assert SPACE.limit_problem(big, {"max-compute-workgroup-storage-size": 32768}) is None
    assert SPACE.limit_problem(big, {"max-compute-workgroup-storage-size": 1 << 20}) is None
    wide = {**GEMM_KNOBS, "wg_x": 32, "wg_y": 16}
    assert "invocations" in SPACE.limit_problem(wide, {"maxComputeInvocationsPerWorkgroup": 256})


def test_knobs_are_rewritten_on_their_own_lines():
    raw = render_shader("matmul.wgsl")
    src = render_shader("matmul.wgsl", knobs={"G_TM": 8, "G_SHARED": False})
    assert len(src.split("\n")) == len(raw.split("\n"))
    assert "const G_TM: u32 = 8u;" in src and "const G_SHARED: bool = false;" in src
    assert knob_names("matmul.wgsl")[:2] == ["G_WX", "G_WY"]
    with pytest.raises(ParameterError, match="no knob G_NOPE"):
        render_shader("matmul.wgsl", knobs={"G_NOPE": 1})
    with pytest.raises(ParameterError, match="vec4 needs tn"):
        from accel_toolkit.backends._wgsl import build_plan
        from accel_toolkit.kernels import get_kernel

        build_plan(get_kernel("matmul"), {}, "float32", "gemm", {"tn": 2, "vec4": True})


def test_buckets_split_by_the_cube_root_of_the_work():
    assert bucket("matmul", {"M": 64, "N": 64, "K": 64}) == "small"
    assert bucket("matmul", {"M": 512, "N": 512, "K": 512}) == "medium"
    assert bucket("matmul", {"M": 1024, "N": 1024, "K": 1024}) == "large"
    assert bucket("matmul", {"M": 4096, "N": 64, "K": 64}) == "medium"  # 256 cube
    assert bucket("softmax", {"rows": 4096, "cols": 128}) == "small"
    assert bucket("layernorm", {"rows": 8, "cols": 4096}) == "large"


# -- the search (pure: a fake clock and a cost function) ------------------------------------
class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _cost(p: dict) -> float:
    return 1.0 + abs(p["tm"] - 4) + abs(p["tn"] - 8) + (0 if p["shared"] else 0.5)


def test_halving_tries_the_default_first_and_narrows_within_the_budget():
    clock = _Clock()
    calls: list[tuple[dict, int]] = []

    def evaluate(p: dict, rung: int) -> float | None:
        clock.t += 0.1 * (4**rung)
        calls.append((p, rung))
        return None if p["tk"] == 32 else _cost(p)

    found = search(SPACE.points(), GEMM_KNOBS, 3, evaluate, 60.0, clock=clock)
    assert found.mode == "halving"
    assert calls[0] == (dict(GEMM_KNOBS), 0)
    assert clock.t <= 60.0 + 0.1 * 16
    r0 = {knobs_key(p) for p, _ in found.tried[0]}
    for r in (1, 2):
        assert found.tried[r], f"rung {r} tried nothing"
        assert {knobs_key(p) for p, _ in found.tried[r]} <= r0
        prev_best = found.best(r - 1)[0]
        assert found.tried[r][0][0] == prev_best  # the winner so far, then
        assert dict(GEMM_KNOBS) in [p for p, _ in found.tried[r][:2]]  # the default
        assert len(found.tried[r]) <= max(2, len(found.tried[r - 1]) // 3) + 1
    win, secs = found.best(2)
    assert secs == min(s for _, s in found.tried[2] if s is not None)


def test_small_spaces_are_searched_exhaustively():
    pts = SPACE.points()[:6]
    seen: list[int] = []
    found = search(pts, pts[0], 2, lambda p, r: seen.append(r) or 1.0, 100.0, clock=_Clock())
    assert found.mode == "exhaustive"
    assert seen == [0] * 6 + [1] * 6


# -- the table -----------------------------------------------------------------------------
def _point(
    knobs: dict,
    status: str = "ok",
    chosen: bool = True,
    fp: str = "fp1",
    bucket_: str = "small",
    secs: float = 0.01,
) -> Point:
    return Point(
        "matmul",
        "gemm",
        "wgpu",
        fp,
        {"vendor": "x"},
        bucket_,
        {"M": 128},
        "float32",
        knobs,
        knobs_key(knobs),
        0,
        status,
        median_s=secs,
        chosen=chosen,
        session_id="s1",
    )


def test_tuning_table_round_trip_and_invalidation(db_path):
    store = Store(db_path)
    k1 = {**GEMM_KNOBS, "tm": 2}
    k2 = {**GEMM_KNOBS, "tm": 8}
    add_points(
        store,
        [_point(k1, chosen=False), _point(k2), _point(GEMM_KNOBS, "wrong_result", chosen=False)],
    )
    got = best(store, "matmul", "wgpu", "fp1", "small")
    assert got is not None and got.knobs == k2
    assert best(store, "matmul", "wgpu", "other-adapter", "small") is None
    assert best(store, "matmul", "wgpu", "fp1", "large") is None
    table = tuning_table(store, kernel="matmul")
    assert set(table["status"]) == {"ok", "wrong_result"} and len(table) == 3
    invalidate(store, got.tuning_id, "driver changed")
    assert best(store, "matmul", "wgpu", "fp1", "small") is None
    row = tuning_table(store).set_index("tuning_id").loc[got.tuning_id]
    assert row["status"] == "invalidated" and "driver changed" in row["error"]


def test_lookup_falls_back_to_the_default_and_invalidates_a_failing_winner(db_path):
    store = Store(db_path)
    k2 = {**GEMM_KNOBS, "tm": 8}
    add_points(store, [_point(k2)])
    p = {"M": 100, "N": 100, "K": 100}

    def ok(knobs):
        return "ok", 0.0, None

    def wrong(knobs):
        return "wrong_result", 3.0, "max abs err 3"

    assert lookup("matmul", "wgpu", "fp1", p, "float32", None, ok).source == "default"
    assert lookup("matmul", "wgpu", "nope", p, "float32", store, ok).knobs == GEMM_KNOBS
    tuned = lookup("matmul", "wgpu", "fp1", p, "float32", store, ok)
    assert tuned.source == "tuned" and tuned.knobs == k2
    bad = lookup("matmul", "wgpu", "fp1", p, "float32", store, wrong)
    assert bad.source == "invalidated" and bad.knobs == GEMM_KNOBS
    assert lookup("matmul", "wgpu", "fp1", p, "float32", store, ok).source == "default"


def test_bad_arguments_say_what_to_do(db_path):
    with pytest.raises(ConfigError, match="positive number of seconds"):
        tune("matmul", "wgpu", budget=0, db=str(db_path))
    with pytest.raises(UnknownKernelError, match="matmul"):
        tune("matmull", "wgpu", budget=1, db=str(db_path))
    with pytest.raises(ConfigError, match="no tunable WGSL variant"):
        tune("gelu", "wgpu", budget=1, db=str(db_path))
    with pytest.raises(ConfigError, match="use some of small, medium, large"):
        tune("matmul", "wgpu", budget=1, db=str(db_path), buckets=["huge"])
    with pytest.raises(ConfigError, match="runs no WGSL"):
        tune("matmul", "cpu", budget=1, db=str(db_path))


# -- on a real adapter ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def be():
    pytest.importorskip(
        "wgpu", reason="wgpu-py is not installed: pip install 'accel-toolkit[wgpu]'"
    )
    from accel_toolkit.backends._wgpu import WgpuBackend

    avail = WgpuBackend.probe()
    if not avail.available:
        pytest.skip(avail.reason)
    backend = WgpuBackend(tuning=False)
    yield backend
    backend.close()


def _drifted(be, bad_key: str):
    """A device whose results for knobs ``bad_key`` come back wrong (a changed driver)."""
    from accel_toolkit.tuning._devices import TuneDevice

    class _Drifted(TuneDevice):
        def run(self, plan, inputs):
            out = super().run(plan, inputs)
            if knobs_key(plan.knobs) == bad_key:
                out = {k: v + np.float32(1.0) for k, v in out.items()}
            return out

    return _Drifted(be)


@pytest.mark.wgpu
def test_a_wrong_result_point_is_recorded_invalid_and_never_chosen(be, db_path):
    bad = {**GEMM_KNOBS, "tm": 2, "tn": 4}
    dev = _drifted(be, knobs_key(GEMM_KNOBS))  # the default point itself now computes wrong
    report = tune(
        "matmul", [dev], budget=8, db=str(db_path), buckets=["small"], progress=False, seed=1
    )
    pts = report.points
    default_rows = pts[pts["knobs_key"] == knobs_key(GEMM_KNOBS)]
    assert list(default_rows["status"]) == ["wrong_result"]
    assert default_rows["max_abs_err"].iloc[0] >= 0.5
    assert (pts["status"] == "ok").sum() >= 1
    assert "limits" in set(pts["status"])  # lavapipe's 32 KiB rule out the largest tiles
    win = pts[pts["chosen"]]
    assert len(win) == 1 and win["status"].iloc[0] == "ok"
    assert win["knobs_key"].iloc[0] != knobs_key(GEMM_KNOBS)
    assert report.chosen.loc[0, "how"] == "searched"
    del bad


@pytest.mark.wgpu
def test_the_backend_uses_the_stored_winner_and_records_it(be, db_path):
    import accel_toolkit
    from accel_toolkit.backends._wgpu import WgpuBackend
    from accel_toolkit.tuning import fingerprint, fingerprint_key

    store = Store(db_path)
    fp = fingerprint_key(fingerprint("wgpu", be.device_info()))
    knobs = {**GEMM_KNOBS, "wg_x": 16, "wg_y": 4, "tm": 2, "tn": 4, "shared": False}
    add_points(store, [_point(knobs, fp=fp)])
    tuned = WgpuBackend(tuning=str(db_path))
    try:
        r = accel_toolkit.run("matmul", tuned, M=70, N=130, K=33)
        assert r.passed
        choice = tuned.tuning_choice(
            accel_toolkit.get_kernel("matmul"), {"M": 70, "N": 130, "K": 33}, "float32"
        )
        assert choice.source == "tuned" and dict(choice.knobs) == knobs
        df = accel_toolkit.bench(
            "matmul",
            "wgpu",
            grid=[{"M": 64, "N": 64, "K": 64}],
            db=str(db_path),
            time_budget=0.2,
            backend_options={"wgpu": {"tuning": str(db_path)}},
        )
        assert (df["status"] == "ok").all()
        raw = store.query("SELECT extra FROM measurements WHERE kernel = 'matmul'")["extra"]
        extra = json.loads(raw.iloc[-1])
        assert extra["timing"]["knobs"] == knobs
        assert extra["timing"]["tuning"]["source"] == "tuned"
        assert extra["timing"]["variant"] == "gemm"
    finally:
        tuned.close()
    untuned = WgpuBackend(tuning=False)
    try:
        choice = untuned.tuning_choice(
            accel_toolkit.get_kernel("matmul"), {"M": 64, "N": 64, "K": 64}, "float32"
        )
        assert choice.source == "default" and dict(choice.knobs) == GEMM_KNOBS
    finally:
        untuned.close()


@pytest.mark.wgpu
def test_a_winner_that_turns_wrong_is_invalidated_and_retuned(be, db_path):
    first = tune("matmul", [be], budget=3, db=str(db_path), buckets=["small"], progress=False)
    win = first.chosen.loc[0, "knobs"]
    again = tune("matmul", [be], budget=3, db=str(db_path), buckets=["small"], progress=False)
    assert again.chosen.loc[0, "how"] == "rechecked"  # only re-checked
    assert len(again.points) == 1
    dev = _drifted(be, win)
    third = tune("matmul", [dev], budget=3, db=str(db_path), buckets=["small"], progress=False)
    assert third.chosen.loc[0, "how"] == "searched"
    assert third.chosen.loc[0, "knobs"] != win
    table = tuning_table(Store(db_path))
    assert "invalidated" in set(table["status"])
    assert best(Store(db_path), "matmul", "wgpu", dev.key, "small").knobs != win


@pytest.mark.wgpu
def test_doctor_says_whether_this_adapter_is_tuned(be, db_path):
    from accel_toolkit.tuning import fingerprint, fingerprint_key, tuning_status

    store = Store(db_path)
    assert "not tuned" in tuning_status("wgpu", be.device_info(), str(db_path))
    fp = fingerprint_key(fingerprint("wgpu", be.device_info()))
    add_points(store, [_point(GEMM_KNOBS, fp=fp, bucket_="medium")])
    text = tuning_status("wgpu", be.device_info(), str(db_path))
    assert f"adapter {fp} tuned for matmul (medium)" in text


def test_the_tune_notebook_has_one_parameters_cell_and_no_outputs():
    import nbformat

    nb = nbformat.read(TUNE_NB, as_version=4)
    nbformat.validate(nb)
    assert [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")


@pytest.mark.slow
@pytest.mark.notebook
def test_the_tune_notebook_charts_a_stored_session(db_path, tmp_path):
    papermill = pytest.importorskip("papermill")

    store = Store(db_path)
    pts = [_point({**GEMM_KNOBS, "tm": t}, chosen=t == 2, secs=0.01 * t) for t in (1, 2, 4)]
    for i, p in enumerate(pts):
        p.extra = {"t_s": float(i)}
    add_points(store, pts)
    out = tmp_path / "tune.ipynb"
    papermill.execute_notebook(
        str(TUNE_NB),
        str(out),
        kernel_name="python3",
        parameters={"db_path": str(db_path), "run_tune": False},
    )
    text = out.read_text()
    assert "image/svg+xml" in text and "Session `s1`" in text


def test_a_rung_whose_first_point_would_overrun_is_skipped():
    clock = _Clock()

    def evaluate(p: dict, rung: int) -> float | None:
        clock.t += 0.5
        return _cost(p)

    found = search(
        SPACE.points(),
        GEMM_KNOBS,
        3,
        evaluate,
        30.0,
        clock=clock,
        estimate=lambda rung, best_s: 1000.0 if rung == 2 else 0.5,
    )
    assert found.tried[1] and not found.tried[2]
    assert found.best(2) is None and clock.t <= 30.0


@pytest.mark.slow
@pytest.mark.browser
def test_the_webgpu_backend_uses_the_stored_winner(db_path):
    pytest.importorskip("playwright")
    import accel_toolkit
    from accel_toolkit.backends.browser import WebGPUBackend
    from accel_toolkit.exceptions import BackendUnavailableError
    from accel_toolkit.tuning import fingerprint, fingerprint_key

    try:
        be = WebGPUBackend(tuning=str(db_path))
    except BackendUnavailableError as exc:
        pytest.skip(str(exc))
    try:
        store = Store(db_path)
        fp = fingerprint_key(fingerprint("webgpu", be.device_info()))
        knobs = {**GEMM_KNOBS, "wg_x": 8, "wg_y": 8, "tm": 4, "tn": 8}
        add_points(
            store,
            [
                Point(
                    "matmul",
                    "gemm",
                    "webgpu",
                    fp,
                    {},
                    "small",
                    {},
                    "float32",
                    knobs,
                    knobs_key(knobs),
                    0,
                    "ok",
                    median_s=0.01,
                    chosen=True,
                    session_id="s1",
                )
            ],
        )
        r = accel_toolkit.run("matmul", be, M=70, N=132, K=36)  # gemm4 (N, K % 4 == 0)
        assert r.passed
        choice = be.tuning_choice(
            accel_toolkit.get_kernel("matmul"), {"M": 70, "N": 132, "K": 36}, "float32"
        )
        assert choice.source == "tuned" and dict(choice.knobs) == knobs
        m = be.measure(
            accel_toolkit.get_kernel("matmul"),
            {"M": 64, "N": 64, "K": 64},
            "float32",
            accel_toolkit.get_kernel("matmul").make_inputs({"M": 64, "N": 64, "K": 64}, "float32"),
            accel_toolkit.TimingSettings.from_budget(0.2),
        )
        assert m.timing.extra["knobs"] == knobs and m.timing.extra["variant"] == "gemm"
        assert m.timing.extra["tuning"]["source"] == "tuned"
    finally:
        be.close()
