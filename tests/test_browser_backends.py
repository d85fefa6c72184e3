"""The webgpu and webnn backends in real headless Chromium (one browser per backend per module).

Every kernel at the ``tiny`` preset runs on webgpu (in each browser present) and on webnn, and
matches the numpy reference within its stated tolerance. What WebNN cannot run is listed here
explicitly and asserted to be reported as unsupported.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import numpy as np
import pytest

import accel_toolkit as at
from accel_toolkit.backends import get_backend
from accel_toolkit.backends.browser import WebGPUBackend, WebNNBackend, _discover
from accel_toolkit.exceptions import (
    BackendUnavailableError,
    ResourceLimitError,
    ShaderCompileError,
    UnsupportedKernelError,
)
from accel_toolkit.harness import TimingSettings
from accel_toolkit.kernels import KERNELS, get_kernel
from accel_toolkit.store import Store

pytestmark = [pytest.mark.slow, pytest.mark.browser]

QUICK = TimingSettings.quick()
TINY = [(name, p) for name, spec in KERNELS.items() for p in spec.preset("tiny")]
TINY_IDS = [f"{n}-{i % 2}" for i, (n, _) in enumerate(TINY)]


def _browsers() -> list[str]:
    try:
        found = _discover.find_browsers()
    except BackendUnavailableError:
        return []
    return [s.executable for s in found]


def _open(cls, **options):
    try:
        return cls(**options)
    except BackendUnavailableError as exc:
        pytest.skip(f"{cls.name} unavailable here: {exc}")


@pytest.fixture(scope="module", params=_browsers() or ["none"])
def webgpu(request):
    if request.param == "none":
        pytest.skip("no Chrome/Chromium found (run make install)")
    be = _open(WebGPUBackend, browser=request.param)
    yield be
    be.close()


@pytest.fixture(scope="module")
def webnn():
    be = _open(WebNNBackend)
    yield be
    be.close()


def _check(be, name, params, dtype):
    spec = get_kernel(name)
    inputs = spec.make_inputs(params, dtype, 0)
    m = be.measure(spec, params, dtype, inputs, QUICK)
    check = spec.check(m.outputs, spec.reference(inputs, params), params, dtype)
    assert check.passed, f"{be.name} {name} {params} {dtype}: {check.describe()}"
    assert len(m.timing.samples) >= 1 and np.all(m.timing.samples > 0)
    assert m.timing.first_run_s > 0 and m.venue == "headless"
    return m


@pytest.mark.parametrize("name,params", TINY, ids=TINY_IDS)
def test_webgpu_matches_reference(webgpu, name, params):
    spec = get_kernel(name)
    assert webgpu.supports(spec, params, "float32") is None
    m = _check(webgpu, name, params, "float32")
    assert m.timing.timer in ("timestamp-query", "submitted-work-done")
    assert m.device["adapter"]["vendor"] and m.device["browser_version"]


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("name,params", TINY, ids=TINY_IDS)
def test_webnn_matches_reference(webnn, name, params, dtype):
    reason = webnn.supports(get_kernel(name), params, dtype)
    assert reason is None, reason
    m = _check(webnn, name, params, dtype)
    assert m.timing.timer == "webnn-compute" and "compile_s" in m.timing.extra
    assert m.device["webnn_device_type"] == "cpu"


# -- explicitly unsupported -----------------------------------------------------------------
#: WebNN cases this library reports as unsupported (kernel, params, dtype, words in the reason)
WEBNN_UNSUPPORTED = [
    ("matmul_int8", {"M": 4, "N": 4, "K": 2048}, "float32", "int32 accumulation"),
    ("matmul_int8", {"M": 2, "N": 3, "K": 1041}, "float16", "K <= 1040"),
]


@pytest.mark.parametrize("name,params,dtype,words", WEBNN_UNSUPPORTED)
def test_webnn_unsupported_cases_are_reported(webnn, name, params, dtype, words, db_path):
    spec = get_kernel(name)
    p = spec.resolve(params)
    reason = webnn.supports(spec, p, dtype)
    assert reason and words in reason
    with pytest.raises(UnsupportedKernelError, match=words):
        webnn.run(spec, p, dtype, spec.make_inputs(p, dtype))
    with pytest.raises(UnsupportedKernelError):
        at.run(name, webnn, dtype=dtype, **params)
    from accel_toolkit.backends._pool import BackendPool

    class _Shared(BackendPool):  # the module's browser, not a new one
        def get(self, n):
            return webnn

    df = at.bench(
        name,
        "webnn",
        grid=[params],
        dtypes=dtype,
        settings=QUICK,
        db=db_path,
        progress=False,
        pool=_Shared(),
    )
    assert list(df["status"]) == ["unsupported"] and words in df["error"].iloc[0]


def test_webgpu_float16_needs_shader_f16(webgpu):
    spec = get_kernel("matmul")
    p = spec.preset("tiny")[0]
    reason = webgpu.supports(spec, p, "float16")
    if "shader-f16" in webgpu.info["webgpu"]["features"]:
        assert reason is None
        _check(webgpu, "matmul", p, "float16")
    else:
        assert reason and "shader-f16" in reason


def test_webnn_needs_a_browser_with_webnn():
    system = [s for s in _discover._system_specs()]
    if not system:
        pytest.skip("no system Chromium to compare with")
    try:
        be = WebNNBackend(browser=system[0].executable)
    except BackendUnavailableError as exc:
        assert "WebNN" in str(exc) and (
            "sparticuz" in str(exc) or "ACCEL_TOOLKIT_BROWSER" in str(exc)
        )
    else:  # this system browser has WebNN after all: then it must compute correctly
        with be:
            _check(be, "softmax", get_kernel("softmax").preset("tiny")[0], "float32")


# -- errors from the page map onto the exception tree ------------------------------------------
def test_shader_compile_error_names_shader_and_line(webgpu):
    from accel_toolkit.backends import _wgsl

    spec = get_kernel("gelu")
    p = spec.preset("tiny")[0]
    plan = _wgsl.build_plan(spec, p, "float32")
    shader = next(iter(plan.shaders))
    lines = plan.shaders[shader].split("\n")
    bad_line = len(lines) - 1
    lines[bad_line - 1] += " let broken: f32 = ;"
    broken = plan.with_shader(shader, "\n".join(lines))
    with pytest.raises(ShaderCompileError) as err:
        webgpu.run_plan(broken, spec.make_inputs(p))
    assert err.value.shader == shader and err.value.line == bad_line
    assert shader in str(err.value) and "gelu" in str(err.value)
    # the browser is still fine afterwards
    _check(webgpu, "gelu", p, "float32")


def test_resource_limits_are_checked_before_dispatch(webgpu):
    spec = get_kernel("matmul")
    side = 1 << 15  # 4 GiB per operand, more than any adapter's maxBufferSize here
    with pytest.raises(ResourceLimitError, match="maxBufferSize|maxStorageBufferBindingSize"):
        webgpu.run(spec, spec.resolve(M=side, N=side, K=side), "float32", {})


def test_device_info_records_where_it_ran(webgpu, webnn):
    for be in (webgpu, webnn):
        d = be.device_info()
        assert d["backend"] == be.name and d["venue"] == "headless"
        assert d["executable"] and d["browser_version"] and "--no-sandbox" in d["flags"]
        assert d["cross_origin_isolated"] is True  # 5 us performance.now() in the page
        assert set(d["adapter"]) >= {
            "vendor",
            "architecture",
            "device",
            "description",
            "isFallbackAdapter",
        }
        json.dumps(d)
    assert webgpu.device_info()["limits"]["maxBufferSize"] > 0 and webgpu.device_info()["features"]
    assert webnn.device_info()["webnn_device_type"] == "cpu"


def test_works_from_inside_a_running_event_loop(webnn):
    """A Jupyter kernel runs an asyncio loop; Playwright's sync API lives on its own thread."""
    spec = get_kernel("add_mul_relu")
    p = spec.preset("tiny")[0]

    async def main():
        out = webnn.run(spec, p, "float32", spec.make_inputs(p))
        be = WebNNBackend()  # launching inside the loop works too
        try:
            return out, be.run(spec, p, "float32", spec.make_inputs(p))
        finally:
            be.close()

    a, b = asyncio.run(main())
    ref = spec.reference(spec.make_inputs(p), p)["y"]
    assert np.allclose(a["y"], ref, atol=1e-6) and np.array_equal(a["y"], b["y"])


