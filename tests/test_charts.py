"""accel_toolkit.charts: every function returns an Altair chart with the right encodings."""

from __future__ import annotations

import json

import altair as alt
import numpy as np
import pandas as pd
import pytest

import accel_toolkit as at
from accel_toolkit import charts
from accel_toolkit.exceptions import ConfigError

CONFIG_TOOLTIPS = {"kernel", "params_label", "dtype", "backend", "device"}


@pytest.fixture(scope="module")
def cpu_rows(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """Real cpu measurements from two runs (so there is a history)."""
    db = tmp_path_factory.mktemp("charts") / "charts.duckdb"
    for _ in range(2):
        at.bench(
            "matmul,softmax,gelu",
            "cpu",
            preset="tiny",
            db=db,
            settings=at.TimingSettings.quick(),
            progress=False,
        )
    return at.Store(db).results()


def _as_second_backend(df: pd.DataFrame, name: str, factor: float) -> pd.DataFrame:
    """The same configurations as if measured ``factor`` times slower on backend ``name``.

    Only for checking chart arithmetic (speedups, ceilings); never stored.
    """
    out = df.copy()
    out["backend"] = name
    out["device"] = f"{name} device"
    for col in ("median_s", "ci_low_s", "ci_high_s", "first_run_s"):
        out[col] = out[col] * factor
    return out


def _walk(spec):
    if isinstance(spec, dict):
        yield spec
        for v in spec.values():
            yield from _walk(v)
    elif isinstance(spec, list):
        for v in spec:
            yield from _walk(v)


def _tooltip_fields(chart) -> set[str]:
    fields = set()
    for node in _walk(chart.to_dict()):
        tip = node.get("tooltip") if isinstance(node, dict) else None
        if isinstance(tip, list):
            fields |= {t["field"] for t in tip if isinstance(t, dict) and "field" in t}
    return fields


def _encodings(chart) -> list[dict]:
    return [n["encoding"] for n in _walk(chart.to_dict()) if isinstance(n.get("encoding"), dict)]


def test_latency_single_kernel_has_log_axes_error_bars_and_config_tooltips(cpu_rows):
    chart = charts.latency(cpu_rows[cpu_rows["kernel"] == "matmul"])
    assert isinstance(chart, alt.LayerChart)
    encs = _encodings(chart)
    assert any(
        e.get("x", {}).get("field") == "flops" and e["x"]["scale"]["type"] == "log" for e in encs
    )
    assert any(e.get("y", {}).get("field") == "median_s" for e in encs)
    assert any(
        e.get("y", {}).get("field") == "ci_low_s" and e.get("y2", {}).get("field") == "ci_high_s"
        for e in encs
    )
    assert CONFIG_TOOLTIPS <= _tooltip_fields(chart)


def test_latency_facets_several_kernels_and_accepts_bytes(cpu_rows):
    chart = charts.latency(cpu_rows, x="bytes")
    assert isinstance(chart, alt.FacetChart)
    spec = chart.to_dict()
    assert spec["facet"]["field"] == "kernel"
    assert any(e.get("x", {}).get("field") == "bytes" for e in _encodings(chart))


@pytest.mark.parametrize("bad", [None, [1, 2], "results"])
def test_charts_reject_non_frames(bad):
    for fn in (charts.latency, charts.roofline, charts.first_run, charts.history):
        with pytest.raises(ConfigError, match="DataFrame"):
            fn(bad)


def test_charts_name_missing_columns(cpu_rows):
    with pytest.raises(ConfigError, match="median_s"):
        charts.latency(cpu_rows.drop(columns=["median_s"]))
    with pytest.raises(ConfigError, match="'flops' or 'bytes'"):
        charts.latency(cpu_rows, x="seconds")


def test_charts_refuse_frames_without_successful_rows(cpu_rows):
    failed = cpu_rows.assign(status="error")
    with pytest.raises(ConfigError, match="no successful"):
        charts.latency(failed)
    with pytest.raises(ConfigError, match="no successful"):
        charts.roofline(failed)


def test_measured_ceilings_bound_every_point(cpu_rows):
    both = pd.concat([cpu_rows, _as_second_backend(cpu_rows, "webgpu", 4.0)])
    peaks = charts.ceilings(both)
    assert set(peaks["backend"]) == {"cpu", "webgpu"}
    ok = both[both["status"] == "ok"]
    for r in peaks.itertuples():
        rows = ok[ok["backend"] == r.backend]
        gflops = rows["flops"] / rows["median_s"] / 1e9
        gbps = rows["bytes"] / rows["median_s"] / 1e9
        assert r.peak_gflops == pytest.approx(gflops.max())
        assert r.peak_gbps == pytest.approx(gbps.max())
        # the roofline min(peak, bw * intensity) is never below a measured point
        roof = np.minimum(r.peak_gflops, r.peak_gbps * rows["flops"] / rows["bytes"])
        assert (gflops <= roof * (1 + 1e-9)).all()
    assert (peaks["source"] == "best measured").all()


def test_roofline_with_declared_ceilings(cpu_rows):
    chart = charts.roofline(cpu_rows, ceilings={"cpu": {"gflops": 500.0, "gbps": 40.0}})
    assert isinstance(chart, alt.LayerChart)
    roof = next(layer for layer in chart.to_dict()["layer"] if layer["mark"]["type"] == "line")
    name = roof["data"]["name"]
    values = chart.to_dict()["datasets"][name]
    assert {v["peak_gflops"] for v in values} == {500.0}
    for v in values:
        assert v["gflops"] == pytest.approx(min(500.0, 40.0 * v["intensity"]))
    assert {v["source"] for v in values} == {"declared"}
    assert CONFIG_TOOLTIPS <= _tooltip_fields(chart)
    enc = _encodings(chart)
    assert any(e.get("x", {}).get("field") == "intensity" for e in enc)
    with pytest.raises(ConfigError, match="gflops"):
        charts.roofline(cpu_rows, ceilings={"cpu": {"gflops": 1.0}})
    with pytest.raises(ConfigError, match="positive"):
        charts.roofline(cpu_rows, ceilings={"cpu": {"gflops": -1.0, "gbps": 2.0}})


def test_speedups_are_geometric_means_over_shared_configs(cpu_rows):
    latest = cpu_rows.drop_duplicates(["config_key", "backend"], keep="last")
    slow = _as_second_backend(latest, "webgpu", 4.0)
    fast = _as_second_backend(latest, "webnn", 0.5)
    fast = fast[fast["kernel"] != "gelu"]  # webnn shares no gelu config with cpu
    table = charts.speedups(pd.concat([cpu_rows, slow, fast]), baseline="cpu")
    by = {(r.kernel, r.backend): r for r in table.itertuples()}
    assert by[("matmul", "webgpu")].speedup == pytest.approx(0.25)
    assert by[("matmul", "webnn")].speedup == pytest.approx(2.0)
    assert by[("matmul", "cpu")].speedup == pytest.approx(1.0)
    assert ("gelu", "webnn") not in by
    assert by[("softmax", "webgpu")].n_configs == latest[latest["kernel"] == "softmax"].shape[0]


def test_speedup_heatmap_encodings_and_bad_baseline(cpu_rows):
    both = pd.concat([cpu_rows, _as_second_backend(cpu_rows, "webgpu", 2.0)])
    chart = charts.speedup_heatmap(both, baseline="cpu")
    encs = _encodings(chart)
    rect = next(e for e in encs if e.get("color", {}).get("field") == "speedup")
    assert rect["color"]["scale"]["type"] == "log"
    assert rect["color"]["scale"]["domainMid"] == 1
    assert {"kernel", "backend", "device", "speedup", "configs"} <= _tooltip_fields(chart)
    with pytest.raises(ConfigError, match="baseline backend 'webnn'.*cpu, webgpu"):
        charts.speedup_heatmap(both, baseline="webnn")


def test_history_marks_change_points_before_their_run(cpu_rows):
    matmul = cpu_rows[cpu_rows["kernel"] == "matmul"]
    key = matmul["config_key"].iloc[0]
    second_run = list(dict.fromkeys(matmul["run_id"]))[1]
    steps = pd.DataFrame(
        [{"config_key": key, "start_run_id": second_run, "kind": "regression", "ratio": 1.4}]
    )
    chart = charts.history(matmul, change_points=steps)
    assert isinstance(chart, alt.FacetChart)  # two configurations: one panel each
    spec = chart.to_dict()
    values = spec["datasets"][spec["data"]["name"]]
    rules = [v for v in values if v["layer"] == "change"]
    assert len(rules) == 1 and rules[0]["run_index"] == 1.5
    assert rules[0]["label"] == "regression ×1.4"
    assert CONFIG_TOOLTIPS | {"run_id", "median_s"} <= _tooltip_fields(chart)
    single = charts.history(
        matmul, config_keys=[key], change_points=[{"time": pd.Timestamp.now(tz="UTC")}]
    )
    assert isinstance(single, alt.LayerChart)
    with pytest.raises(ConfigError, match="start_run_id"):
        charts.history(matmul, config_keys=[key], change_points=[{"kind": "regression"}])


def test_first_run_chart_filters_backends(cpu_rows):
    both = pd.concat([cpu_rows, _as_second_backend(cpu_rows, "webgpu", 3.0)])
    chart = charts.first_run(both, backends=["webgpu"])
    assert isinstance(chart, alt.LayerChart)
    spec = chart.to_dict()
    data = spec["datasets"][spec["data"]["name"]]
    assert {d["backend"] for d in data} == {"webgpu"}
    assert {"first_run_s", "median_s"} <= _tooltip_fields(chart)
    assert isinstance(charts.first_run(both), alt.FacetChart)
    with pytest.raises(ConfigError, match="first-run"):
        charts.first_run(both, backends=["webnn"])


def test_every_chart_renders_offline_with_vl_convert(cpu_rows):
    vlc = pytest.importorskip("vl_convert")
    both = pd.concat([cpu_rows, _as_second_backend(cpu_rows, "webgpu", 2.0)])
    for chart in (
        charts.latency(both),
        charts.roofline(both),
        charts.speedup_heatmap(both),
        charts.history(both),
        charts.first_run(both),
    ):
        svg = vlc.vegalite_to_svg(chart.to_dict(), vl_version="6.4")
        assert svg.startswith("<svg") and "<path" in svg


def test_chart_data_is_json_safe(cpu_rows):
    spec = charts.latency(cpu_rows).to_dict()
    text = json.dumps(spec, allow_nan=False)
    assert "device_info" not in text  # only the chart columns are inlined


def test_history_levels_are_the_median_between_change_points(cpu_rows):
    matmul = cpu_rows[cpu_rows["kernel"] == "matmul"]
    key = matmul["config_key"].iloc[0]
    one = matmul[matmul["config_key"] == key]
    second_run = list(dict.fromkeys(one["run_id"]))[1]
    steps = [{"start_run_id": second_run, "kind": "improvement", "ratio": 0.5}]
    spec = charts.history(one, change_points=steps, levels=True).to_dict()
    assert len(spec["layer"]) == 4  # CI band, medians, fitted levels, the step's rule
    values = spec["datasets"][spec["data"]["name"]]
    series = {v["run_index"]: v["median_s"] for v in values if v["layer"] == "series"}
    levels = {v["run_index"]: v["level_s"] for v in values if v["layer"] == "level"}
    assert levels == series  # one run on each side of the step: each level is its run
    rule = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "rule")
    assert rule["encoding"]["color"]["value"] == charts.PALETTE["regression"]
    assert rule["encoding"]["color"]["condition"]["value"] == charts.PALETTE["improvement"]


