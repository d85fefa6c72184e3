"""Every kernel at the numerical edges, against the oracle, on cpu and wgpu (fast tier).

Hypothesis draws the parameters (row lengths around every workgroup size), the dtype and
one of ``edge_inputs.KINDS`` (large magnitudes, one large value in any lane, all-equal
rows, zeros, negatives, float16 near overflow). The browser backends run the same cases in
``test_edges_browser.py`` (slow tier).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from edge_inputs import assert_matches, edge_case, edge_inputs
from hypothesis import HealthCheck, given, settings

from accel_toolkit.backends import Backend, get_backend
from accel_toolkit.kernels import KERNELS, array_ops, get_kernel

NAMES = sorted(KERNELS)
SLOW_OK = [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture]


def _run(be: Backend, name: str, case: tuple[dict, str, str, int, int]) -> None:
    p, dtype, kind, lane, seed = case
    spec = get_kernel(name)
    if be.supports(spec, p, dtype) is not None:
        return
    x = edge_inputs(name, p, dtype, kind, lane, seed)
    with np.errstate(over="ignore"):  # float16 results beyond 65504 are inf, as they must be
        got = be.run(spec, p, dtype, x)
    assert_matches(name, got, x, p, dtype, f"{be.name} {kind} lane={lane}")


@pytest.mark.parametrize("name", NAMES)
def test_cpu_at_the_edges(name: str) -> None:
    be = get_backend("cpu")

    @settings(max_examples=40, deadline=None, suppress_health_check=SLOW_OK)
    @given(case=edge_case(name))
    def check(case: tuple[dict, str, str, int, int]) -> None:
        _run(be, name, case)

    check()


def test_softmax_single_large_value_in_an_odd_or_even_lane() -> None:
    """The case a max reduction that stops one step early gets wrong (NaN)."""
    spec = get_kernel("softmax")
    for cols in (2, 3, 33, 130):
        for lane in (0, 1, cols - 1):
            p = spec.resolve(rows=2, cols=cols)
            x = edge_inputs("softmax", p, "float32", "spike", lane, seed=1)
            y = spec.impl(array_ops(np), x, p)["y"]
            assert np.allclose(y[:, lane], 1.0) and np.all(np.isfinite(y))


# -- wgpu (in process, lavapipe without a GPU) ------------------------------------------------
@pytest.fixture(scope="module")
def wgpu_backend() -> Iterator[Backend]:
    pytest.importorskip(
        "wgpu", reason="wgpu-py is not installed: pip install 'accel-toolkit[wgpu]'"
    )
    from accel_toolkit.backends._wgpu import WgpuBackend

    avail = WgpuBackend.probe()
    if not avail.available:
        pytest.skip(avail.reason)
    be = WgpuBackend()
    yield be
    be.close()


@pytest.mark.wgpu
@pytest.mark.parametrize("name", NAMES)
def test_wgpu_at_the_edges(wgpu_backend: Backend, name: str) -> None:
    dtypes = ("float32", "float16") if "shader-f16" in wgpu_backend.features else ("float32",)

    @settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=SLOW_OK)
    @given(case=edge_case(name, dtypes))
    def check(case: tuple[dict, str, str, int, int]) -> None:
        _run(wgpu_backend, name, case)

    check()


@pytest.mark.wgpu
@pytest.mark.parametrize("cols", [2, 3, 31, 33, 64, 129, 257])
def test_wgpu_softmax_large_value_in_every_lane_position(wgpu_backend: Backend, cols: int) -> None:
    """One row per lane: row ``r`` holds 1e4 at lane ``r`` (odd and even, every tree level)."""
    spec = get_kernel("softmax")
    p = spec.resolve(rows=cols, cols=cols)
    x = {"x": np.where(np.eye(cols, dtype=bool), 1e4, 0.5).astype(np.float32)}
    got = wgpu_backend.run(spec, p, "float32", x)
    assert_matches("softmax", got, x, p, "float32", "wgpu spike on the diagonal")


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_cuda_sources_at_the_edges_on_the_cpu_emulator(
    name: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The CUDA sources (``shaders/cuda``) run on the CPU through ``tests/cuda_emu``."""
    import test_cuda_backend as emu

    if emu._cxx() is None:
        pytest.skip("no C++20 compiler with _Float16 and ucontext for the CUDA CPU emulator")
    workdir = tmp_path_factory.mktemp("cuda_emu_edges")

    @settings(max_examples=6, deadline=None, derandomize=True, suppress_health_check=SLOW_OK)
    @given(case=edge_case(name))
    def check(case: tuple[dict, str, str, int, int]) -> None:
        p, dtype, kind, lane, seed = case
        x = edge_inputs(name, p, dtype, kind, lane, seed)
        got = emu.emu_run(name, p, dtype, x, workdir)
        assert_matches(name, got, x, p, dtype, f"cuda (emulated) {kind} lane={lane}")

    check()
