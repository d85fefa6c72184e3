"""The ``cuda`` backend (CuPy + the CUDA C++ sources of ``shaders/cuda/``).

Three tiers:

* fast, GPU-free (run everywhere): sources exist for every kernel, launch plans name only
  instances the sources define, ``probe()``/``get_backend`` say why CUDA is unavailable,
  ``doctor`` lists ``cuda``;
* ``slow``, GPU-free: every ``.cu`` file compiles with ``nvcc`` for sm_90 (skipped without
  nvcc), and the kernels' logic runs on the CPU through ``tests/cuda_emu/cuda_cpu_shim.h``
  (one OS thread per CUDA thread, skipped without a C++20 compiler) and matches the numpy
  reference on tiny, odd and edge sizes, float32 and float16;
* ``cuda``: on a machine with an NVIDIA GPU and CuPy, every kernel x tiny preset (+ odd and
  edge sizes) x {ours, cupy} x {float32, float16} matches the numpy reference, and timing
  records CUDA events, warm and cold. Skipped here with the reason (no CuPy / no device).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from accel_toolkit.backends import doctor, get_backend
from accel_toolkit.backends._cuda import CudaBackend
from accel_toolkit.backends._cuda_plans import (
    CUDA_PLANS,
    THREADS,
    cuda_source,
    expressions,
    plan,
    source_path,
)
from accel_toolkit.exceptions import BackendUnavailableError, UnsupportedKernelError
from accel_toolkit.harness import TimingSettings
from accel_toolkit.kernels import KERNELS, get_kernel, kernel_names

REPO = Path(__file__).resolve().parent.parent
CUDA_DIR = REPO / "shaders" / "cuda"
EMU_DIR = Path(__file__).resolve().parent / "cuda_emu"


def configs(kernel: str) -> list[dict]:
    spec = get_kernel(kernel)
    """The tiny preset and the kernel's edge cases (``KernelSpec.edge_cases``)."""
    return spec.preset("tiny") + spec.edge_configs()


def zero_row_input(spec, p, dtype):
    """quantize_int8 with an all-zero row (scale must be 1.0, q all zero)."""
    x = spec.make_inputs(p, dtype, seed=3)
    x["x"][0, :] = 0
    return x


# ---- fast, GPU-free ------------------------------------------------------------------------
@pytest.mark.parametrize("name", kernel_names())
def test_every_kernel_has_a_cuda_plan_and_source(name):
    assert name in CUDA_PLANS, CUDA_PLANS.missing(name)
    assert (CUDA_DIR / f"{name}.cu").is_file(), f"kernel {name!r}: add shaders/cuda/{name}.cu"
    files = {f for f, _ in expressions(name)}
    assert files == {f"{name}.cu"}, name
    assert source_path(f"{name}.cu").is_file()


def test_a_kernel_without_a_cuda_plan_names_the_file_to_add_it_in():
    with pytest.raises(
        UnsupportedKernelError,
        match=r"cuda: kernel 'no_such_kernel' has no CUDA "
        r"plan: add one in accel_toolkit/backends/_cuda_plans\.py",
    ):
        plan("no_such_kernel", {}, "float32")


def test_sources_inline_their_headers_once():
    src = cuda_source("linear_gelu.cu")
    assert not re.search(r'^\s*#\s*include\s+"', src, re.M)
    assert src.count("struct __align__(2) half_t") == 1  # common.cuh via gemm.cuh, once
    assert "__global__" in src and "linear_gelu_tile128" in src