def test_every_fixed_color_comes_from_the_palette(cpu_rows):
    import re
    from pathlib import Path

    from accel_toolkit.analysis import find_steps, synthetic_history

    src = Path(charts.__file__).parent
    for path in src.glob("*.py"):
        if path.name != "_theme.py":
            assert not re.search(r"#[0-9a-fA-F]{6}\b", path.read_text()), path.name
    both = pd.concat([cpu_rows, _as_second_backend(cpu_rows, "webgpu", 2.0)])
    cmp = pd.DataFrame(
        {
            "kernel": "matmul",
            "params": ['{"M": 8}', '{"M": 16}'],
            "dtype": "float32",
            "backend": "cpu",
            "venue": "process",
            "verdict": ["slower", "same"],
            "ratio": [1.5, 1.0],
            "ratio_ci_low": [1.4, 0.9],
            "ratio_ci_high": [1.6, 1.1],
            "p_value": [1e-4, 0.5],
            "test": "mann-whitney",
            "baseline_median_s": 1e-3,
            "candidate_median_s": [1.5e-3, 1e-3],
        }
    )
    hist = synthetic_history(1, 40, steps=[0.3], noise=0.02, seed=1)
    steps = find_steps(hist)
    specs = [
        c.to_dict()
        for c in (
            charts.first_run(both),
            charts.history(both),
            charts.compare_chart(cmp),
            charts.regression_chart(steps),
            charts.history_chart_with_steps(hist, steps),
        )
    ]
    colors = set(re.findall(r"#[0-9a-fA-F]{6}", json.dumps(specs)))
    assert colors and colors <= set(charts.PALETTE.values())


def test_theme_is_registered_with_altair_and_enabled_only_on_request(cpu_rows):
    chart = charts.latency(cpu_rows)
    assert "title" not in chart.to_dict().get("config", {})  # charts come back unthemed
    before = alt.theme.active
    with charts.enable_theme():
        assert alt.theme.active == charts.THEME
        config = chart.to_dict()["config"]
    assert alt.theme.active == before
    assert charts.THEME in alt.theme.names()
    assert config["title"]["color"] == charts.PALETTE["ink"]