@pytest.mark.parametrize("transport", ["http", "base64"])
def test_every_transport_gives_the_same_answers(transport, webnn):
    """auto (the fixtures) sends tiny payloads inline and large ones over the page server."""
    be = _open(WebNNBackend, transport=transport)
    spec = get_kernel("add_mul_relu")
    with be:
        for n in (64, 20000):  # 3 KiB and 312 KiB of inputs: both sides of the inline limit
            p = spec.resolve(n=n)
            x = spec.make_inputs(p, "float32", 1)
            m = _check(be, "add_mul_relu", p, "float32")
            assert m.timing.extra["transport"] == transport
            assert np.array_equal(
                be.run(spec, p, "float32", x)["y"], webnn.run(spec, p, "float32", x)["y"]
            )
        _check(be, "quantize_int8", get_kernel("quantize_int8").preset("tiny")[1], "float32")


# -- the command line ----------------------------------------------------------------------------
def _cli(*args, timeout=240):
    return subprocess.run(
        [sys.executable, "-m", "accel_toolkit.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_cli_bench_stores_rows_for_every_backend(db_path):
    backends = ["cpu", "webgpu", "webnn", "wgpu"]
    r = _cli(
        "bench",
        "--kernels",
        "matmul,softmax",
        "--backends",
        ",".join(backends),
        "--preset",
        "tiny",
        "--time-budget",
        "0.05",
        "--rounds",
        "1",
        "--db",
        str(db_path),
    )
    df = Store(db_path).results()
    assert set(df["backend"]) == set(backends), r.stderr[-2000:]
    assert len(df) == 4 * len(backends)
    for be in ("cpu", "webgpu", "webnn", "wgpu"):
        rows = df[df["backend"] == be]
        assert (rows["status"] == "ok").all(), rows[["kernel", "status", "error"]].to_string()
        assert rows["device"].notna().all()
    browser_rows = df[df["backend"].isin(["webgpu", "webnn"])]
    assert (browser_rows["venue"] == "headless").all()
    for info in browser_rows["device_info"]:
        info = json.loads(info) if isinstance(info, str) else info
        assert info["browser_version"] and info["executable"] and info["adapter"]["vendor"]
    assert r.returncode == 0, r.stderr[-2000:]


def test_cli_doctor_lists_browser_backends_with_adapter():
    r = _cli("doctor", "--json", "--backends", "webgpu,webnn")
    assert r.returncode == 0, r.stderr
    found = {a["name"]: a for a in json.loads(r.stdout)}
    assert set(found) == {"webgpu", "webnn"}
    for a in found.values():
        assert a["available"], a["reason"]
        assert a["device"]["adapter"]["vendor"] and a["device"]["browser_version"]
    assert found["webgpu"]["device"]["limits"]["maxComputeWorkgroupSizeX"] > 0
    assert found["webnn"]["device"]["webnn_device_type"] == "cpu"


def test_get_backend_by_name_with_browser_option():
    exe = _browsers()[-1] if _browsers() else None
    if exe is None:
        pytest.skip("no browser")
    be = get_backend("webgpu", browser=exe)
    try:
        assert be.device_info()["executable"] == exe
    finally:
        be.close()


def test_runtime_never_throws_across_the_boundary(webnn):
    """Bad requests come back as {ok: false, error} replies, typed for the exception tree."""
    s = webnn.session
    reply, bufs = s.request({"op": "nope"})
    assert reply["ok"] is False and reply["error"]["type"] == "KernelExecutionError" and bufs == []
    reply, _ = s.request({"op": "run", "backend": "metal"})
    assert reply["ok"] is False and "unknown backend" in reply["error"]["message"]
    # a graph the browser's MLGraphBuilder rejects is reported as unsupported by WebNN
    bad = {
        "kernel": "matmul",
        "key": "bad-shapes",
        "inputs": [
            {"name": "a", "dataType": "float32", "shape": [2, 3], "init": 0},
            {"name": "b", "dataType": "float32", "shape": [2, 3], "init": 1},
        ],
        "constants": [],
        "ops": [{"op": "matmul", "args": ["a", "b"], "options": {}, "out": "c"}],
        "outputs": [{"name": "c", "operand": "c", "dtype": "float32", "shape": [2, 3]}],
    }
    reply, _ = s.request(
        {"op": "run", "backend": "webnn", "graph": bad, "device_type": "cpu"},
        [bytes(24), bytes(24)],
    )
    assert reply["ok"] is False and reply["error"]["type"] == "UnsupportedKernelError"
    assert "cannot build matmul" in reply["error"]["message"]
    info, _ = s.request({"op": "info"})
    assert info["ok"] and info["info"]["webnn"]["devices"]["cpu"]["available"]
    # and the page still works
    _check(webnn, "gelu", get_kernel("gelu").preset("tiny")[0], "float32")