@pytest.mark.parametrize("kernel", list(KERNELS))
def test_plans_name_instances_the_sources_define(kernel):
    spec = get_kernel(kernel)
    known = set(expressions(kernel))
    for p in configs(kernel) + spec.preset("medium") + spec.preset("large"):
        for dtype in ("float32", "float16"):
            pl = plan(kernel, p, dtype)
            for launch in pl.launches:
                assert (launch.file, launch.expr) in known
                template = launch.expr.split("<")[0]
                assert re.search(
                    rf"__global__ void[^;{{]*\b{template}\(", cuda_source(launch.file)
                ), launch.expr
                assert (
                    all(g >= 1 for g in launch.grid)
                    and launch.grid[1] <= 65535
                    and launch.grid[2] <= 65535
                )
                assert np.prod(launch.block) <= 1024
    for p in configs(kernel):  # the planned outputs are the reference's outputs
        pl = plan(kernel, p, "float32")
        ref = spec.reference(spec.make_inputs(p, "float32"), p)
        assert {k: v.shape for k, v in ref.items()} == {k: s for k, (s, _) in pl.outputs.items()}


def test_row_kernels_pick_warp_block_and_looped_variants():
    assert plan("softmax", {"rows": 4, "cols": 16}, "float32").expressions == [
        "softmax_cached<float, 4, 1, 32>"
    ]
    assert plan("softmax", {"rows": 4, "cols": 4096}, "float32").expressions == [
        f"softmax_cached<float, 4, 4, {THREADS}>"
    ]
    assert plan("softmax", {"rows": 4, "cols": 8196}, "float16").expressions == [
        "softmax_looped<half_t, 4>"
    ]
    assert plan("matmul", {"M": 33, "N": 17, "K": 9}, "float32").expressions == [
        "matmul_simple<float>"
    ]
    assert plan("matmul", {"M": 4096, "N": 4096, "K": 4096}, "float32").expressions == [
        "matmul_tile128<float>"
    ]


def test_probe_without_cuda_gives_the_reason():
    a = CudaBackend.probe()
    if a.available:
        pytest.skip("CUDA is available here; the no-CUDA reasons cannot be observed")
    assert a.name == "cuda" and not a.available
    if importlib.util.find_spec("cupy") is None:
        assert "CuPy is not installed" in a.reason
        assert "pip install 'accel-toolkit[cuda]'" in a.reason
    else:
        assert "driver" in a.reason or "device" in a.reason


def test_get_backend_raises_unavailable_with_advice():
    if CudaBackend.probe().available:
        pytest.skip("CUDA is available here")
    with pytest.raises(BackendUnavailableError) as err:
        get_backend("cuda")
    msg = str(err.value)
    assert msg.startswith("cuda: ")
    if importlib.util.find_spec("cupy") is None:
        assert "accel-toolkit[cuda]" in msg


def test_doctor_lists_cuda_with_its_reason():
    (a,) = doctor(["cuda"])
    assert a.name == "cuda"
    assert a.reason
    if not a.available:
        assert a.reason.startswith("cuda: ")
    else:
        assert a.device["name"] and a.device["sm_count"] >= 1


def test_doctor_cli_shows_cuda():
    import contextlib
    import io

    from accel_toolkit.cli import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["doctor", "--backends", "cuda"])
    assert rc == 0
    assert buf.getvalue().startswith("cuda")


def test_unknown_variant_is_a_config_error():
    from accel_toolkit.exceptions import ConfigError

    with pytest.raises((ConfigError, BackendUnavailableError)):
        CudaBackend(variant="cublas")


BLOCKER = """
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(
                f"No module named {{name!r}} (blocked by the test)", name=name
            )
sys.meta_path.insert(0, _Block())
"""


