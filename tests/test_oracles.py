"""Every kernel against an independent oracle (``tests/oracles.py``).

The float64 reference (``KernelSpec.reference``: the cpu implementation re-run in float64)
must agree with the oracle to ~1e-9, so a math error in ``impl`` fails here instead of
becoming the truth the GPU backends are held to. The cpu backend (float32, float16) and
the in-process wgpu backend are checked against the oracle and against the reference; the
browser backends and the CUDA sources (on the CPU emulator) in the slow tier.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from edge_inputs import assert_matches, small_params
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracles import ORACLES

from accel_toolkit.backends import Backend, get_backend
from accel_toolkit.kernels import KERNELS, get_kernel

NAMES = sorted(KERNELS)


def test_every_registered_kernel_has_an_oracle() -> None:
    missing = [name for name in KERNELS if name not in ORACLES]
    assert not missing, (
        f"kernel(s) {', '.join(missing)} have no oracle: add one to tests/oracles.py "
        "(computed differently from the kernel's impl)"
    )


def _reference_agrees(name: str, p: dict, seed: int) -> None:
    spec = get_kernel(name)
    x = spec.make_inputs(p, "float32", seed)
    ref = spec.reference(x, p)
    want = ORACLES[name](x, p)
    assert ref.keys() == want.keys(), name
    for out, w in want.items():
        r = np.asarray(ref[out], dtype=np.float64).reshape(w.shape)
        scale = max(1.0, float(np.max(np.abs(w), initial=0.0)))
        if out == "q":  # an integer rounded from x / scale: exact, or one step at a .5 tie
            assert np.max(np.abs(r - w), initial=0) <= 1, (name, p)
            assert np.mean(r != w) < 0.01, (name, p)
            continue
        np.testing.assert_allclose(r, w, rtol=1e-9, atol=1e-9 * scale, err_msg=f"{name} {p}")


@pytest.mark.parametrize("name", NAMES)
def test_reference_matches_the_oracle_on_presets(name: str) -> None:
    spec = get_kernel(name)
    for p in spec.preset("tiny"):
        _reference_agrees(name, p, seed=0)


@pytest.mark.parametrize("name", NAMES)
def test_reference_matches_the_oracle_on_random_sizes(name: str) -> None:
    spec = get_kernel(name)

    @settings(
        max_examples=20,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(p=small_params(spec), seed=st.integers(0, 2**31 - 1))
    def check(p: dict, seed: int) -> None:
        _reference_agrees(name, p, seed)

    check()


def _against_both(be: Backend, name: str, p: dict, dtype: str, seed: int) -> None:
    spec = get_kernel(name)
    x = spec.make_inputs(p, dtype, seed)
    got = be.run(spec, p, dtype, x)
    assert_matches(name, got, x, p, dtype, f"{be.name} vs oracle")
    chk = spec.check(got, spec.reference(x, p), p, dtype)
    assert chk.passed, f"{be.name} vs reference {name} {p} {dtype}: {chk.describe()}"


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("name", NAMES)
def test_cpu_matches_the_oracle(name: str, dtype: str) -> None:
    spec = get_kernel(name)
    be = get_backend("cpu")
    for p in spec.preset("tiny"):
        x = spec.make_inputs(p, dtype, 0)
        assert_matches(name, be.run(spec, p, dtype, x), x, p, dtype, "cpu")

    @settings(
        max_examples=10,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(p=small_params(spec), seed=st.integers(0, 2**31 - 1))
    def check(p: dict, seed: int) -> None:
        x = spec.make_inputs(p, dtype, seed)
        assert_matches(name, be.run(spec, p, dtype, x), x, p, dtype, "cpu")

    check()


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
def test_wgpu_matches_the_oracle_and_the_reference(wgpu_backend: Backend, name: str) -> None:
    spec = get_kernel(name)
    dtypes = ["float32"] + (["float16"] if "shader-f16" in wgpu_backend.features else [])
    for dtype in dtypes:
        for p in spec.preset("tiny"):
            _against_both(wgpu_backend, name, p, dtype, seed=0)

    @settings(
        max_examples=6,
        deadline=None,
        derandomize=True,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.function_scoped_fixture,
        ],
    )
    @given(p=small_params(spec), dtype=st.sampled_from(dtypes), seed=st.integers(0, 2**31 - 1))
    def check(p: dict, dtype: str, seed: int) -> None:
        _against_both(wgpu_backend, name, p, dtype, seed)

    check()


# -- slow tier: browsers and the CUDA sources on the CPU emulator ----------------------------
def _open(kind: str) -> Backend:
    from accel_toolkit.exceptions import BackendUnavailableError

    try:
        return get_backend(kind)
    except BackendUnavailableError as exc:
        pytest.skip(f"{kind} unavailable here: {exc}")


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("kind", ["webgpu", "webnn"])
def test_browser_backends_match_the_oracle_and_the_reference(kind: str) -> None:
    """Every kernel x tiny preset in one browser session per backend."""
    be = _open(kind)
    failures = []
    try:
        for name in NAMES:
            spec = get_kernel(name)
            for dtype in ("float32", "float16"):
                for p in spec.preset("tiny"):
                    if be.supports(spec, p, dtype) is not None:
                        continue
                    try:
                        _against_both(be, name, p, dtype, seed=0)
                    except AssertionError as exc:
                        failures.append(str(exc))
    finally:
        be.close()
    assert not failures, "\n".join(failures)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_cuda_sources_match_the_oracle_on_the_cpu_emulator(name: str, tmp_path: Path) -> None:
    import test_cuda_backend as emu

    if emu._cxx() is None:
        pytest.skip("no C++20 compiler with _Float16 and ucontext for the CUDA CPU emulator")
    spec = get_kernel(name)
    for dtype in ("float32", "float16"):
        for p in spec.preset("tiny"):
            x = spec.make_inputs(p, dtype, 2)
            got = emu.emu_run(name, p, dtype, x, tmp_path)
            assert_matches(name, got, x, p, dtype, "cuda (emulated)")