def test_device_check_needs_only_numpy_and_cupy():
    """A bare GPU box (numpy + CuPy, no scipy/pandas/duckdb/altair/tqdm/pytest): the device check
    imports, computes references (erf without scipy) and stops at the CUDA probe (no CuPy here)."""
    blocked = {"scipy", "pandas", "duckdb", "altair", "pyarrow", "tqdm", "pytest", "cupy"}
    code = BLOCKER.format(blocked=blocked) + (
        "import runpy, sys\n"
        "sys.argv = ['device_check.py', '--quick']\n"
        "try:\n"
        "    runpy.run_path('scripts/device_check.py', run_name='__main__')\n"
        "except SystemExit as e:\n"
        "    rc = e.code\n"
        "from accel_toolkit.kernels import get_kernel\n"
        "import math, numpy as np\n"
        "spec = get_kernel('gelu'); p = spec.resolve(n=257)\n"
        "x = spec.make_inputs(p, 'float32')\n"
        "y = spec.reference(x, p)['y']\n"
        "exact = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) "
        "for v in x['x'].astype(float)])\n"
        "assert np.allclose(y, exact, rtol=1e-12, atol=1e-12)\n"
        "assert 'scipy' not in sys.modules and 'pandas' not in sys.modules\n"
        "print('RC', rc)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300, env=env
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "import mode: kernels/harness/backends only" in r.stdout
    assert "CUDA is not available: cuda: CuPy is not installed" in r.stdout
    assert r.stdout.strip().endswith("RC 2")


# ---- slow, GPU-free: nvcc syntax + register check ------------------------------------------
def _nvcc() -> str | None:
    exe = shutil.which("nvcc")
    if not exe:
        return None
    try:
        subprocess.run([exe, "--version"], capture_output=True, check=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return exe


@pytest.mark.slow
@pytest.mark.parametrize("kernel", list(KERNELS))
def test_sources_compile_with_nvcc(kernel, tmp_path):
    nvcc = _nvcc()
    if nvcc is None:
        pytest.skip(
            "nvcc is not installed (`nvcc --version` failed); "
            "the sources are compiled on the GPU machine"
        )
    exprs = [e for _, e in expressions(kernel)]
    w = tmp_path / "instances.cu"
    w.write_text(
        f'#include "{kernel}.cu"\nstatic void* const at_instances[] = {{\n'
        + ",\n".join(f"    (void*)&{e}" for e in exprs)
        + "\n};\n"
    )
    r = subprocess.run(
        [
            nvcc,
            "-std=c++17",
            "-arch=sm_90",
            "-cubin",
            "-Xptxas",
            "-v",
            f"-I{CUDA_DIR}",
            str(w),
            "-o",
            str(tmp_path / "k.cubin"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if "Unsupported gpu architecture" in r.stderr:
        pytest.skip(f"this nvcc cannot target sm_90: {r.stderr.strip()[:200]}")
    assert r.returncode == 0, r.stderr[-4000:]
    log = r.stdout + r.stderr
    assert len(re.findall(r"Compiling entry function", log)) == len(exprs)
    if kernel in ("matmul", "batched_matmul", "linear_gelu"):
        # the register-blocked GEMM must fit 2 blocks/SM (<= 128 registers) without spilling
        for block in re.split(r"Compiling entry function", log)[1:]:
            if "tile128" in block.split("\n")[0]:
                assert re.search(r"\b0 bytes spill stores", block), block
                assert int(re.search(r"Used (\d+) registers", block).group(1)) <= 128


# ---- slow, GPU-free: the kernels' logic on the CPU -----------------------------------------
@functools.lru_cache(maxsize=1)
def _cxx() -> str | None:
    """A C++20 compiler with _Float16 and ucontext (what the CPU shim needs), or None."""
    probe = (
        "#include <ucontext.h>\n"
        "_Float16 h = (_Float16)1.5f;\n"
        "int main() { ucontext_t c; return getcontext(&c); }\n"
    )
    for exe in ("g++", "clang++"):
        path = shutil.which(exe)
        if not path:
            continue
        try:
            r = subprocess.run(
                [path, "-std=c++20", "-x", "c++", "-", "-o", os.devnull],
                input=probe,
                capture_output=True,
                text=True,
                timeout=120,
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if r.returncode == 0:
            return path
    return None


_EMU_LIBS: list[tuple[str, dict[str, int], ctypes.CDLL]] = []


def _emu_library(file: str, exprs: list[str], workdir: Path) -> tuple[ctypes.CDLL, dict[str, int]]:
    """A shared library running ``exprs`` of ``file`` on the CPU (built once, then reused)."""
    for f, index, lib in _EMU_LIBS:
        if f == file and all(e in index for e in exprs):
            return lib, index
    index = {e: i for i, e in enumerate(sorted(set(exprs)))}
    src = '#include "cuda_cpu_shim.h"\n' + f'#include "{file}"\n'
    for e, i in index.items():
        src += (
            f'extern "C" void at_launch_{i}(unsigned gx, unsigned gy, unsigned gz, unsigned bx, '
            f"unsigned by, unsigned bz, void** argv) {{ at_emu::launch(&{e}, dim3{{gx, gy, gz}}, "
            f"dim3{{bx, by, bz}}, argv); }}\n"
        )
    tag = hashlib.sha1(src.encode()).hexdigest()[:12]
    cpp, so = workdir / f"emu_{tag}.cpp", workdir / f"emu_{tag}.so"
    cpp.write_text(src)
    r = subprocess.run(
        [
            _cxx(),
            "-std=c++20",
            "-O1",
            "-shared",
            "-fPIC",
            f"-I{CUDA_DIR}",
            f"-I{EMU_DIR}",
            str(cpp),
            "-o",
            str(so),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-4000:]
    lib = ctypes.CDLL(str(so))
    _EMU_LIBS.append((file, index, lib))
    return lib, index


def emu_run(kernel: str, p: dict, dtype: str, inputs: dict, workdir: Path) -> dict[str, np.ndarray]:
    """Run the CUDA plan of a configuration on the CPU emulator."""
    pl = plan(kernel, p, dtype, sm_count=2)
    arrays = {k: np.ascontiguousarray(v) for k, v in inputs.items()}
    arrays.update({k: np.empty(shape, dtype=dt) for k, (shape, dt) in pl.outputs.items()})
    for launch in pl.launches:
        lib, index = _emu_library(launch.file, [launch.expr], workdir)
        keep = []
        ptrs = []
        for a in launch.args:
            if isinstance(a, str):
                holder = ctypes.c_void_p(arrays[a].ctypes.data)
                keep.append(holder)
                ptrs.append(ctypes.addressof(holder))
            else:
                box = np.array([a])
                keep.append(box)
                ptrs.append(box.ctypes.data)
        argv = (ctypes.c_void_p * len(ptrs))(*ptrs)
        fn = getattr(lib, f"at_launch_{index[launch.expr]}")
        fn.argtypes = [ctypes.c_uint] * 6 + [ctypes.c_void_p]
        fn(*launch.grid, *launch.block, argv)
    return {k: arrays[k] for k in pl.outputs}


@pytest.mark.slow
@pytest.mark.parametrize("kernel", list(KERNELS))
def test_kernels_match_reference_on_cpu_emulator(kernel, tmp_path_factory):
    if _cxx() is None:
        pytest.skip(
            "no C++20 compiler with _Float16 and ucontext (g++ >= 12 or clang++) for the CPU "
            "emulation of the CUDA sources"
        )
    workdir = tmp_path_factory.mktemp("cuda_emu")
    spec = get_kernel(kernel)
    # build one library per source with every instance this test needs
    cases = [(p, dt) for p in configs(kernel) for dt in ("float32", "float16")]
    exprs = [x.expr for p, dt in cases for x in plan(kernel, p, dt, sm_count=2).launches]
    _emu_library(f"{kernel}.cu", exprs, workdir)
    failures = []
    for p, dt in cases:
        inputs = spec.make_inputs(p, dt, seed=1)
        out = emu_run(kernel, p, dt, inputs, workdir)
        chk = spec.check(out, spec.reference(inputs, p), p, dt)
        if not chk.passed:
            failures.append(f"{p} {dt}: {chk.describe()}")
    if kernel == "quantize_int8":
        p = spec.resolve(rows=3, cols=40)
        inputs = zero_row_input(spec, p, "float32")
        out = emu_run(kernel, p, "float32", inputs, workdir)
        assert out["scale"][0] == 1.0 and not out["q"][0].any()
        assert spec.check(out, spec.reference(inputs, p), p, "float32").passed
    assert not failures, "\n".join(failures)


# ---- cuda: on a GPU ------------------------------------------------------------------------
def _gpu_skip_reason() -> str | None:
    a = CudaBackend.probe()
    return None if a.available else a.reason


gpu = pytest.mark.skipif(
    _gpu_skip_reason() is not None, reason=f"no CUDA GPU: {_gpu_skip_reason()}"
)


@pytest.fixture(scope="module", params=["ours", "cupy"])
def cuda_backend(request):
    be = CudaBackend(variant=request.param)
    yield be
    be.close()


@pytest.mark.cuda
@gpu
@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("kernel", list(KERNELS))
def test_gpu_matches_reference(cuda_backend, kernel, dtype):
    spec = get_kernel(kernel)
    failures = []
    # ours: tiny + odd/edge sizes; the library path: the tiny preset (its float16 sums are
    # CuPy's, not ours, and long float16 rows are outside what this file checks)
    for p in configs(kernel) if cuda_backend.variant == "ours" else spec.preset("tiny"):
        reason = cuda_backend.supports(spec, p, dtype)
        assert reason is None, reason
        inputs = spec.make_inputs(p, dtype, seed=1)
        out = cuda_backend.run(spec, p, dtype, inputs)
        chk = spec.check(out, spec.reference(inputs, p), p, dtype)
        if not chk.passed:
            failures.append(f"{cuda_backend.variant} {p} {dtype}: {chk.describe()}")
    assert not failures, "\n".join(failures)


@pytest.mark.cuda
@gpu
def test_gpu_quantize_all_zero_row():
    be = CudaBackend()
    spec = get_kernel("quantize_int8")
    p = spec.resolve(rows=3, cols=40)
    inputs = zero_row_input(spec, p, "float32")
    out = be.run(spec, p, "float32", inputs)
    assert out["scale"][0] == 1.0 and not out["q"][0].any()


@pytest.mark.cuda
@gpu
@pytest.mark.parametrize("cold", [False, True])
def test_gpu_measure_records_cuda_events_and_compile_cost(cold):
    be = CudaBackend(cold=cold)
    spec = get_kernel("matmul")
    p = spec.resolve(M=256, N=256, K=256)
    m = be.measure(spec, p, "float32", spec.make_inputs(p, "float32"), TimingSettings.quick())
    assert m.timing.timer == "cuda-event"
    assert m.timing.samples.size >= 1 and np.all(m.timing.samples > 0)
    assert m.timing.extra["compile_s"] >= 0 and m.timing.extra["cold"] is cold
    assert m.timing.first_run_s > 0
    assert m.device["variant"] == "ours" and m.device["cold"] is cold
    assert m.device["sm_count"] >= 1 and m.device["l2_bytes"] > 0
    if cold:
        assert m.timing.extra["flush_bytes"] == 2 * m.device["l2_bytes"]
    assert spec.check(
        m.outputs, spec.reference(spec.make_inputs(p, "float32"), p), p, "float32"
    ).passed


@pytest.mark.cuda
@gpu
def test_gpu_bench_stores_rows_with_device(tmp_path):
    from accel_toolkit import bench

    df = bench(
        "softmax,matmul",
        "cuda",
        preset="tiny",
        settings=TimingSettings.quick(),
        db=str(tmp_path / "r.duckdb"),
        progress=False,
    )
    assert set(df["status"]) == {"ok"}
    assert df["device"].str.len().min() > 0


def test_gpu_tier_skip_reason_is_stated():
    reason = _gpu_skip_reason()
    if reason is None:
        pytest.skip("a GPU is present; the cuda-marked tests run")
    assert reason.startswith("cuda: ") and len(reason) > 20
